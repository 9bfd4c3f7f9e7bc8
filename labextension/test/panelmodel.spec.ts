import { describe, expect, it } from 'vitest';

import { PanelModel } from '../src/panelmodel';
import { decided, modelCall, panel } from './fixtures';

function loaded(): PanelModel {
  const model = new PanelModel();
  model.apply(panel(model.request('notebook')));
  return model;
}

describe('PanelModel', () => {
  it('takes the snapshot that answers its request', () => {
    const model = loaded();
    expect(model.loaded).toBe(true);
    expect(model.totals).toEqual({ calls: 1, tokens: 1200, cost_usd: 0.002, unpriced: [] });
    expect(model.audit.map(a => a.call_id)).toEqual(['old']);
  });

  it('ignores the answer to an older request', () => {
    const model = new PanelModel();
    const first = model.request('notebook');
    model.request('notebook');
    expect(model.apply(panel(first))).toBe(false);
    expect(model.loaded).toBe(false);
  });

  it('adds live model calls, tool calls and decisions', () => {
    const model = loaded();
    model.apply(modelCall('t1', 100, null, 'llama'));
    model.apply({ v: 1, type: 'tool_call', turn_id: 't1', call_id: 'a', tool: 'read_file', at: 101, ok: false, refused: false });
    model.apply({ v: 1, type: 'tool_call', turn_id: 't1', call_id: 'b', tool: 'write_file', at: 102, ok: null, refused: true });
    model.apply(decided('b', 'keyboard shortcut', 'denied'));
    expect(model.totals).toEqual({ calls: 2, tokens: 2400, cost_usd: 0.002, unpriced: ['llama'] });
    expect(model.byTool).toEqual([
      { tool: 'read_file', calls: 2, denied: 0, failed: 1 },
      { tool: 'write_file', calls: 1, denied: 1, failed: 0 }
    ]);
    expect(model.audit.map(a => [a.call_id, a.decided_by])).toEqual([
      ['b', 'keyboard shortcut'],
      ['old', 'rule']
    ]);
    expect(model.points).toHaveLength(2);
  });

  it('counts a running turn once: from the live list of the answer, not from messages sent meanwhile', () => {
    const model = new PanelModel();
    const id = model.request('notebook');
    model.apply(modelCall('t9', 300)); // sent while the request was out: the answer replays it
    model.apply(panel(id, [modelCall('t9', 300)]));
    expect(model.totals.calls).toBe(2);
  });

  it('starts empty when the scope changes', () => {
    const model = loaded();
    model.request('all');
    expect(model.loaded).toBe(false);
    expect(model.totals.calls).toBe(0);
    expect(model.scope).toBe('all');
  });

  it('ignores decisions of kernels that send no audit fields', () => {
    const model = loaded();
    expect(model.apply({ v: 1, type: 'approval_decided', turn_id: 't', call_id: 'x', decision: 'approved', cell_id: null })).toBe(false);
  });
});
