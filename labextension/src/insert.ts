import type { IFoundCell } from './cells';
import type { IInsertCells } from './protocol';

/** The tag of the code cells the agent's `run_python` calls leave. */
export const AGENT_CODE_TAG = 'agent-magic';

/** What the insertion needs to know of a cell: its tags and the agent cell it was inserted for. */
export interface ICellFacts {
  tags: string[];
  agentCell: string | null;
}

/** The tags and the `agent_magic.agent_cell` of a cell's metadata. */
export function cellFacts(metadata: Record<string, unknown>): ICellFacts {
  const tags = Array.isArray(metadata.tags) ? metadata.tags.filter((t): t is string => typeof t === 'string') : [];
  const agent = metadata.agent_magic as { agent_cell?: unknown } | undefined;
  return { tags, agentCell: typeof agent?.agent_cell === 'string' ? agent.agent_cell : null };
}

/**
 * How many cells right below the agent cell at `agentIndex` an earlier run of it inserted: the unbroken
 * run of cells tagged `agent-magic` that name that agent cell. They are replaced, so re-running an agent
 * cell never piles up copies.
 */
export function earlierInserted(cells: ICellFacts[], agentIndex: number, agentCellId: string): number {
  let count = 0;
  for (let index = agentIndex + 1; index < cells.length; index++) {
    const facts = cells[index];
    if (!facts.tags.includes(AGENT_CODE_TAG) || facts.agentCell !== agentCellId) {
      break;
    }
    count++;
  }
  return count;
}

/**
 * Insert a turn's code cells below its agent cell (`found`, null when no open notebook holds it),
 * replacing what an earlier run of that cell inserted. The cells are not run. Returns false when
 * there is no agent cell to insert below.
 */
export function insertAgentCode(found: IFoundCell | null, message: IInsertCells): boolean {
  const model = found?.panel.content.model;
  if (!found || !model || !message.cell_id) {
    return false;
  }
  const shared = model.sharedModel;
  const facts = Array.from(model.cells, cell => cellFacts(cell.sharedModel.getMetadata() as Record<string, unknown>));
  const replaced = earlierInserted(facts, found.index, message.cell_id);
  shared.transact(() => {
    if (replaced > 0) {
      shared.deleteCellRange(found.index + 1, found.index + 1 + replaced);
    }
    shared.insertCells(
      found.index + 1,
      message.cells.map(cell => ({ cell_type: 'code', source: cell.source, metadata: cell.metadata as any }))
    );
  });
  return true;
}
