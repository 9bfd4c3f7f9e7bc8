import { ISignal, Signal } from '@lumino/signaling';

import {
  IAuditRow,
  IPanelModel,
  IPoint,
  IToolUsage,
  KernelMessage,
  PanelScope
} from './protocol';

/** The audit keeps the latest decisions, at most this many (the kernel sends at most as many). */
export const MAX_AUDIT_ROWS = 500;

/** The panel's totals: calls, tokens, dollars of the priced calls (null: none priced), unpriced models. */
export interface IPanelTotals {
  calls: number;
  tokens: number;
  cost_usd: number | null;
  unpriced: string[];
}

/**
 * What the usage & audit panel shows for one scope: a snapshot of the ledger from the kernel, kept
 * current by the kernel's live messages. While a request is out, live messages are ignored: the
 * snapshot's `live` list replays those of the turns it leaves out, so nothing is counted twice.
 */
export class PanelModel {
  private _scope: PanelScope = 'notebook';
  private _pending: string | null = null;
  private _loaded = false;
  private _error: string | null = null;
  private _points: IPoint[] = [];
  private _models = new Map<string, IPanelModel>();
  private _tools = new Map<string, IToolUsage>();
  private _audit: IAuditRow[] = [];
  private _requests = 0;
  private _changed = new Signal<this, void>(this);

  /** Fires after the data changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get scope(): PanelScope {
    return this._scope;
  }

  /** True once a snapshot arrived for the current request. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** True while a request is out. */
  get loading(): boolean {
    return this._pending !== null;
  }

  /** Why the kernel could not read the ledger, or null. */
  get error(): string | null {
    return this._error;
  }

  /** Points in time order. */
  get points(): IPoint[] {
    return this._points;
  }

  /** Per-model totals, by model name. */
  get byModel(): IPanelModel[] {
    return [...this._models.values()].sort((a, b) => a.model.localeCompare(b.model));
  }

  /** Per-tool counts, by tool name. */
  get byTool(): IToolUsage[] {
    return [...this._tools.values()].sort((a, b) => a.tool.localeCompare(b.tool));
  }

  /** The decisions, newest first. */
  get audit(): IAuditRow[] {
    return [...this._audit].reverse();
  }

  /** Calls, tokens and dollars over every model. */
  get totals(): IPanelTotals {
    const models = [...this._models.values()];
    const priced = models.filter(m => m.cost_usd !== null);
    return {
      calls: models.reduce((sum, m) => sum + m.calls, 0),
      tokens: models.reduce((sum, m) => sum + m.input_tokens + m.output_tokens, 0),
      cost_usd: priced.length ? priced.reduce((sum, m) => sum + (m.cost_usd ?? 0), 0) : null,
      unpriced: models.filter(m => m.cost_usd === null).map(m => m.model)
    };
  }

  /** Start a request for `scope`; returns its id (send it to the kernel). The data shown so far stays
   * until the answer arrives, unless the scope changed. */
  request(scope: PanelScope): string {
    if (scope !== this._scope) {
      this._scope = scope;
      this._clear();
    }
    this._requests += 1;
    this._pending = `panel-${Date.now()}-${this._requests}`;
    this._changed.emit();
    return this._pending;
  }

  /** Forget everything (the panel follows another kernel, or none). */
  reset(): void {
    this._pending = null;
    this._clear();
    this._changed.emit();
  }

  /** Take one kernel message; true when the data changed. */
  apply(message: KernelMessage): boolean {
    if (message.type === 'panel') {
      if (message.request_id !== this._pending) {
        return false; // the answer to an older request
      }
      this._pending = null;
      this._clear();
      this._loaded = true;
      this._error = message.error;
      this._points = [...message.points];
      message.by_model.forEach(m => this._models.set(m.model, { ...m }));
      message.by_tool.forEach(t => this._tools.set(t.tool, { ...t }));
      this._audit = [...message.approvals];
      message.live.forEach(m => this._applyLive(m));
      this._changed.emit();
      return true;
    }
    if (this._pending !== null || !this._loaded || !this._applyLive(message)) {
      return false;
    }
    this._changed.emit();
    return true;
  }

  private _applyLive(message: KernelMessage): boolean {
    switch (message.type) {
      case 'model_call': {
        this._points.push({
          at: message.at,
          tokens: message.input_tokens + message.output_tokens,
          cost_usd: message.cost_usd
        });
        const row = this._models.get(message.model) ?? {
          model: message.model,
          calls: 0,
          input_tokens: 0,
          cached_tokens: 0,
          output_tokens: 0,
          reasoning_tokens: 0,
          cost_usd: null
        };
        row.calls += 1;
        row.input_tokens += message.input_tokens;
        row.cached_tokens += message.cached_tokens;
        row.output_tokens += message.output_tokens;
        row.reasoning_tokens += message.reasoning_tokens;
        if (message.cost_usd !== null) {
          row.cost_usd = (row.cost_usd ?? 0) + message.cost_usd;
        }
        this._models.set(message.model, row);
        return true;
      }
      case 'tool_call': {
        const row = this._tools.get(message.tool) ?? { tool: message.tool, calls: 0, denied: 0, failed: 0 };
        row.calls += 1;
        if (message.refused) {
          row.denied += 1;
        } else if (message.ok === false) {
          row.failed += 1;
        }
        this._tools.set(message.tool, row);
        return true;
      }
      case 'approval_decided':
        if (message.tool === undefined) {
          return false; // an older kernel: no audit fields
        }
        this._audit.push({
          turn_id: message.turn_id,
          call_id: message.call_id,
          at: message.at ?? Date.now() / 1000,
          tool: message.tool,
          arguments: message.arguments ?? '',
          decision: message.decision,
          decided_by: message.decided_by ?? ''
        });
        this._audit.splice(0, Math.max(0, this._audit.length - MAX_AUDIT_ROWS));
        return true;
      default:
        return false;
    }
  }

  private _clear(): void {
    this._loaded = false;
    this._error = null;
    this._points = [];
    this._models.clear();
    this._tools.clear();
    this._audit = [];
  }
}
