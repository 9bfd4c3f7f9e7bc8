/**
 * agent-magic: the JupyterLab 4 companion of the agent_magic kernel extension.
 *
 * - status bar: the active notebook kernel's agent tokens and dollars, a spinner while a turn runs,
 *   a per-model / per-tool summary on click;
 * - a notification when an approval waits in a cell that is not on screen;
 * - `%%agent` cells highlighted as Markdown;
 * - commands "Insert agent cell", "Stop agent turn", "Show agent usage" (palette and toolbar);
 * - the code each `run_python` ran, inserted as tagged code cells below its agent cell (never run).
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { CommandToolbarButton, ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';

import { findCell, notifierHost } from './cells';
import { addCommands, CommandIDs } from './commands';
import { AgentConnection } from './connection';
import { AgentCellHighlighter, IHighlightableCell } from './highlight';
import { insertAgentCode } from './insert';
import { KernelConnections } from './kernels';
import { ApprovalNotifier } from './notify';
import { AgentStatusItem } from './statusbar';

/** Highlight a panel's `%%agent` cells as Markdown, now and as cells are added. */
function highlightAgentCells(panel: NotebookPanel): void {
  const notebook = panel.content;
  const highlighter = new AgentCellHighlighter(() => notebook.codeMimetype);
  const watchAll = (): void => {
    for (const cell of notebook.model?.cells ?? []) {
      highlighter.watch(cell as unknown as IHighlightableCell);
    }
  };
  notebook.model?.cells.changed.connect(watchAll);
  notebook.modelChanged.connect(() => {
    notebook.model?.cells.changed.connect(watchAll);
    watchAll();
  });
  watchAll();
}

/** Add the three command buttons to a notebook's toolbar. */
function addToolbarButtons(app: JupyterFrontEnd, panel: NotebookPanel): void {
  let previous = 'cellType';
  for (const id of [CommandIDs.insertCell, CommandIDs.stopTurn, CommandIDs.showUsage]) {
    const button = new CommandToolbarButton({ commands: app.commands, id, label: '' });
    const name = `agent-magic-${id.split(':')[1]}`;
    if (!panel.toolbar.insertAfter(previous, name, button)) {
      panel.toolbar.addItem(name, button);
    }
    previous = name;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'agent-magic:plugin',
  description: 'Status bar cost, approval notifications, %%agent highlighting and agent commands.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ) => {
    const connections = new KernelConnections();
    const showUsage = (): void => void app.commands.execute(CommandIDs.showUsage);
    const statusItem = statusBar ? new AgentStatusItem(showUsage) : null;
    const followActive = (): void => {
      if (statusItem) {
        statusItem.state = connections.forPanel(tracker.currentWidget)?.state ?? null;
      }
      app.commands.notifyCommandChanged(CommandIDs.stopTurn);
    };
    if (statusBar && statusItem) {
      statusBar.registerStatusItem('agent-magic:status', {
        item: statusItem,
        align: 'left',
        rank: 4,
        isActive: () => statusItem.active,
        activeStateChanged: statusItem.activeChanged
      });
    }
    addCommands(app, tracker, connections, statusItem, palette);

    const notifiers = new Map<AgentConnection, ApprovalNotifier>();
    const reconcile = (): void => {
      for (const [connection, notifier] of notifiers) {
        notifier.update(connection.state.approvals);
      }
    };
    connections.added.connect((_, connection) => {
      notifiers.set(connection, new ApprovalNotifier(notifierHost(app, connections, connection)));
      connection.state.changed.connect((_, message) => {
        if (message?.type === 'insert_cells') {
          insertAgentCode(findCell(connections.panelsOf(connection), message.cell_id), message);
        }
        followActive();
        reconcile();
      });
      connection.kernel.disposed.connect(() => {
        notifiers.get(connection)?.update([]);
        notifiers.delete(connection);
      });
      followActive();
    });

    // Re-check what is on screen when the tab, the page visibility or a notebook's scroll changes.
    let scheduled = false;
    const reconcileSoon = (): void => {
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(() => {
          scheduled = false;
          reconcile();
        });
      }
    };
    app.shell.currentChanged?.connect(reconcileSoon);
    document.addEventListener('visibilitychange', reconcileSoon);

    tracker.widgetAdded.connect((_, panel) => {
      connections.track(panel);
      panel.sessionContext.kernelChanged.connect(followActive);
      highlightAgentCells(panel);
      addToolbarButtons(app, panel);
      panel.content.node.addEventListener('scroll', reconcileSoon, true);
    });
    tracker.currentChanged.connect(followActive);
  }
};

export default plugin;
