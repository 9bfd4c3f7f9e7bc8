import { AgentConnection } from './connection';
import { IApprovalRequested } from './protocol';

/** The CSS class agent_magic puts on the buttons that let a call run (Approve, Always allow). */
export const APPROVING_CLASS = 'agent-magic-approve';

/** The request the keyboard commands act on: the oldest one waiting in the connection's kernel. */
export function pendingRequest(connection: AgentConnection | null): IApprovalRequested | null {
  return connection?.state.approvals[0] ?? null;
}

/** Approve or deny the oldest pending request of `connection`; false when nothing waits. */
export function decidePending(connection: AgentConnection | null, decision: 'approve' | 'deny'): boolean {
  const request = pendingRequest(connection);
  return request !== null && connection !== null && connection.decide(request.call_id, decision);
}

/**
 * Let no Enter press an approving button: a focused Approve (or Always allow) button would take a stray
 * Enter as a click. Space still presses it, and the approve command's shortcut approves on purpose.
 * Returns a function that removes the guard.
 */
export function guardApprovingButtons(root: Document): () => void {
  const guard = (event: KeyboardEvent): void => {
    const target = event.target;
    if (event.key === 'Enter' && target instanceof Element && target.closest(`.${APPROVING_CLASS}`)) {
      event.preventDefault();
      event.stopPropagation();
    }
  };
  root.addEventListener('keydown', guard, true);
  return () => root.removeEventListener('keydown', guard, true);
}
