"""Provenance in the saved notebook: how each answer was made, in the agent cell's output metadata.

`ProvenanceCollector` (one per `%%agent` cell) builds a compact record from the turn's events; the
notebook renderer attaches it as `metadata["agent_magic"]` to the turn's final output, which every
frontend saves with the notebook. `provenance("analysis.ipynb")` reads the records back as a
DataFrame, one row a turn.

The record (schema version 1, documented in docs/reproducibility.md): `v`, `version` (of agent_magic),
`turn_id`, `session_id`, `cell_id`, `state`, `started` (ISO 8601, UTC), `duration_s`, `model`
(`requested`, and `answered`: the models the server named), `steps`, `tokens` (`input`, `cached`,
`output`, `reasoning`), `cost_usd` (of the priced calls; null when none had a price), `cost_complete`
(every call priced), `replayed` (calls answered from a replay recording), `tools` (per call: `name`,
`arguments` with secrets masked and long values cut, `status`, `duration_s`, `decision`,
`decided_by`), and `output` (`-o NAME`, `--schema`).
No tool results and no transcript: it stays small, and it is plain JSON, so nbformat accepts it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.events import (
    ApprovalDecided,
    Event,
    ModelCallStarted,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    Usage,
)
from agent_magic.ledger.recorder import decision_label
from agent_magic.policy.secrets import mask_secrets

if TYPE_CHECKING:
    import pandas as pd

PROVENANCE_VERSION = 1
METADATA_KEY = "agent_magic"
MAX_ARGUMENT_CHARS = 300  # per argument value: the code cells keep run_python's code whole
MAX_TOOL_CALLS = 100  # a runaway turn must not make the notebook huge


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(value: Any) -> Any:
    """An argument value for the record: secrets masked, long text cut, nested values kept JSON."""
    if isinstance(value, str):
        value = mask_secrets(value)
        return value if len(value) <= MAX_ARGUMENT_CHARS else value[:MAX_ARGUMENT_CHARS] + f"… ({len(value):,} chars)"
    if isinstance(value, dict):
        return {str(k): _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def _arguments(call: ToolCall) -> Any:
    decoded = call.decoded
    return _short(decoded.values) if decoded.values is not None else _short(call.arguments)


@dataclass
class _ToolEntry:
    call: ToolCall
    status: str = "not run"
    duration_s: float | None = None
    decision: str = "auto"
    decided_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry = {"name": self.call.name, "arguments": _arguments(self.call), "status": self.status}
        if self.duration_s is not None:
            entry["duration_s"] = round(self.duration_s, 3)
        entry["decision"] = self.decision
        if self.decided_by is not None:
            entry["decided_by"] = self.decided_by
        return entry


@dataclass
class ProvenanceCollector:
    """An `EventSubscriber` for one `%%agent` cell; `record()` is the cell's provenance (the renderer's
    `turn_metadata`). `output` describes `-o NAME` / `--schema` when the cell binds its answer."""

    output: dict[str, Any] | None = None
    _turn: dict[str, Any] = field(default_factory=dict)
    _tokens: dict[str, int] = field(default_factory=lambda: {"input": 0, "cached": 0, "output": 0, "reasoning": 0})
    _cost: float = 0.0
    _priced: int = 0
    _unpriced: int = 0
    _answered: list[str] = field(default_factory=list)
    _replayed: int = 0
    _steps: int = 0
    _tools: dict[str, _ToolEntry] = field(default_factory=dict)

    def handle(self, event: Event) -> None:
        """Take one event of the turn."""
        if isinstance(event, TurnStarted):
            self._turn.update(
                turn_id=event.turn_id,
                session_id=event.session_id,
                cell_id=event.cell_id,
                requested=event.model,
                started_at=event.at,
            )
        elif isinstance(event, ModelCallStarted):
            self._steps = max(self._steps, event.step)
        elif isinstance(event, Usage):
            self._usage(event)
        elif isinstance(event, ApprovalDecided):
            entry = self._entry(event.call)
            entry.decision, entry.decided_by = decision_label(event.decision, event.decided_by), event.decided_by
        elif isinstance(event, ToolCallStarted):
            self._entry(event.call)
        elif isinstance(event, ToolFinished):
            entry = self._entry(event.call)
            entry.status = "ok" if event.ok else str(event.error_code)
            entry.duration_s = event.duration_s
        elif isinstance(event, TurnEnded):
            self._turn.update(state=event.state.value, ended_at=event.at)

    def _usage(self, event: Usage) -> None:
        for key, value in (
            ("input", event.input_tokens),
            ("cached", event.cached_tokens),
            ("output", event.output_tokens),
            ("reasoning", event.reasoning_tokens),
        ):
            self._tokens[key] += value
        if event.cost_usd is None:
            self._unpriced += 1
        else:
            self._priced += 1
            self._cost += event.cost_usd
        if event.response_model and event.response_model not in self._answered:
            self._answered.append(event.response_model)
        self._replayed += int(event.replayed)

    def _entry(self, call: ToolCall) -> _ToolEntry:
        entry = self._tools.get(call.call_id)
        if entry is None:
            entry = self._tools[call.call_id] = _ToolEntry(call)
        return entry

    def record(self) -> dict[str, Any]:
        """The provenance record of the cell's turn (empty before the turn started)."""
        from agent_magic import __version__

        turn = self._turn
        if not turn:
            return {}
        started, ended = turn["started_at"], turn.get("ended_at", turn["started_at"])
        tools = [entry.to_json() for entry in self._tools.values()]
        record: dict[str, Any] = {
            "v": PROVENANCE_VERSION,
            "version": __version__,
            "turn_id": turn["turn_id"],
            "session_id": turn["session_id"],
            "cell_id": turn["cell_id"],
            "state": turn.get("state", "running"),
            "started": _iso(started),
            "duration_s": round(ended - started, 3),
            "model": {"requested": turn["requested"], "answered": self._answered},
            "steps": self._steps,
            "tokens": dict(self._tokens),
            "cost_usd": None if self._unpriced and not self._priced else round(self._cost, 6),
            "cost_complete": not self._unpriced,
            "replayed": self._replayed,
            "tools": tools[:MAX_TOOL_CALLS],
        }
        if len(tools) > MAX_TOOL_CALLS:
            record["tools_omitted"] = len(tools) - MAX_TOOL_CALLS
        if self.output is not None:
            record["output"] = self.output
        return record


