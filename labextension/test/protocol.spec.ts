import { describe, expect, it } from 'vitest';

import { emptyUsage, parseKernelMessage, SCHEMA_VERSION, stopMessage } from '../src/protocol';
import { approval, usage } from './fixtures';

describe('parseKernelMessage', () => {
  it('accepts every version-1 message type', () => {
    const messages = [
      { v: 1, type: 'state', running: null, approvals: [], usage: usage() },
      { v: 1, type: 'usage', usage: usage() },
      { v: 1, type: 'turn_started', session_id: 's', turn_id: 't', cell_id: 'c', execution_count: 3, model: 'demo' },
      approval(),
      { v: 1, type: 'approval_decided', turn_id: 't', call_id: 'call1', decision: 'approved', cell_id: 'c' },
      { v: 1, type: 'turn_ended', turn_id: 't', cell_id: 'c', state: 'completed' },
      {
        v: 1,
        type: 'insert_cells',
        turn_id: 't',
        cell_id: 'c',
        cells: [{ source: '%%agent_code --turn t --cell c\nx = 1', metadata: { tags: ['agent-magic'] } }]
      }
    ];
    for (const message of messages) {
      expect(parseKernelMessage(message)).toEqual(message);
    }
  });

  it('ignores another schema version', () => {
    expect(parseKernelMessage({ v: 2, type: 'usage', usage: usage() })).toBeNull();
  });

  it('ignores unknown types and malformed data', () => {
    expect(parseKernelMessage({ v: 1, type: 'telemetry' })).toBeNull();
    expect(parseKernelMessage({ v: 1 })).toBeNull();
    expect(parseKernelMessage('usage')).toBeNull();
    expect(parseKernelMessage(null)).toBeNull();
  });

  it('ignores an insert_cells message whose cells are not {source, metadata}', () => {
    expect(parseKernelMessage({ v: 1, type: 'insert_cells', turn_id: 't', cell_id: 'c', cells: ['x = 1'] })).toBeNull();
    expect(parseKernelMessage({ v: 1, type: 'insert_cells', turn_id: 't', cell_id: 'c' })).toBeNull();
  });

  it('ignores a usage message without a summary', () => {
    expect(parseKernelMessage({ v: 1, type: 'usage', usage: { tokens: 3 } })).toBeNull();
  });
});

describe('frontend messages', () => {
  it('stop carries the schema version', () => {
    expect(stopMessage()).toEqual({ v: SCHEMA_VERSION, type: 'stop' });
  });

  it('the empty summary has nothing spent', () => {
    expect(emptyUsage()).toMatchObject({ model_calls: 0, tokens: 0, cost_usd: 0, by_model: [] });
  });
});
