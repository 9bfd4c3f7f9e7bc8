/**
 * The messages exchanged with the kernel over the `agent_magic` comm: schema version 1.
 *
 * Mirrors `agent_magic/ui/lab_protocol.py`; docs/jupyterlab.md documents the schema. Every message is a JSON
 * object with `v` (the schema version) and `type`. Unknown types are ignored, so fields and types can
 * be added without a version bump; a message of another version is ignored as a whole.
 */

/** The comm target the Python package registers in the kernel. */
export const COMM_TARGET = 'agent_magic';

/** The schema version this extension speaks. */
export const SCHEMA_VERSION = 1;

/** Totals of one model in the usage summary. */
export interface IModelUsage {
  model: string;
  calls: number;
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
  /** Dollars; null when the model has no known price. */
  cost_usd: number | null;
}

/** Totals of one tool in the usage summary. */
export interface IToolUsage {
  tool: string;
  calls: number;
  denied: number;
  failed: number;
}

/**
 * The conversation's usage: the ledger's `session_totals()` (the numbers `%agent usage` reports).
 */
export interface IUsageSummary {
  session: string | null;
  model_calls: number;
  input_tokens: number;
  output_tokens: number;
  /** input + output tokens. */
  tokens: number;
  /** Dollars of the priced calls; null when no call could be priced. */
  cost_usd: number | null;
  /** Models without a price: their calls are not in `cost_usd`. */
  unpriced_models: string[];
  tool_calls: number;
  by_model: IModelUsage[];
  by_tool: IToolUsage[];
}

/** The turn under way in the kernel. */
export interface IRunningTurn {
  turn_id: string;
  cell_id: string | null;
}

/** A tool call waiting for Approve/Deny. */
export interface IApprovalRequested {
  v: number;
  type: 'approval_requested';
  turn_id: string;
  call_id: string;
  tool: string;
  cell_id: string | null;
}

/** One code cell to insert: its source and its metadata (tags, the agent turn it comes from). */
export interface IInsertedCell {
  source: string;
  metadata: Record<string, unknown>;
}

/**
 * Code the agent's `run_python` ran in one turn, to insert as code cells below the agent cell
 * `cell_id`, in order, replacing the cells an earlier run of that agent cell inserted. Never run.
 */
export interface IInsertCells {
  v: number;
  type: 'insert_cells';
  turn_id: string;
  cell_id: string | null;
  cells: IInsertedCell[];
}

/** Kernel → frontend messages. */
export type KernelMessage =
  | {
      v: number;
      type: 'state';
      running: IRunningTurn | null;
      approvals: IApprovalRequested[];
      usage: IUsageSummary;
    }
  | { v: number; type: 'usage'; usage: IUsageSummary }
  | {
      v: number;
      type: 'turn_started';
      session_id: string;
      turn_id: string;
      cell_id: string | null;
      execution_count: number | null;
      model: string;
    }
  | IApprovalRequested
  | {
      v: number;
      type: 'approval_decided';
      turn_id: string;
      call_id: string;
      decision: string;
      cell_id: string | null;
    }
  | {
      v: number;
      type: 'turn_ended';
      turn_id: string;
      cell_id: string | null;
      state: string;
    }
  | IInsertCells;

/** Frontend → kernel messages. */
export type FrontendMessage = { v: number; type: 'stop' };

const KNOWN_TYPES = new Set([
  'state',
  'usage',
  'turn_started',
  'approval_requested',
  'approval_decided',
  'turn_ended',
  'insert_cells'
]);

/**
 * Read one comm message's data: the typed message, or null when it is of another schema version,
 * malformed, or of a type this extension does not know.
 */
export function parseKernelMessage(data: unknown): KernelMessage | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const record = data as { v?: unknown; type?: unknown };
  if (record.v !== SCHEMA_VERSION || typeof record.type !== 'string') {
    return null;
  }
  if (!KNOWN_TYPES.has(record.type)) {
    return null;
  }
  const hasUsage = (value: unknown): boolean =>
    typeof value === 'object' && value !== null && Array.isArray((value as IUsageSummary).by_model);
  if ((record.type === 'usage' || record.type === 'state') && !hasUsage((data as { usage?: unknown }).usage)) {
    return null;
  }
  if (record.type === 'insert_cells' && !areCells((data as { cells?: unknown }).cells)) {
    return null;
  }
  return data as KernelMessage;
}

/** True for a list of `{source: string, metadata: object}`. */
function areCells(value: unknown): value is IInsertedCell[] {
  return (
    Array.isArray(value) &&
    value.every(
      cell =>
        typeof cell === 'object' &&
        cell !== null &&
        typeof (cell as IInsertedCell).source === 'string' &&
        typeof (cell as IInsertedCell).metadata === 'object' &&
        (cell as IInsertedCell).metadata !== null
    )
  );
}

/** The message that asks the kernel to stop the running turn. */
export function stopMessage(): FrontendMessage {
  return { v: SCHEMA_VERSION, type: 'stop' };
}

/** An empty summary, shown before the kernel has reported anything. */
export function emptyUsage(): IUsageSummary {
  return {
    session: null,
    model_calls: 0,
    input_tokens: 0,
    output_tokens: 0,
    tokens: 0,
    cost_usd: 0,
    unpriced_models: [],
    tool_calls: 0,
    by_model: [],
    by_tool: []
  };
}
