import type { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { LabIcon, tableRowsIcon } from '@jupyterlab/ui-components';

import { decidePending, pendingRequest } from './keyboard';
import { KernelConnections } from './kernels';
import { PANEL_ID } from './panel';

/** Command ids. */
export namespace CommandIDs {
  export const insertCell = 'agent-magic:insert-cell';
  export const stopTurn = 'agent-magic:stop-turn';
  export const showUsage = 'agent-magic:show-usage';
  export const approvePending = 'agent-magic:approve-pending';
  export const denyPending = 'agent-magic:deny-pending';
}

/** The source of a new agent cell (the cursor goes on the second line). */
export const AGENT_CELL_SOURCE = '%%agent\n';

const AGENT_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M12 2l2.2 6.2L20 10l-5.8 1.8L12 18l-2.2-6.2L4 10l5.8-1.8z' +
  'M19 15l1 2.6 2.5 1-2.5 1L19 22l-1-2.4-2.5-1 2.5-1z"/></svg>';

const STOP_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 ' +
  '8 8 0 0 1 0-16zM8.5 8.5h7v7h-7z"/></svg>';

/** The agent_magic icon (a spark). */
export const agentIcon = new LabIcon({ name: 'agent-magic:agent', svgstr: AGENT_SVG });

/** "Stop agent turn": a stop square in a ring, unlike the kernel's interrupt square. */
export const agentStopIcon = new LabIcon({ name: 'agent-magic:stop', svgstr: STOP_SVG });

/**
 * Register the commands, in the palette when there is one: insert a cell, stop the turn, show the usage
 * & audit panel, approve / deny the active notebook's pending request (shortcuts in the settings).
 */
export function addCommands(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  connections: KernelConnections,
  palette: ICommandPalette | null
): void {
  const current = () => connections.forPanel(tracker.currentWidget);
  app.commands.addCommand(CommandIDs.insertCell, {
    label: 'Insert agent cell',
    caption: 'Insert a %%agent cell below the active cell',
    icon: agentIcon,
    isEnabled: () => tracker.currentWidget !== null,
    execute: async () => {
      const notebook = tracker.currentWidget?.content;
      if (!notebook) {
        return;
      }
      NotebookActions.insertBelow(notebook);
      const cell = notebook.activeCell;
      if (!cell) {
        return;
      }
      cell.model.sharedModel.setSource(AGENT_CELL_SOURCE);
      notebook.mode = 'edit';
      await cell.ready; // the editor of a new cell exists only once it is rendered
      cell.editor?.setCursorPosition({ line: 1, column: 0 });
      cell.editor?.focus();
    }
  });
  app.commands.addCommand(CommandIDs.stopTurn, {
    label: 'Stop agent turn',
    caption: 'Stop the running %%agent turn (the partial answer is kept)',
    icon: agentStopIcon,
    isEnabled: () => !!current()?.state.running,
    execute: () => {
      current()?.stop();
    }
  });
  app.commands.addCommand(CommandIDs.showUsage, {
    label: 'Show agent usage',
    caption: 'Cost and tokens over time, per model and per tool, and the approval audit',
    icon: tableRowsIcon,
    execute: () => app.shell.activateById(PANEL_ID)
  });
  const describe = (verb: string) => (): string => {
    const request = pendingRequest(current());
    return request ? `${verb} the pending agent request (${request.tool})` : `${verb} the pending agent request`;
  };
  app.commands.addCommand(CommandIDs.approvePending, {
    label: describe('Approve'),
    caption: "Approve the active notebook's oldest agent request waiting for a decision",
    isEnabled: () => pendingRequest(current()) !== null,
    execute: () => decidePending(current(), 'approve')
  });
  app.commands.addCommand(CommandIDs.denyPending, {
    label: describe('Deny'),
    caption: "Deny the active notebook's oldest agent request waiting for a decision (with the reason typed in its box)",
    isEnabled: () => pendingRequest(current()) !== null,
    execute: () => decidePending(current(), 'deny')
  });
  for (const command of Object.values(CommandIDs)) {
    palette?.addItem({ command, category: 'Agent' });
  }
}