# -- reading it back ---------------------------------------------------------------------------------------

PROVENANCE_COLUMNS = [
    "cell",
    "cell_id",
    "execution_count",
    "turn",
    "session",
    "state",
    "started",
    "duration_s",
    "model",
    "answered_by",
    "steps",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_complete",
    "replayed_calls",
    "tool_calls",
    "tools",
    "output",
    "agent_magic_version",
]


def _row(index: int, cell: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    tokens, model, output = record.get("tokens") or {}, record.get("model") or {}, record.get("output") or {}
    tools = record.get("tools") or []
    cost = record.get("cost_usd")
    return {
        "cell": index,
        "cell_id": cell.get("id"),
        "execution_count": cell.get("execution_count"),
        "turn": record.get("turn_id"),
        "session": record.get("session_id"),
        "state": record.get("state"),
        "started": record.get("started"),
        "duration_s": record.get("duration_s"),
        "model": model.get("requested"),
        "answered_by": ", ".join(model.get("answered") or []) or None,
        "steps": record.get("steps"),
        "input_tokens": tokens.get("input"),
        "cached_tokens": tokens.get("cached"),
        "output_tokens": tokens.get("output"),
        "reasoning_tokens": tokens.get("reasoning"),
        "cost_usd": float("nan") if cost is None else cost,
        "cost_complete": record.get("cost_complete"),
        "replayed_calls": record.get("replayed", 0),
        "tool_calls": len(tools) + int(record.get("tools_omitted", 0)),
        "tools": [tool.get("name") for tool in tools],
        "output": output.get("name"),
        "agent_magic_version": record.get("version"),
    }


def _load(notebook: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(notebook, dict):
        return notebook
    path = Path(notebook).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a Jupyter notebook (not JSON: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError(f"{path} is not a Jupyter notebook (no list of cells)")
    return data


def provenance(notebook: str | os.PathLike[str] | dict[str, Any]) -> pd.DataFrame:
    """How each agent answer of a saved notebook was made: one row per `%%agent` turn, read from the
    cells' output metadata (`notebook`: a path, or a notebook already loaded as a dict).

    Columns: cell (index), cell_id, execution_count, turn, session, state, started (UTC), duration_s,
    model (requested), answered_by, steps, input/cached/output/reasoning_tokens, cost_usd (of the priced
    calls, NaN when none had a price), cost_complete, replayed_calls, tool_calls, tools (names), output
    (`-o NAME`), agent_magic_version.

    Example:
        >>> agent_magic.provenance("analysis.ipynb")[["cell", "model", "cost_usd", "tools"]]   # doctest: +SKIP
    """
    import pandas as pd

    rows, seen = [], set()
    for index, cell in enumerate(_load(notebook)["cells"]):
        for output in cell.get("outputs") or ():
            record = (output.get("metadata") or {}).get(METADATA_KEY)
            if isinstance(record, dict) and record.get("turn_id") and record["turn_id"] not in seen:
                seen.add(record["turn_id"])
                rows.append(_row(index, cell, record))
    frame = pd.DataFrame(rows, columns=PROVENANCE_COLUMNS)
    frame["started"] = pd.to_datetime(frame["started"], utc=True)
    for column in ("execution_count", "steps", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens"):
        frame[column] = frame[column].astype("Int64")
    frame["cost_usd"] = frame["cost_usd"].astype(float)
    return frame
