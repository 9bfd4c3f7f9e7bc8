/** Shared test data: kernel messages and usage summaries shaped like the kernel sends them. */
import { IUsageSummary, KernelMessage } from '../src/protocol';

/** A usage summary with one priced model and one tool. */
export function usage(overrides: Partial<IUsageSummary> = {}): IUsageSummary {
  return {
    session: 's1',
    model_calls: 2,
    input_tokens: 1200,
    output_tokens: 300,
    tokens: 1500,
    cost_usd: 0.0048,
    unpriced_models: [],
    tool_calls: 1,
    by_model: [
      { model: 'demo', calls: 2, input_tokens: 1200, cached_tokens: 0, output_tokens: 300, cost_usd: 0.0048 }
    ],
    by_tool: [{ tool: 'write_file', calls: 1, denied: 0, failed: 0 }],
    ...overrides
  };
}

/** An approval request of turn `t1` in cell `c1`. */
export function approval(callId = 'call1', turnId = 't1'): KernelMessage {
  return { v: 1, type: 'approval_requested', turn_id: turnId, call_id: callId, tool: 'write_file', cell_id: 'c1' };
}
