import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { statusText } from './format';
import { AgentKernelState } from './state';

/**
 * The status bar item: the active notebook kernel's session tokens and dollars, a spinner while an
 * agent turn runs. Clicking it calls `onClick` (the plugin opens the usage & audit panel).
 */
export class AgentStatusItem extends Widget {
  private _state: AgentKernelState | null = null;
  private _label = document.createElement('span');
  private _spinner = document.createElement('span');
  private _wasActive = false;
  private _activeChanged = new Signal<this, void>(this);

  constructor(private readonly _onClick: (item: AgentStatusItem) => void) {
    super();
    this.addClass('jp-AgentMagic-status');
    this.node.title = 'Agent usage in this session (click for the usage & audit panel)';
    this._spinner.className = 'jp-AgentMagic-spinner';
    this._label.className = 'jp-AgentMagic-label';
    this.node.append(this._spinner, this._label);
    this.node.addEventListener('click', () => this._onClick(this));
    this.render();
  }

  /** The kernel state shown (null: no notebook, or agent_magic not loaded in its kernel). */
  get state(): AgentKernelState | null {
    return this._state;
  }

  set state(state: AgentKernelState | null) {
    if (state === this._state) {
      return;
    }
    this._state?.changed.disconnect(this.render, this);
    this._state = state;
    state?.changed.connect(this.render, this);
    this.render();
  }

  /** Fires when `active` changes (the status bar shows or hides the item). */
  get activeChanged(): ISignal<this, void> {
    return this._activeChanged;
  }

  /** True when there is something to show. */
  get active(): boolean {
    return this._state?.connected ?? false;
  }

  /** Redraw from the state. */
  render(): void {
    const state = this._state;
    this.node.classList.toggle('jp-AgentMagic-running', !!state?.running);
    this.node.classList.toggle('jp-AgentMagic-hidden', !this.active);
    this._label.textContent = state ? statusText(state.usage) : '';
    if (this.active !== this._wasActive) {
      this._wasActive = this.active;
      this._activeChanged.emit();
    }
  }

  dispose(): void {
    this._state?.changed.disconnect(this.render, this);
    super.dispose();
  }
}
