import type { ISignal } from '@lumino/signaling';

/** The editor mime type of Markdown cells in JupyterLab (Markdown with LaTeX). */
export const PROSE_MIME = 'text/x-ipythongfm';

/** True when a cell's source is a `%%agent` cell (its body is a request in prose, not Python). */
export function isAgentSource(source: string): boolean {
  return /^%%agent(?=\s|$)/.test(source);
}

/** The part of a code cell model the highlighter needs (structural, so tests can fake it). */
export interface IHighlightableCell {
  readonly type: string;
  mimeType: string;
  readonly mimeTypeChanged: ISignal<any, any>;
  readonly sharedModel: { getSource(): string; readonly changed: ISignal<any, any> };
  readonly isDisposed: boolean;
}

/**
 * Keeps `%%agent` code cells highlighted as Markdown: sets their editor mime type to `PROSE_MIME`
 * while the source starts with `%%agent`, and back to the notebook's code mime type otherwise. The
 * notebook resets every code cell's mime type when the kernel's language arrives; the highlighter
 * answers that by setting it again.
 */
export class AgentCellHighlighter {
  private _cells = new Set<IHighlightableCell>();

  /** @param codeMime - the notebook's mime type for code cells (changes with the kernel). */
  constructor(private readonly _codeMime: () => string) {}

  /** Start watching a cell (idempotent); applies the right mime type at once. */
  watch(cell: IHighlightableCell): void {
    if (cell.type !== 'code' || this._cells.has(cell)) {
      return;
    }
    this._cells.add(cell);
    cell.sharedModel.changed.connect(() => this.apply(cell), this);
    cell.mimeTypeChanged.connect(() => this.apply(cell), this);
    this.apply(cell);
  }

  /** Set the mime type the cell's source calls for. */
  apply(cell: IHighlightableCell): void {
    if (cell.isDisposed) {
      this._cells.delete(cell);
      return;
    }
    if (isAgentSource(cell.sharedModel.getSource())) {
      if (cell.mimeType !== PROSE_MIME) {
        cell.mimeType = PROSE_MIME;
      }
    } else if (cell.mimeType === PROSE_MIME) {
      cell.mimeType = this._codeMime();
    }
  }
}
