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

/** A table with a header row and one row per entry (text only: values are never parsed as HTML). */
export function table(head: string[], rows: string[][]): HTMLTableElement {
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
      const cell = tr.insertCell();
      cell.textContent = text;
      cell.title = text; // the whole value, where a narrow column cuts it short
    }
  }
  return element;
}
