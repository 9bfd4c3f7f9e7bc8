import { describe, expect, it } from 'vitest';

import { AgentKernelState } from '../src/state';
import { AgentStatusItem } from '../src/statusbar';
import { usage } from './fixtures';

function connectedState(): AgentKernelState {
  const state = new AgentKernelState();
  state.connected = true;
  state.apply({ v: 1, type: 'usage', usage: usage() });
  return state;
}

describe('AgentStatusItem', () => {
  it('is hidden until agent_magic is connected', () => {
    const item = new AgentStatusItem(() => undefined);
    expect(item.active).toBe(false);
    expect(item.hasClass('jp-AgentMagic-hidden')).toBe(true);
  });

  it('shows the session tokens and dollars', () => {
    const item = new AgentStatusItem(() => undefined);
    item.state = connectedState();
    expect(item.node.textContent).toBe('1.5k tok · $0.0048');
    expect(item.active).toBe(true);
  });

  it('spins while a turn runs', () => {
    const item = new AgentStatusItem(() => undefined);
    const state = connectedState();
    item.state = state;
    state.apply({ v: 1, type: 'turn_started', session_id: 's', turn_id: 't', cell_id: null, execution_count: 1, model: 'demo' });
    expect(item.hasClass('jp-AgentMagic-running')).toBe(true);
    state.apply({ v: 1, type: 'turn_ended', turn_id: 't', cell_id: null, state: 'completed' });
    expect(item.hasClass('jp-AgentMagic-running')).toBe(false);
  });

  it('tells the status bar when it appears', () => {
    const item = new AgentStatusItem(() => undefined);
    let changes = 0;
    item.activeChanged.connect(() => changes++);
    item.state = connectedState();
    expect(changes).toBe(1);
  });

  it('calls back on click (the plugin opens the usage panel)', () => {
    const clicked: AgentStatusItem[] = [];
    const item = new AgentStatusItem(i => clicked.push(i));
    item.state = connectedState();
    item.node.click();
    expect(clicked).toEqual([item]);
  });
});
