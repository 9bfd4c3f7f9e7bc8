/** Shared test data: kernel messages and usage summaries shaped like the kernel sends them. */
import { IApprovalDecided, IModelCall, IPanelData, IUsageSummary, KernelMessage } from '../src/protocol';

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

/** A model call of turn `turnId` at `at` seconds: 1000 input + 200 output tokens for `cost` dollars. */
export function modelCall(turnId = 't1', at = 100, cost: number | null = 0.002, model = 'demo'): IModelCall {
  return {
    v: 1,
    type: 'model_call',
    turn_id: turnId,
    at,
    model,
    input_tokens: 1000,
    cached_tokens: 0,
    output_tokens: 200,
    reasoning_tokens: 50,
    cost_usd: cost
  };
}

/** A decision on `write_file`, with the audit fields the panel reads. */
export function decided(callId = 'call1', decidedBy = 'user click', decision = 'approved'): IApprovalDecided {
  return {
    v: 1,
    type: 'approval_decided',
    turn_id: 't1',
    call_id: callId,
    decision,
    cell_id: 'c1',
    tool: 'write_file',
    arguments: "write_file(path='a.txt')",
    decided_by: decidedBy,
    reason: '',
    at: 200
  };
}

/** The kernel's answer to panel request `requestId`: one earlier model call, one tool, one decision. */
export function panel(requestId: string, live: KernelMessage[] = []): IPanelData {
  return {
    v: 1,
    type: 'panel',
    request_id: requestId,
    scope: 'notebook',
    points: [{ at: 50, tokens: 1200, cost_usd: 0.002 }],
    by_model: [
      { model: 'demo', calls: 1, input_tokens: 1000, cached_tokens: 0, output_tokens: 200, reasoning_tokens: 50, cost_usd: 0.002 }
    ],
    by_tool: [{ tool: 'read_file', calls: 1, denied: 0, failed: 0 }],
    approvals: [
      { turn_id: 't0', call_id: 'old', at: 40, tool: 'write_file', arguments: "write_file(path='b')", decision: 'denied', decided_by: 'rule' }
    ],
    live,
    error: null
  };
}
