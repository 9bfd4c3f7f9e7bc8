import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import type { Cell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';

import { AgentConnection } from './connection';
import { KernelConnections } from './kernels';
import { INotifierHost, overlaps } from './notify';
import { IApprovalRequested } from './protocol';

/** A cell found by its id, with the panel it lives in and its position. */
export interface IFoundCell {
  panel: NotebookPanel;
  cell: Cell;
  index: number;
}

/** Find the cell `cellId` among the panels (null when it is gone or the id is unknown). */
export function findCell(panels: NotebookPanel[], cellId: string | null): IFoundCell | null {
  if (!cellId) {
    return null;
  }
  for (const panel of panels) {
    const index = panel.content.widgets.findIndex(cell => cell.model.id === cellId);
    if (index >= 0) {
      return { panel, cell: panel.content.widgets[index], index };
    }
  }
  return null;
}

/** Bring the cell's notebook to the front, make the cell active and scroll it to the middle. */
export function revealCell(app: JupyterFrontEnd, found: IFoundCell): void {
  app.shell.activateById(found.panel.id);
  found.panel.content.activeCellIndex = found.index;
  void found.panel.content.scrollToCell(found.cell, 'center');
}

/** True when the cell is on screen: page visible, its notebook the current tab, the cell in view. */
export function isCellOnScreen(app: JupyterFrontEnd, found: IFoundCell): boolean {
  if (document.visibilityState === 'hidden' || app.shell.currentWidget !== found.panel || !found.panel.isVisible) {
    return false;
  }
  return overlaps(found.cell.node.getBoundingClientRect(), found.panel.content.node.getBoundingClientRect());
}

/** The notifier host for one kernel connection: JupyterLab notifications about its notebooks' cells. */
export function notifierHost(
  app: JupyterFrontEnd,
  connections: KernelConnections,
  connection: AgentConnection
): INotifierHost {
  const find = (approval: IApprovalRequested): IFoundCell | null =>
    findCell(connections.panelsOf(connection), approval.cell_id);
  return {
    show: (message, onScroll) =>
      Notification.warning(message, {
        autoClose: false,
        actions: [{ label: 'Scroll to cell', callback: onScroll, displayType: 'accent' }]
      }),
    dismiss: id => Notification.dismiss(id),
    isVisible: approval => {
      const found = find(approval);
      return found !== null && isCellOnScreen(app, found);
    },
    scrollTo: approval => {
      const found = find(approval);
      if (found) {
        revealCell(app, found);
      }
    },
    describe: approval => {
      const found = find(approval);
      return found ? `${found.panel.title.label} [cell ${found.index + 1}]` : 'a notebook';
    }
  };
}
