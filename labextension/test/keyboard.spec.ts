import { describe, expect, it } from 'vitest';

import { AgentConnection } from '../src/connection';
import { decidePending, guardApprovingButtons } from '../src/keyboard';
import { AgentKernelState } from '../src/state';
import { approval } from './fixtures';

/** A connection stand-in: its state and the decisions it was asked to send. */
function connection(...pending: string[]): { connection: AgentConnection; sent: [string, string][] } {
  const state = new AgentKernelState();
  pending.forEach(id => state.apply(approval(id)));
  const sent: [string, string][] = [];
  const fake = { state, decide: (callId: string, decision: string) => sent.push([callId, decision]) > 0 };
  return { connection: fake as unknown as AgentConnection, sent };
}

describe('decidePending', () => {
  it('answers the oldest request waiting', () => {
    const { connection: c, sent } = connection('first', 'second');
    expect(decidePending(c, 'approve')).toBe(true);
    expect(sent).toEqual([['first', 'approve']]);
  });

  it('does nothing when nothing waits', () => {
    const { connection: c, sent } = connection();
    expect(decidePending(c, 'deny')).toBe(false);
    expect(decidePending(null, 'deny')).toBe(false);
    expect(sent).toEqual([]);
  });
});

describe('guardApprovingButtons', () => {
  function press(target: HTMLElement, key: string): boolean {
    const event = new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true });
    target.dispatchEvent(event);
    return event.defaultPrevented;
  }

  it('swallows Enter on an approving button but not Space, and not elsewhere', () => {
    document.body.innerHTML =
      '<div class="agent-magic-approve"><button id="approve">Approve</button></div><button id="deny">Deny</button>';
    const remove = guardApprovingButtons(document);
    const approve = document.getElementById('approve') as HTMLElement;
    const deny = document.getElementById('deny') as HTMLElement;
    let reached = 0;
    approve.addEventListener('keydown', () => reached++);
    expect(press(approve, 'Enter')).toBe(true);
    expect(reached).toBe(0);
    expect(press(approve, ' ')).toBe(false);
    expect(press(deny, 'Enter')).toBe(false);
    remove();
    expect(press(approve, 'Enter')).toBe(false);
  });
});
