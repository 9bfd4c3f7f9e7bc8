import { Widget } from '@lumino/widgets';
import { describe, expect, it } from 'vitest';

import { AgentConnection } from '../src/connection';
import { AgentPanel } from '../src/panel';
import { FrontendMessage } from '../src/protocol';
import { AgentKernelState } from '../src/state';
import { decided, modelCall, panel } from './fixtures';

/** A connected connection stand-in that records what the panel sends. */
function connection(): { connection: AgentConnection; sent: FrontendMessage[]; state: AgentKernelState } {
  const state = new AgentKernelState();
  state.connected = true;
  const sent: FrontendMessage[] = [];
  const fake = {
    state,
    get connected() {
      return state.connected;
    },
    requestPanel: (request_id: string, scope: 'notebook' | 'all') =>
      sent.push({ v: 1, type: 'panel_request', request_id, scope }) > 0
  };
  return { connection: fake as unknown as AgentConnection, sent, state };
}

function shownPanel(): AgentPanel {
  const widget = new AgentPanel();
  Widget.attach(widget, document.body);
  return widget;
}

describe('AgentPanel', () => {
  it('asks the active notebook kernel for its data and shows it', () => {
    const widget = shownPanel();
    const { connection: c, sent, state } = connection();
    widget.follow(c, 'analysis.ipynb');
    expect(sent).toEqual([{ v: 1, type: 'panel_request', request_id: expect.any(String), scope: 'notebook' }]);
    expect(widget.node.textContent).toContain('Reading the ledger…');

    state.apply(panel((sent[0] as { request_id: string }).request_id));
    state.apply(modelCall('t1', 100));
    state.apply(decided('call9', 'keyboard shortcut'));

    const text = widget.node.textContent ?? '';
    expect(text).toContain('Agent usage — analysis.ipynb');
    expect(text).toContain('2 model calls · 2.4k tokens · $0.0040');
    const newest = widget.node.querySelector('.jp-AgentMagic-audit li') as HTMLElement;
    expect([...newest.querySelectorAll('span')].slice(1).map(span => span.textContent)).toEqual([
      'write_file',
      'approved',
      'by keyboard shortcut'
    ]);
    expect(newest.querySelector('.jp-AgentMagic-audit-arguments')?.textContent).toBe("write_file(path='a.txt')");
    expect(widget.node.querySelectorAll('.jp-AgentMagic-audit li')).toHaveLength(2);
    expect(widget.node.querySelectorAll('polyline')).toHaveLength(2);
    widget.dispose();
  });

  it('switches to all notebooks on request', () => {
    const widget = shownPanel();
    const { connection: c, sent } = connection();
    widget.follow(c, 'a.ipynb');
    (widget.node.querySelectorAll('.jp-AgentMagic-scope')[1] as HTMLElement).click();
    expect(sent.map(m => (m as { scope: string }).scope)).toEqual(['notebook', 'all']);
    expect(widget.node.textContent).toContain('Agent usage — all notebooks');
    widget.dispose();
  });

  it('asks nothing while hidden, and asks once shown', () => {
    const widget = new AgentPanel();
    const { connection: c, sent } = connection();
    widget.follow(c, 'a.ipynb');
    expect(sent).toEqual([]);
    Widget.attach(widget, document.body);
    expect(sent).toHaveLength(1);
    widget.dispose();
  });

  it('says how to get data when the notebook has no agent', () => {
    const widget = shownPanel();
    widget.follow(null, 'plain.ipynb');
    expect(widget.node.textContent).toContain('Run a %%agent cell in the active notebook');
    widget.dispose();
  });

  it('shows the kernel’s one-line error', () => {
    const widget = shownPanel();
    const { connection: c, sent, state } = connection();
    widget.follow(c, 'a.ipynb');
    state.apply({ ...panel((sent[0] as { request_id: string }).request_id), error: 'the ledger could not be read: x' });
    expect(widget.node.querySelector('.jp-AgentMagic-error')?.textContent).toBe('the ledger could not be read: x');
    widget.dispose();
  });
});
