import { describe, expect, it } from 'vitest';

import { AgentKernelState } from '../src/state';
import { approval, usage } from './fixtures';

describe('AgentKernelState', () => {
  it('follows a turn from start to end', () => {
    const state = new AgentKernelState();
    state.apply({ v: 1, type: 'turn_started', session_id: 's', turn_id: 't1', cell_id: 'c1', execution_count: 1, model: 'demo' });
    expect(state.running).toEqual({ turn_id: 't1', cell_id: 'c1' });
    state.apply({ v: 1, type: 'usage', usage: usage() });
    expect(state.usage.tokens).toBe(1500);
    state.apply({ v: 1, type: 'turn_ended', turn_id: 't1', cell_id: 'c1', state: 'completed' });
    expect(state.running).toBeNull();
  });

  it('keeps approvals until they are decided', () => {
    const state = new AgentKernelState();
    state.apply(approval('a'));
    state.apply(approval('b'));
    state.apply({ v: 1, type: 'approval_decided', turn_id: 't1', call_id: 'a', decision: 'approved', cell_id: 'c1' });
    expect(state.approvals.map(a => a.call_id)).toEqual(['b']);
  });

  it('drops the approvals of a turn that ended', () => {
    const state = new AgentKernelState();
    state.apply(approval('a', 't1'));
    state.apply(approval('b', 't2'));
    state.apply({ v: 1, type: 'turn_ended', turn_id: 't1', cell_id: 'c1', state: 'cancelled' });
    expect(state.approvals.map(a => a.call_id)).toEqual(['b']);
  });

  it('takes everything from a state snapshot', () => {
    const state = new AgentKernelState();
    state.apply(approval('old'));
    const pending = approval('new');
    state.apply({ v: 1, type: 'state', running: { turn_id: 't9', cell_id: null }, approvals: [pending as any], usage: usage() });
    expect(state.running?.turn_id).toBe('t9');
    expect(state.approvals.map(a => a.call_id)).toEqual(['new']);
    expect(state.usage.cost_usd).toBe(0.0048);
  });

  it('forgets the running turn and approvals when the comm closes', () => {
    const state = new AgentKernelState();
    state.connected = true;
    state.apply(approval());
    state.apply({ v: 1, type: 'turn_started', session_id: 's', turn_id: 't1', cell_id: 'c1', execution_count: 1, model: 'demo' });
    state.connected = false;
    expect(state.running).toBeNull();
    expect(state.approvals).toEqual([]);
  });

  it('signals every change', () => {
    const state = new AgentKernelState();
    const seen: unknown[] = [];
    state.changed.connect((_, message) => seen.push(message?.type ?? null));
    state.connected = true;
    state.apply({ v: 1, type: 'usage', usage: usage() });
    expect(seen).toEqual([null, 'usage']);
  });
});
