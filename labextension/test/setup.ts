// jsdom has no DragEvent, which @lumino/dragdrop (pulled in by @lumino/widgets) subclasses at import.
if (typeof (globalThis as any).DragEvent === 'undefined') {
  (globalThis as any).DragEvent = class DragEvent extends MouseEvent {};
}
