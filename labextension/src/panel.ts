import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { renderChart } from './chart';
import { AgentConnection } from './connection';
import { formatCost, formatTokens, table } from './format';
import { PanelModel } from './panelmodel';
import { IAuditRow, KernelMessage, PanelScope } from './protocol';

/** The panel's widget id (for `app.shell.activateById`). */
export const PANEL_ID = 'agent-magic-panel';

const SCOPES: [PanelScope, string][] = [
  ['notebook', 'This notebook'],
  ['all', 'All notebooks']
];

function section(title: string, ...content: HTMLElement[]): HTMLElement {
  const node = document.createElement('section');
  const heading = document.createElement('h3');
  heading.textContent = title;
  node.append(heading, ...content);
  return node;
}

function paragraph(text: string, className = ''): HTMLElement {
  const node = document.createElement('p');
  node.className = className;
  node.textContent = text;
  return node;
}

function time(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString([], {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit'
  });
}

/** The decisions, newest first: when, which tool, the decision and who made it, then the arguments. */
export function auditList(rows: IAuditRow[]): HTMLElement {
  const list = document.createElement('ol');
  list.className = 'jp-AgentMagic-audit';
  for (const row of rows) {
    const item = document.createElement('li');
    item.dataset.decision = row.decision;
    const head = document.createElement('div');
    const parts: [string, string][] = [
      ['jp-AgentMagic-audit-time', time(row.at)],
      ['jp-AgentMagic-audit-tool', row.tool],
      ['jp-AgentMagic-audit-decision', row.decision],
      ['jp-AgentMagic-audit-by', `by ${row.decided_by}`]
    ];
    for (const [className, text] of parts) {
      const span = document.createElement('span');
      span.className = className;
      span.textContent = text;
      head.appendChild(span);
    }
    const args = document.createElement('div');
    args.className = 'jp-AgentMagic-audit-arguments';
    args.textContent = row.arguments;
    args.title = row.arguments;
    item.append(head, args);
    list.appendChild(item);
  }
  return list;
}

/**
 * The usage & audit side panel: the active notebook's agent activity (or every notebook's) from its
 * kernel's ledger: cost and tokens over time, per-model and per-tool tables, and every approval
 * decision with who made it. Live while turns run (the kernel's messages keep it current).
 */
export class AgentPanel extends Widget {
  readonly model = new PanelModel();
  private _connection: AgentConnection | null = null;
  private _label = '';
  private _scopeButtons = new Map<PanelScope, HTMLButtonElement>();
  private _body = document.createElement('div');
  private _title = document.createElement('div');
  private _stale: PanelScope | null = 'notebook'; // the scope to ask for once shown, if a request is due

  constructor() {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-AgentMagic-panel');
    this.title.caption = 'Agent usage and approvals';
    const bar = document.createElement('div');
    bar.className = 'jp-AgentMagic-scopes';
    for (const [scope, text] of SCOPES) {
      const button = document.createElement('button');
      button.className = 'jp-AgentMagic-scope';
      button.textContent = text;
      button.addEventListener('click', () => this.refresh(scope));
      this._scopeButtons.set(scope, button);
      bar.appendChild(button);
    }
    this._title.className = 'jp-AgentMagic-panel-title';
    this._body.className = 'jp-AgentMagic-panel-body';
    this.node.append(this._title, bar, this._body);
    this.model.changed.connect(this.render, this);
    this.render();
  }

  /** The kernel connection shown (the active notebook's), or null. */
  get connection(): AgentConnection | null {
    return this._connection;
  }

  /** Follow another notebook's kernel (`label`: the notebook's name). */
  follow(connection: AgentConnection | null, label: string): void {
    if (connection === this._connection) {
      if (label !== this._label) {
        this._label = label;
        this.render();
      }
      return;
    }
    this._label = label;
    this._connection?.state.changed.disconnect(this._onMessage, this);
    this._connection = connection;
    connection?.state.changed.connect(this._onMessage, this);
    this.model.reset();
    this.refresh();
  }

  /** Ask the kernel again (for the current scope unless another is given); while the panel is hidden,
   * only once it is shown. */
  refresh(scope: PanelScope = this.model.scope): void {
    const connection = this._connection;
    if (!this.isVisible) {
      this._stale = scope;
    } else if (connection?.connected) {
      this._stale = null;
      connection.requestPanel(this.model.request(scope), scope);
    } else {
      this.render();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._refreshIfStale();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._refreshIfStale();
  }

  private _refreshIfStale(): void {
    if (this._stale !== null && this.isVisible) {
      this.refresh(this._stale);
    }
  }

  private _onMessage(_: unknown, message: KernelMessage | null): void {
    if (message === null) {
      this.refresh(); // the comm opened (or closed): start again from the ledger
    } else {
      this.model.apply(message);
    }
  }

  /** Redraw from the model. */
  render(): void {
    const model = this.model;
    for (const [scope, button] of this._scopeButtons) {
      button.classList.toggle('jp-mod-active', scope === model.scope);
    }
    this._title.textContent = model.scope === 'all' ? 'Agent usage — all notebooks' : `Agent usage — ${this._label || 'no notebook'}`;
    const body = this._body;
    body.replaceChildren();
    if (!this._connection?.connected) {
      body.appendChild(paragraph('Run a %%agent cell in the active notebook to see its usage and approvals here.'));
      return;
    }
    if (!model.loaded) {
      body.appendChild(paragraph('Reading the ledger…', 'jp-AgentMagic-loading'));
      return;
    }
    if (model.error) {
      body.appendChild(paragraph(model.error, 'jp-AgentMagic-error'));
    }
    const totals = model.totals;
    const cost = formatCost(totals.cost_usd, totals.unpriced.length === 0);
    body.appendChild(
      paragraph(`${totals.calls} model calls · ${formatTokens(totals.tokens)} tokens · ${totals.calls ? cost : '$0.00'}`, 'jp-AgentMagic-total')
    );
    if (totals.unpriced.length) {
      body.appendChild(paragraph(`No price for ${totals.unpriced.join(', ')}: set AgentMagic.prices to count them.`));
    }
    body.appendChild(section('Cost and tokens over time', renderChart(model.points)));
    if (model.byModel.length) {
      const rows = model.byModel.map(m => [
        m.model,
        String(m.calls),
        formatTokens(m.input_tokens + m.output_tokens),
        formatCost(m.cost_usd)
      ]);
      const models = table(['model', 'calls', 'tokens', 'cost'], rows);
      model.byModel.forEach((m, index) => {
        models.tBodies[0].rows[index].cells[2].title =
          `${m.input_tokens} input (${m.cached_tokens} cached) + ${m.output_tokens} output ` +
          `(${m.reasoning_tokens} reasoning) tokens`;
      });
      body.appendChild(section('Per model', models));
    }
    if (model.byTool.length) {
      const rows = model.byTool.map(t => [t.tool, String(t.calls), String(t.denied), String(t.failed)]);
      body.appendChild(section('Per tool', table(['tool', 'calls', 'denied', 'failed'], rows)));
    }
    const audit = model.audit;
    body.appendChild(section('Approval audit', audit.length ? auditList(audit) : paragraph('No approval decisions yet.')));
  }

  dispose(): void {
    this._connection?.state.changed.disconnect(this._onMessage, this);
    super.dispose();
  }
}
