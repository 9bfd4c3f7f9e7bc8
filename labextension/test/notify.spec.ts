import { describe, expect, it } from 'vitest';

import { ApprovalNotifier, INotifierHost, overlaps } from '../src/notify';
import { IApprovalRequested } from '../src/protocol';
import { approval } from './fixtures';

/** A host that records what the notifier asked for. */
function host(visible: Set<string> = new Set()) {
  const shown = new Map<string, { message: string; onScroll: () => void }>();
  const dismissed: string[] = [];
  const scrolled: string[] = [];
  let next = 0;
  const fake: INotifierHost = {
    show: (message, onScroll) => {
      const id = `n${next++}`;
      shown.set(id, { message, onScroll });
      return id;
    },
    dismiss: id => dismissed.push(id),
    isVisible: a => visible.has(a.call_id),
    scrollTo: a => scrolled.push(a.cell_id ?? ''),
    describe: () => 'report.ipynb [cell 3]'
  };
  return { fake, shown, dismissed, scrolled };
}

const pending = (id: string, turn = 't1') => approval(id, turn) as IApprovalRequested;

describe('ApprovalNotifier', () => {
  it('notifies an approval whose cell is out of view, naming the notebook and cell', () => {
    const h = host();
    new ApprovalNotifier(h.fake).update([pending('a')]);
    expect([...h.shown.values()].map(n => n.message)).toEqual([
      'Agent is waiting for approval in report.ipynb [cell 3]'
    ]);
  });

  it('stays quiet while the cell is on screen', () => {
    const h = host(new Set(['a']));
    new ApprovalNotifier(h.fake).update([pending('a')]);
    expect(h.shown.size).toBe(0);
  });

  it('notifies once per approval however often it is reconciled', () => {
    const h = host();
    const notifier = new ApprovalNotifier(h.fake);
    notifier.update([pending('a')]);
    notifier.update([pending('a')]);
    expect(h.shown.size).toBe(1);
  });

  it('notifies later when the cell leaves the screen', () => {
    const visible = new Set(['a']);
    const h = host(visible);
    const notifier = new ApprovalNotifier(h.fake);
    notifier.update([pending('a')]);
    visible.clear();
    notifier.update([pending('a')]);
    expect(notifier.notified).toEqual(['a']);
  });

  it('dismisses the notification once decided', () => {
    const h = host();
    const notifier = new ApprovalNotifier(h.fake);
    notifier.update([pending('a'), pending('b')]);
    notifier.update([pending('b')]);
    expect(h.dismissed).toEqual(['n0']);
    expect(notifier.notified).toEqual(['b']);
  });

  it('its button scrolls to the cell', () => {
    const h = host();
    new ApprovalNotifier(h.fake).update([pending('a')]);
    [...h.shown.values()][0].onScroll();
    expect(h.scrolled).toEqual(['c1']);
  });
});

describe('overlaps', () => {
  const view = { top: 0, bottom: 500, left: 0, right: 800 };

  it('sees a cell partly in view', () => {
    expect(overlaps({ top: 480, bottom: 600, left: 10, right: 700 }, view)).toBe(true);
  });

  it('does not see a cell scrolled away', () => {
    expect(overlaps({ top: 900, bottom: 1000, left: 10, right: 700 }, view)).toBe(false);
    expect(overlaps({ top: -300, bottom: -10, left: 10, right: 700 }, view)).toBe(false);
  });

  it('does not see a cell that is not laid out', () => {
    expect(overlaps({ top: 0, bottom: 0, left: 0, right: 0 }, view)).toBe(false);
  });
});
