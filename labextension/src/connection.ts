import type { Kernel, KernelMessage as Msg } from '@jupyterlab/services';

import {
  COMM_TARGET,
  decideMessage,
  FrontendMessage,
  PanelScope,
  panelRequestMessage,
  parseKernelMessage,
  stopMessage
} from './protocol';
import { AgentKernelState } from './state';

/**
 * True when running `code` may have made agent_magic available in the kernel (`%load_ext agent_magic`,
 * `import agent_magic`, or an agent magic itself), so a comm to its target is worth opening.
 */
export function mentionsAgentMagic(code: string): boolean {
  return /agent_magic/.test(code) || /^\s*%%?agent(\s|$)/m.test(code);
}

/**
 * The comm link to agent_magic in one kernel, feeding an `AgentKernelState`.
 *
 * The comm is opened lazily, only when agent_magic is known to be loaded: after a cell that mentions it
 * finished, or at once when the kernel already has `agent_magic` comms open (a reloaded page). A kernel
 * without agent_magic therefore never sees a comm_open for a target it does not have.
 */
export class AgentConnection {
  /** The state reported by this kernel. */
  readonly state = new AgentKernelState();
  private _comm: Kernel.IComm | null = null;
  private _pending = new Set<string>();
  private _disposed = false;

  constructor(readonly kernel: Kernel.IKernelConnection) {
    kernel.iopubMessage.connect(this._onIOPub, this);
    kernel.statusChanged.connect(this._onStatus, this);
    void this._connectIfLoaded();
  }

  /** True while the comm is open. */
  get connected(): boolean {
    return this._comm !== null;
  }

  /** Send a message to the kernel; false when there is no comm to send it over. */
  send(message: FrontendMessage): boolean {
    if (!this._comm) {
      return false;
    }
    this._comm.send(message as any);
    return true;
  }

  /** Ask the kernel to stop the running turn. */
  stop(): boolean {
    return this.send(stopMessage());
  }

  /** Ask the kernel for the usage & audit panel's data (answered by a `panel` message). */
  requestPanel(requestId: string, scope: PanelScope): boolean {
    return this.send(panelRequestMessage(requestId, scope));
  }

  /** Approve or deny the pending call `callId` (the keyboard commands). */
  decide(callId: string, decision: 'approve' | 'deny'): boolean {
    return this.send(decideMessage(callId, decision));
  }

  /** Open the comm, unless it is open already. */
  connect(): void {
    if (this._comm || this._disposed || this.kernel.isDisposed) {
      return;
    }
    let comm: Kernel.IComm;
    try {
      comm = this.kernel.createComm(COMM_TARGET);
    } catch (reason) {
      console.warn('agent-magic: cannot open the comm', reason);
      return;
    }
    this._comm = comm;
    comm.onMsg = (msg: Msg.ICommMsgMsg) => {
      const message = parseKernelMessage(msg.content.data);
      if (message) {
        this.state.apply(message);
      }
    };
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
        this.state.connected = false;
      }
    };
    comm.open({});
    this.state.connected = true;
  }

  /** Stop listening and close the comm. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.kernel.iopubMessage.disconnect(this._onIOPub, this);
    this.kernel.statusChanged.disconnect(this._onStatus, this);
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed && !this.kernel.isDisposed) {
      comm.close();
    }
  }

  private async _connectIfLoaded(): Promise<void> {
    try {
      const reply = await this.kernel.requestCommInfo({ target_name: COMM_TARGET });
      const content = reply.content as { status: string; comms?: Record<string, unknown> };
      if (content.status === 'ok' && Object.keys(content.comms ?? {}).length > 0) {
        this.connect();
      }
    } catch {
      // The kernel is not ready or went away: the next agent cell connects.
    }
  }

  private _onIOPub(_: Kernel.IKernelConnection, msg: Msg.IIOPubMessage): void {
    const type = msg.header.msg_type;
    const parentId = (msg.parent_header as { msg_id?: string }).msg_id ?? '';
    if (type === 'execute_input') {
      const code = (msg.content as { code?: string }).code ?? '';
      if (!this._comm && mentionsAgentMagic(code)) {
        this._pending.add(parentId);
        if (/^\s*%%agent(\s|$)/.test(code)) {
          // The magic exists already: connect now to see this very turn.
          this.connect();
        }
      }
    } else if (type === 'status' && this._pending.has(parentId)) {
      if ((msg.content as { execution_state?: string }).execution_state === 'idle') {
        this._pending.delete(parentId);
        this.connect();
      }
    }
  }

  private _onStatus(_: Kernel.IKernelConnection, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      this._comm = null;
      this._pending.clear();
      this.state.connected = false;
    }
  }
}
