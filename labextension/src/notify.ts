import { IApprovalRequested } from './protocol';

/** How the notifier talks to JupyterLab (injected, so the logic is testable without it). */
export interface INotifierHost {
  /** Show a sticky notification with one "Scroll to cell" action; returns its id. */
  show(message: string, onScroll: () => void): string;
  /** Remove a notification. */
  dismiss(id: string): void;
  /** True when the approval's cell is on screen (its notebook is the active tab and the cell in view). */
  isVisible(approval: IApprovalRequested): boolean;
  /** Activate the notebook and scroll its cell into view. */
  scrollTo(approval: IApprovalRequested): void;
  /** "<notebook> [cell n]" for the message. */
  describe(approval: IApprovalRequested): string;
}

/**
 * Shows "Agent is waiting for approval in <notebook> [cell n]" for each pending approval whose cell is
 * not on screen, and removes it once the approval is decided (or the turn ended).
 */
export class ApprovalNotifier {
  private _shown = new Map<string, string>();

  constructor(private readonly _host: INotifierHost) {}

  /** The call ids currently notified. */
  get notified(): string[] {
    return [...this._shown.keys()];
  }

  /**
   * Reconcile with the pending approvals (call on every state change, tab switch and scroll): notify
   * new ones that are out of view, dismiss those no longer pending.
   */
  update(pending: IApprovalRequested[]): void {
    const pendingIds = new Set(pending.map(a => a.call_id));
    for (const [callId, id] of this._shown) {
      if (!pendingIds.has(callId)) {
        this._host.dismiss(id);
        this._shown.delete(callId);
      }
    }
    for (const approval of pending) {
      if (this._shown.has(approval.call_id) || this._host.isVisible(approval)) {
        continue;
      }
      const message = `Agent is waiting for approval in ${this._host.describe(approval)}`;
      const id = this._host.show(message, () => this._host.scrollTo(approval));
      this._shown.set(approval.call_id, id);
    }
  }
}

/** The rectangle of a DOM box, as `getBoundingClientRect` gives it. */
export interface IRect {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** True when `inner` and `outer` overlap by at least one pixel (a cell partly in view counts as seen). */
export function overlaps(inner: IRect, outer: IRect): boolean {
  if (inner.bottom - inner.top <= 0 || inner.right - inner.left <= 0) {
    return false; // not laid out (a hidden tab, a windowed-out cell)
  }
  return inner.top < outer.bottom && inner.bottom > outer.top && inner.left < outer.right && inner.right > outer.left;
}
