import { ISignal, Signal } from '@lumino/signaling';

import {
  emptyUsage,
  IApprovalRequested,
  IRunningTurn,
  IUsageSummary,
  KernelMessage
} from './protocol';

/**
 * What the frontend knows about agent_magic in one kernel: usage, the running turn, pending
 * approvals. Fed by `apply()` with each kernel message; `changed` fires after every update.
 */
export class AgentKernelState {
  private _usage: IUsageSummary = emptyUsage();
  private _running: IRunningTurn | null = null;
  private _approvals = new Map<string, IApprovalRequested>();
  private _connected = false;
  private _changed = new Signal<this, KernelMessage | null>(this);

  /** Fires after each applied message (null: the connection opened or closed). */
  get changed(): ISignal<this, KernelMessage | null> {
    return this._changed;
  }

  /** The session's usage summary. */
  get usage(): IUsageSummary {
    return this._usage;
  }

  /** The turn under way, or null when the kernel's agent is idle. */
  get running(): IRunningTurn | null {
    return this._running;
  }

  /** Tool calls waiting for a decision, oldest first. */
  get approvals(): IApprovalRequested[] {
    return [...this._approvals.values()];
  }

  /** True while the comm to the kernel is open. */
  get connected(): boolean {
    return this._connected;
  }

  set connected(value: boolean) {
    if (value === this._connected) {
      return;
    }
    this._connected = value;
    if (!value) {
      // Nothing reported over a closed comm is still true (the kernel may have restarted).
      this._running = null;
      this._approvals.clear();
    }
    this._changed.emit(null);
  }

  /** Update from one kernel message. */
  apply(message: KernelMessage): void {
    switch (message.type) {
      case 'state':
        this._usage = message.usage;
        this._running = message.running;
        this._approvals = new Map(message.approvals.map(a => [a.call_id, a]));
        break;
      case 'usage':
        this._usage = message.usage;
        break;
      case 'turn_started':
        this._running = { turn_id: message.turn_id, cell_id: message.cell_id };
        break;
      case 'approval_requested':
        this._approvals.set(message.call_id, message);
        break;
      case 'approval_decided':
        this._approvals.delete(message.call_id);
        break;
      case 'turn_ended':
        this._running = null;
        for (const [callId, approval] of this._approvals) {
          if (approval.turn_id === message.turn_id) {
            this._approvals.delete(callId);
          }
        }
        break;
    }
    this._changed.emit(message);
  }
}
