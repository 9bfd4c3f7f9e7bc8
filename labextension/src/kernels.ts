import type { NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { AgentConnection } from './connection';

/**
 * One `AgentConnection` per kernel, shared by every notebook panel on that kernel; connections of
 * kernels no panel uses any more are closed.
 */
export class KernelConnections {
  private _byKernel = new Map<string, AgentConnection>();
  private _panels = new Map<NotebookPanel, string>();
  private _added = new Signal<this, AgentConnection>(this);

  /** Fires when a connection to a new kernel was created. */
  get added(): ISignal<this, AgentConnection> {
    return this._added;
  }

  /** Every live connection. */
  get all(): AgentConnection[] {
    return [...this._byKernel.values()];
  }

  /** Follow a panel's kernel (call once per panel). */
  track(panel: NotebookPanel): void {
    const update = (): void => this._setKernel(panel, panel.sessionContext.session?.kernel ?? null);
    panel.sessionContext.kernelChanged.connect(update);
    panel.disposed.connect(() => this._setKernel(panel, null));
    update();
  }

  /** The connection of the panel's kernel, if any. */
  forPanel(panel: NotebookPanel | null): AgentConnection | null {
    const kernelId = panel ? this._panels.get(panel) : undefined;
    return kernelId ? this._byKernel.get(kernelId) ?? null : null;
  }

  /** The panels running on the connection's kernel. */
  panelsOf(connection: AgentConnection): NotebookPanel[] {
    return [...this._panels].filter(([, id]) => id === connection.kernel.id).map(([panel]) => panel);
  }

  private _setKernel(panel: NotebookPanel, kernel: Kernel.IKernelConnection | null): void {
    const old = this._panels.get(panel);
    if (kernel) {
      this._panels.set(panel, kernel.id);
      if (!this._byKernel.has(kernel.id)) {
        const connection = new AgentConnection(kernel);
        this._byKernel.set(kernel.id, connection);
        kernel.disposed.connect(() => this._drop(kernel.id));
        this._added.emit(connection);
      }
    } else {
      this._panels.delete(panel);
    }
    if (old && old !== kernel?.id && ![...this._panels.values()].includes(old)) {
      this._drop(old);
    }
  }

  private _drop(kernelId: string): void {
    this._byKernel.get(kernelId)?.dispose();
    this._byKernel.delete(kernelId);
  }
}
