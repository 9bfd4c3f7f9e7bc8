import { IUsageSummary } from './protocol';

/** Token counts the way the status bar shows them: 950, 12.3k, 4.5M. */
export function formatTokens(count: number): string {
  if (count < 1000) {
    return String(count);
  }
  if (count < 1_000_000) {
    return `${(count / 1000).toFixed(count < 10_000 ? 1 : 0)}k`;
  }
  return `${(count / 1_000_000).toFixed(1)}M`;
}

/**
 * Dollars with enough digits to be non-zero for small amounts: $0.0031, $1.24; "$?" when unknown.
 * An incomplete cost (some call had no price) is a lower bound and reads "≥ $0.0031".
 */
export function formatCost(usd: number | null, complete = true): string {
  if (usd === null) {
    return '$?';
  }
  const digits = usd === 0 ? 2 : usd < 0.01 ? 4 : usd < 1 ? 3 : 2;
  const text = `$${usd.toFixed(digits)}`;
  return complete ? text : `≥ ${text}`;
}

/** The session's dollars: $0.00 before any call, a lower bound when some model had no price. */
export function sessionCost(usage: IUsageSummary): string {
  if (usage.model_calls === 0) {
    return formatCost(0);
  }
  return formatCost(usage.cost_usd, usage.unpriced_models.length === 0);
}

/** The status bar text: total tokens and dollars of the session. */
export function statusText(usage: IUsageSummary): string {
  return `${formatTokens(usage.tokens)} tok · ${sessionCost(usage)}`;
}

function table(head: string[], rows: string[][]): HTMLTableElement {
  const element = document.createElement('table');
  const headRow = element.createTHead().insertRow();
  for (const text of head) {
    const cell = document.createElement('th');
    cell.textContent = text;
    headRow.appendChild(cell);
  }
  const body = element.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const text of row) {
      tr.insertCell().textContent = text;
    }
  }
  return element;
}

/**
 * The per-model / per-tool summary as a DOM node (the status bar popup and "Show agent usage").
 */
export function renderSummary(usage: IUsageSummary): HTMLElement {
  const node = document.createElement('div');
  node.className = 'jp-AgentMagic-summary';
  const total = document.createElement('p');
  total.className = 'jp-AgentMagic-total';
  total.textContent =
    `This conversation: ${usage.model_calls} model calls, ${formatTokens(usage.input_tokens)} input + ` +
    `${formatTokens(usage.output_tokens)} output tokens, ${sessionCost(usage)}`;
  node.appendChild(total);
  if (usage.unpriced_models.length > 0) {
    const note = document.createElement('p');
    note.textContent = `No price for ${usage.unpriced_models.join(', ')}: set AgentMagic.prices to count them.`;
    node.appendChild(note);
  }
  if (usage.by_model.length === 0) {
    const empty = document.createElement('p');
    empty.textContent = 'No model calls in this conversation yet.';
    node.appendChild(empty);
    return node;
  }
  node.appendChild(
    table(
      ['model', 'calls', 'input', 'cached', 'output', 'cost'],
      usage.by_model.map(m => [
        m.model,
        String(m.calls),
        String(m.input_tokens),
        String(m.cached_tokens),
        String(m.output_tokens),
        formatCost(m.cost_usd)
      ])
    )
  );
  if (usage.by_tool.length > 0) {
    node.appendChild(
      table(
        ['tool', 'calls', 'denied', 'failed'],
        usage.by_tool.map(t => [t.tool, String(t.calls), String(t.denied), String(t.failed)])
      )
    );
  }
  return node;
}
