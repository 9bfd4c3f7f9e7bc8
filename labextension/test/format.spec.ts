import { describe, expect, it } from 'vitest';

import { formatCost, formatTokens, sessionCost, statusText, table } from '../src/format';
import { emptyUsage } from '../src/protocol';
import { usage } from './fixtures';

describe('formatTokens', () => {
  it('abbreviates thousands and millions', () => {
    expect(formatTokens(950)).toBe('950');
    expect(formatTokens(1500)).toBe('1.5k');
    expect(formatTokens(12_345)).toBe('12k');
    expect(formatTokens(4_500_000)).toBe('4.5M');
  });
});

describe('formatCost', () => {
  it('keeps small amounts non-zero', () => {
    expect(formatCost(0.0031)).toBe('$0.0031');
    expect(formatCost(0.25)).toBe('$0.250');
    expect(formatCost(12.5)).toBe('$12.50');
    expect(formatCost(0)).toBe('$0.00');
  });

  it('says when the cost is unknown or a lower bound', () => {
    expect(formatCost(null)).toBe('$?');
    expect(formatCost(0.0031, false)).toBe('≥ $0.0031');
  });
});

describe('sessionCost and statusText', () => {
  it('show tokens and dollars', () => {
    expect(statusText(usage())).toBe('1.5k tok · $0.0048');
  });

  it('show $0.00 before the first call, even though the ledger has no cost yet', () => {
    expect(sessionCost({ ...emptyUsage(), cost_usd: null })).toBe('$0.00');
  });

  it('mark the cost incomplete when a model has no price', () => {
    expect(sessionCost(usage({ unpriced_models: ['llama3.1'] }))).toBe('≥ $0.0048');
    expect(sessionCost(usage({ cost_usd: null, unpriced_models: ['llama3.1'] }))).toBe('$?');
  });
});

describe('table', () => {
  it('has a header and one row per entry, as text', () => {
    const node = table(['tool', 'calls'], [['<b>x</b>', '2']]);
    expect([...node.querySelectorAll('th')].map(th => th.textContent)).toEqual(['tool', 'calls']);
    const cell = node.querySelector('tbody td') as HTMLElement;
    expect(cell.textContent).toBe('<b>x</b>');
    expect(cell.querySelector('b')).toBeNull();
    expect(cell.title).toBe('<b>x</b>');
  });
});
