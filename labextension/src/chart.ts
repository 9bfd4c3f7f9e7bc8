import { formatCost, formatTokens } from './format';
import { IPoint } from './protocol';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 110;
const PAD = 4;

/** Running sums over time: after each point, the tokens and dollars so far. */
export interface ICumulative {
  at: number;
  tokens: number;
  cost: number;
}

/** The running sums of `points` (taken in time order; unpriced calls add no dollars). */
export function cumulative(points: IPoint[]): ICumulative[] {
  let tokens = 0;
  let cost = 0;
  return [...points]
    .sort((a, b) => a.at - b.at)
    .map(p => {
      tokens += p.tokens;
      cost += p.cost_usd ?? 0;
      return { at: p.at, tokens, cost };
    });
}

/** SVG polyline points of a step line through (x, y) pairs scaled into the chart box. */
export function stepLine(values: { x: number; y: number }[], xMax: number, yMax: number): string {
  const sx = (x: number): number => PAD + (xMax > 0 ? (x / xMax) * (WIDTH - 2 * PAD) : WIDTH - 2 * PAD);
  const sy = (y: number): number => HEIGHT - PAD - (yMax > 0 ? (y / yMax) * (HEIGHT - 2 * PAD) : 0);
  const corners: string[] = [`${sx(0).toFixed(1)},${sy(0).toFixed(1)}`];
  let previous = 0;
  for (const { x, y } of values) {
    corners.push(`${sx(x).toFixed(1)},${sy(previous).toFixed(1)}`, `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    previous = y;
  }
  corners.push(`${sx(xMax).toFixed(1)},${sy(previous).toFixed(1)}`);
  return corners.join(' ');
}

/** The time span of the chart: `14:02 – 14:09` within a day, with dates across days. */
export function span(start: number, end: number): string {
  const first = new Date(start * 1000);
  const last = new Date(end * 1000);
  const hours: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit' };
  const dated: Intl.DateTimeFormatOptions = { month: 'short', day: 'numeric', ...hours };
  const sameDay = first.toDateString() === last.toDateString();
  const format = sameDay ? hours : dated;
  return `${first.toLocaleString([], format)} – ${last.toLocaleString([], format)}`;
}

/**
 * Tokens and dollars over time, as two step lines each scaled to its own total (drawn by hand: two
 * polylines do not need a charting library in the bundle).
 */
export function renderChart(points: IPoint[]): HTMLElement {
  const node = document.createElement('div');
  node.className = 'jp-AgentMagic-chart';
  const sums = cumulative(points);
  if (sums.length === 0) {
    node.textContent = 'No model calls yet.';
    return node;
  }
  const start = sums[0].at;
  const end = sums[sums.length - 1].at;
  const last = sums[sums.length - 1];
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${formatTokens(last.tokens)} tokens and ${formatCost(last.cost)} over time`);
  const series: [string, (c: ICumulative) => number, number][] = [
    ['jp-AgentMagic-chart-tokens', c => c.tokens, last.tokens],
    ['jp-AgentMagic-chart-cost', c => c.cost, last.cost]
  ];
  for (const [className, value, max] of series) {
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('class', className);
    line.setAttribute('points', stepLine(sums.map(c => ({ x: c.at - start, y: value(c) })), end - start, max));
    svg.appendChild(line);
  }
  node.appendChild(svg);
  const legend = document.createElement('div');
  legend.className = 'jp-AgentMagic-chart-legend';
  const entries: [string, string][] = [
    ['jp-AgentMagic-chart-tokens', `${formatTokens(last.tokens)} tokens`],
    ['jp-AgentMagic-chart-cost', formatCost(last.cost)],
    ['jp-AgentMagic-chart-span', span(start, end)]
  ];
  for (const [className, text] of entries) {
    const entry = document.createElement('span');
    entry.className = className;
    entry.textContent = text;
    legend.appendChild(entry);
  }
  node.appendChild(legend);
  return node;
}
