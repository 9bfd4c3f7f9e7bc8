import { Signal } from '@lumino/signaling';
import { describe, expect, it } from 'vitest';

import { AgentConnection, mentionsAgentMagic } from '../src/connection';
import { usage } from './fixtures';

/** A comm that records what was sent. */
class FakeComm {
  sent: unknown[] = [];
  opened = false;
  closed = false;
  isDisposed = false;
  onMsg: (msg: any) => void = () => undefined;
  onClose: (msg: any) => void = () => undefined;
  constructor(readonly targetName: string) {}
  open(): void {
    this.opened = true;
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(): void {
    this.closed = true;
  }
  /** The kernel sends `data` over the comm. */
  receive(data: unknown): void {
    this.onMsg({ content: { comm_id: 'x', data } });
  }
}

/** A kernel connection with just what AgentConnection touches. */
class FakeKernel {
  id = 'k1';
  isDisposed = false;
  iopubMessage = new Signal<this, any>(this);
  statusChanged = new Signal<this, string>(this);
  comms: FakeComm[] = [];
  openComms: Record<string, unknown> = {};
  createComm(target: string): FakeComm {
    const comm = new FakeComm(target);
    this.comms.push(comm);
    return comm;
  }
  async requestCommInfo(): Promise<any> {
    return { content: { status: 'ok', comms: this.openComms } };
  }
  /** Simulate a cell run: execute_input, then idle, both children of request `msgId`. */
  run(code: string, msgId = 'm1'): void {
    const parent = { msg_id: msgId };
    this.iopubMessage.emit({ header: { msg_type: 'execute_input' }, parent_header: parent, content: { code } });
    this.iopubMessage.emit({ header: { msg_type: 'status' }, parent_header: parent, content: { execution_state: 'idle' } });
  }
}

const connect = (kernel: FakeKernel) => new AgentConnection(kernel as any);
const settle = () => new Promise(resolve => setTimeout(resolve, 0));

describe('mentionsAgentMagic', () => {
  it('sees the extension being loaded or used', () => {
    expect(mentionsAgentMagic('%load_ext agent_magic')).toBe(true);
    expect(mentionsAgentMagic('import agent_magic')).toBe(true);
    expect(mentionsAgentMagic('%%agent\nhi')).toBe(true);
    expect(mentionsAgentMagic('x = 1\n%agent usage')).toBe(true);
  });

  it('ignores ordinary code', () => {
    expect(mentionsAgentMagic('import pandas as pd\nagent = 3')).toBe(false);
  });
});

describe('AgentConnection', () => {
  it('opens no comm in a kernel that never used agent_magic', async () => {
    const kernel = new FakeKernel();
    connect(kernel);
    kernel.run('print(1)');
    await settle();
    expect(kernel.comms).toHaveLength(0);
  });

  it('opens the comm after %load_ext agent_magic finished', async () => {
    const kernel = new FakeKernel();
    const connection = connect(kernel);
    kernel.run('%load_ext agent_magic');
    expect(kernel.comms.map(c => [c.targetName, c.opened])).toEqual([['agent_magic', true]]);
    expect(connection.state.connected).toBe(true);
  });

  it('reconnects at once to a kernel that already has agent_magic comms (page reload)', async () => {
    const kernel = new FakeKernel();
    kernel.openComms = { old: { target_name: 'agent_magic' } };
    connect(kernel);
    await settle();
    expect(kernel.comms).toHaveLength(1);
  });

  it('feeds kernel messages into the state and ignores foreign ones', () => {
    const kernel = new FakeKernel();
    const connection = connect(kernel);
    kernel.run('%load_ext agent_magic');
    kernel.comms[0].receive({ v: 1, type: 'usage', usage: usage() });
    kernel.comms[0].receive({ v: 7, type: 'usage', usage: usage({ tokens: 1 }) });
    expect(connection.state.usage.tokens).toBe(1500);
  });

  it('sends stop over the comm', () => {
    const kernel = new FakeKernel();
    const connection = connect(kernel);
    expect(connection.stop()).toBe(false);
    kernel.run('%load_ext agent_magic');
    expect(connection.stop()).toBe(true);
    expect(kernel.comms[0].sent).toEqual([{ v: 1, type: 'stop' }]);
  });

  it('reconnects on the next agent cell after the kernel closed the comm', () => {
    const kernel = new FakeKernel();
    const connection = connect(kernel);
    kernel.run('%load_ext agent_magic');
    kernel.comms[0].onClose({});
    expect(connection.connected).toBe(false);
    kernel.run('%%agent\nhello', 'm2');
    expect(kernel.comms).toHaveLength(2);
    expect(connection.connected).toBe(true);
  });

  it('forgets the comm when the kernel restarts', () => {
    const kernel = new FakeKernel();
    const connection = connect(kernel);
    kernel.run('%load_ext agent_magic');
    kernel.statusChanged.emit('restarting');
    expect(connection.connected).toBe(false);
    expect(connection.state.connected).toBe(false);
  });
});
