import { describe, expect, it } from 'vitest';

import { cumulative, renderChart, stepLine } from '../src/chart';

describe('cumulative', () => {
  it('sums tokens and priced dollars in time order', () => {
    const sums = cumulative([
      { at: 20, tokens: 5, cost_usd: null },
      { at: 10, tokens: 10, cost_usd: 0.5 }
    ]);
    expect(sums).toEqual([
      { at: 10, tokens: 10, cost: 0.5 },
      { at: 20, tokens: 15, cost: 0.5 }
    ]);
  });
});

describe('stepLine', () => {
  it('rises at each point and holds until the next', () => {
    expect(stepLine([{ x: 0, y: 1 }, { x: 10, y: 2 }], 10, 2)).toBe(
      '4.0,106.0 4.0,106.0 4.0,55.0 296.0,55.0 296.0,4.0 296.0,4.0'
    );
  });
});

describe('renderChart', () => {
  it('draws tokens and cost with their totals in the legend', () => {
    const node = renderChart([
      { at: 1_700_000_000, tokens: 1500, cost_usd: 0.002 },
      { at: 1_700_000_060, tokens: 500, cost_usd: 0.001 }
    ]);
    expect(node.querySelectorAll('polyline')).toHaveLength(2);
    expect(node.querySelector('svg')?.getAttribute('aria-label')).toBe('2.0k tokens and $0.0030 over time');
    const legend = [...node.querySelectorAll('.jp-AgentMagic-chart-legend span')].map(s => s.textContent);
    expect(legend.slice(0, 2)).toEqual(['2.0k tokens', '$0.0030']);
  });

  it('says so when there is nothing to draw', () => {
    expect(renderChart([]).textContent).toBe('No model calls yet.');
  });
});
