import { Signal } from '@lumino/signaling';
import { describe, expect, it } from 'vitest';

import { AgentCellHighlighter, IHighlightableCell, isAgentSource, PROSE_MIME } from '../src/highlight';

const PYTHON = 'text/x-ipython';

/** A code cell model with just what the highlighter touches. */
class FakeCell implements IHighlightableCell {
  readonly type = 'code';
  readonly isDisposed = false;
  readonly mimeTypeChanged = new Signal<this, void>(this);
  private _source: string;
  private _mime = PYTHON;
  private _changed = new Signal<this, void>(this);
  readonly sharedModel = {
    getSource: () => this._source,
    changed: this._changed
  };

  constructor(source: string) {
    this._source = source;
  }

  get mimeType(): string {
    return this._mime;
  }

  set mimeType(value: string) {
    if (value !== this._mime) {
      this._mime = value;
      this.mimeTypeChanged.emit();
    }
  }

  type_(source: string): void {
    this._source = source;
    this._changed.emit();
  }
}

describe('isAgentSource', () => {
  it('recognises %%agent cells with or without options', () => {
    expect(isAgentSource('%%agent\nWhich columns are empty?')).toBe(true);
    expect(isAgentSource('%%agent --model demo\nhi')).toBe(true);
    expect(isAgentSource('%%agent')).toBe(true);
  });

  it('leaves other cells alone', () => {
    expect(isAgentSource('%%agents\nx')).toBe(false);
    expect(isAgentSource('%agent usage')).toBe(false);
    expect(isAgentSource('x = 1\n%%agent')).toBe(false);
    expect(isAgentSource(' %%agent\nx')).toBe(false);
  });
});

describe('AgentCellHighlighter', () => {
  it('highlights an agent cell as Markdown', () => {
    const cell = new FakeCell('%%agent\n# Plan\n**bold**');
    new AgentCellHighlighter(() => PYTHON).watch(cell);
    expect(cell.mimeType).toBe(PROSE_MIME);
  });

  it('follows edits both ways', () => {
    const cell = new FakeCell('print(1)');
    new AgentCellHighlighter(() => PYTHON).watch(cell);
    expect(cell.mimeType).toBe(PYTHON);
    cell.type_('%%agent\nhello');
    expect(cell.mimeType).toBe(PROSE_MIME);
    cell.type_('print(2)');
    expect(cell.mimeType).toBe(PYTHON);
  });

  it('takes the mime type back when the notebook resets it (kernel language arrived)', () => {
    const cell = new FakeCell('%%agent\nhello');
    new AgentCellHighlighter(() => PYTHON).watch(cell);
    cell.mimeType = PYTHON;
    expect(cell.mimeType).toBe(PROSE_MIME);
  });

  it('restores the notebook code mime type of the moment', () => {
    let codeMime = PYTHON;
    const cell = new FakeCell('%%agent\nhello');
    new AgentCellHighlighter(() => codeMime).watch(cell);
    codeMime = 'text/x-julia';
    cell.type_('1 + 1');
    expect(cell.mimeType).toBe('text/x-julia');
  });
});
