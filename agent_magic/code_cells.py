"""run_python leaves real cells: the code each `run_python` ran, kept per turn and put into the notebook.

`CodeCellCollector` (one per `%%agent` cell) gathers the code from the turn's events; when the turn ends
it is added to the kernel's `CodeHistory` and, with `AgentMagic.code_cells = "insert"`, sent to the
JupyterLab / Notebook 7 companion, which inserts one code cell per run below the agent cell (tagged
`agent-magic`, the turn in its metadata) without running it. Where no companion listens, `%agent cells`
prints the turn's code as one block and offers it as the next cell.

Each such cell starts with `%%agent_code --turn T --cell C`. Run again later (Run All, papermill, CI), it
does nothing while the agent has done its work in this kernel: when the `%%agent` cell above ran this very
code (a replayed or identical run), or ran again and produced other code (the cell is from an earlier
run); otherwise (its agent cell was deleted, the code was edited) it runs like any cell. So re-running a
notebook never runs the agent's code twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from agent_magic.errors import AgentError
from agent_magic.events import Event, ToolCall, ToolCallStarted, ToolFinished, TurnEnded, TurnStarted
from agent_magic.llm.recording import digest

CELL_TAG = "agent-magic"
PYTHON_TOOL = "run_python"
NEVER_RAN = frozenset({"syntax_error", "invalid_arguments", "unknown_tool"})  # the code did not start
KEPT_TURNS = 100


@dataclass(frozen=True)
class CodeRun:
    """One `run_python` call that ran: its code, and how it ended when not cleanly (`python_error`…)."""

    call_id: str
    code: str
    error: str | None = None


@dataclass
class TurnCode:
    """The code one turn ran, in run order, and the agent cell it belongs to."""

    turn_id: str
    cell_id: str | None
    runs: list[CodeRun] = field(default_factory=list)

    def header(self) -> str:
        """The first line of a cell holding this turn's code (see the module docstring)."""
        cell = f" --cell {self.cell_id}" if self.cell_id else ""
        return f"%%agent_code --turn {self.turn_id}{cell}"

    def cells(self) -> list[dict[str, Any]]:
        """One code cell per run, as the companion inserts them: source and metadata."""
        return [
            {
                "source": f"{self.header()}\n{_annotated(run)}",
                "metadata": {
                    "tags": [CELL_TAG],
                    "agent_magic": {"turn_id": self.turn_id, "agent_cell": self.cell_id, "call_id": run.call_id},
                },
            }
            for run in self.runs
        ]

    def block(self) -> str:
        """Every run of the turn in one cell (`%agent cells`)."""
        return f"{self.header()}\n" + "\n\n".join(_annotated(run) for run in self.runs)


def _annotated(run: CodeRun) -> str:
    code = run.code.rstrip("\n")
    return f"{code}\n# (the agent's run of this code ended with: {run.error})" if run.error else code


class CodeHistory:
    """What `run_python` ran in this kernel: the latest turns' code, and what `%%agent_code` checks."""

    def __init__(self) -> None:
        self.turns: deque[TurnCode] = deque(maxlen=KEPT_TURNS)
        self._ran: set[str] = set()
        self._latest_turn: dict[str, str] = {}  # agent cell id -> its latest turn in this kernel

    def add(self, turn: TurnCode) -> None:
        """Remember a finished turn's code."""
        if turn.cell_id:
            self._latest_turn[turn.cell_id] = turn.turn_id
        if turn.runs:
            self.turns.append(turn)
            self._ran.update(digest(_annotated(run).strip()) for run in turn.runs)
            self._ran.add(digest(_body(turn.block())))

    def last(self) -> TurnCode | None:
        """The latest turn that ran code."""
        return self.turns[-1] if self.turns else None

    def skip_reason(self, code: str, *, turn: str | None, cell: str | None) -> str | None:
        """Why a `%%agent_code` cell must not run `code` again, or None when it should run."""
        if digest(code.strip()) in self._ran:
            return "the agent already ran this code in this kernel"
        latest = self._latest_turn.get(cell or "")
        if latest is not None and latest != turn:
            return f"its %%agent cell ran again in this kernel (turn {latest}); this is the code of an earlier run"
        return None


