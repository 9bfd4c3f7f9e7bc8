import { describe, expect, it } from 'vitest';

import { formatCost, formatTokens, renderSummary, sessionCost, statusText } from '../src/format';
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

describe('renderSummary', () => {
  it('has one row per model and per tool', () => {
    const node = renderSummary(usage());
    const tables = node.querySelectorAll('table');
    expect(tables).toHaveLength(2);
    expect([...tables[0].querySelectorAll('tbody td')].map(td => td.textContent)).toEqual([
      'demo', '2', '1200', '0', '300', '$0.0048'
    ]);
    expect(tables[1].querySelector('tbody td')?.textContent).toBe('write_file');
    expect(node.textContent).toContain('2 model calls');
  });

  it('names unpriced models', () => {
    const node = renderSummary(usage({ unpriced_models: ['llama3.1'] }));
    expect(node.textContent).toContain('No price for llama3.1');
  });

  it('says so when nothing ran yet', () => {
    const node = renderSummary(emptyUsage());
    expect(node.querySelector('table')).toBeNull();
    expect(node.textContent).toContain('No model calls');
  });
});