def _body(cell_source: str) -> str:
    """A `%%agent_code` cell's code: its source without the header line."""
    return cell_source.split("\n", 1)[1].strip() if "\n" in cell_source else ""


class CodeCellCollector:
    """An `EventSubscriber` for one `%%agent` cell: gathers the code its turn ran; at the end adds it to
    `history` and hands the cells to `publish` (the companion's comm), when given."""

    def __init__(self, history: CodeHistory, publish: Callable[[TurnCode], None] | None = None) -> None:
        self.history = history
        self.publish = publish
        self.turn: TurnCode | None = None
        self._started: dict[str, ToolCall] = {}

    def handle(self, event: Event) -> None:
        """Follow run_python calls; at the turn's end, keep and publish its code."""
        if isinstance(event, TurnStarted):
            self.turn = TurnCode(event.turn_id, event.cell_id)
        elif isinstance(event, ToolCallStarted) and event.call.name == PYTHON_TOOL:
            self._started[event.call.call_id] = event.call
        elif isinstance(event, ToolFinished) and event.call.call_id in self._started:
            call = self._started.pop(event.call.call_id)
            if event.error_code not in NEVER_RAN:
                self._keep(call, None if event.ok else event.error_code)
        elif isinstance(event, TurnEnded) and self.turn is not None:
            for call in self._started.values():  # interrupted mid-run: it may have changed the state
                self._keep(call, "interrupted")
            self._started.clear()
            self.history.add(self.turn)
            if self.publish is not None and self.turn.runs and self.turn.cell_id:
                self.publish(self.turn)

    def _keep(self, call: ToolCall, error: str | None) -> None:
        code = (call.decoded.values or {}).get("code")
        if self.turn is not None and isinstance(code, str) and code.strip():
            self.turn.runs.append(CodeRun(call.call_id, code, error))


class AgentCodeFailed(AgentError):
    """A `%%agent_code` cell's code raised (its traceback is shown above this line)."""


@magics_class
class AgentCodeMagics(Magics):
    """`%%agent_code`: the cell magic of the code cells the agent's `run_python` calls leave."""

    def __init__(self, shell: Any, history: CodeHistory) -> None:
        super().__init__(shell)
        self.history = history

    @magic_arguments()
    @argument("--turn", metavar="TURN", help="the agent turn that ran this code")
    @argument("--cell", metavar="CELL_ID", help="the id of the %%agent cell that turn belongs to")
    @cell_magic("agent_code")
    def agent_code(self, line: str, cell: str) -> None:
        """Code the agent ran with run_python, kept as a cell below its %%agent cell.

        Does nothing while the agent has done this work in this kernel (the %%agent cell above ran this
        code, or ran again and produced other code); otherwise runs the code like any cell.
        """
        args = parse_argstring(self.agent_code, line)
        reason = self.history.skip_reason(cell, turn=args.turn, cell=args.cell)
        if reason is not None:
            print(f"↷ not run: {reason}")
            return
        result = self.shell.run_cell(cell)
        if not result.success:
            raise AgentCodeFailed("the agent's code raised (traceback above)")


def register_code_magics(shell: Any, history: CodeHistory) -> None:
    """Install `%%agent_code` (see `magic.register`)."""
    shell.register_magics(AgentCodeMagics(shell, history))


def unregister_code_magics(shell: Any) -> None:
    """Remove `%%agent_code` (see `magic.unregister`)."""
    shell.magics_manager.registry.pop(AgentCodeMagics.__name__, None)
    shell.magics_manager.magics["cell"].pop("agent_code", None)
