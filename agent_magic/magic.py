"""IPython glue: the `%%agent` cell magic, the `%agent` line magic, and the cell rewriting that keeps the
kernel's event loop running while a turn is under way.

A `%%agent` cell is rewritten by an input transformer into a top-level
`await get_ipython().magics_manager.registry["AgentMagics"].run_cell_async(line, body)`, so the cell
stays running until the turn ends ("Run All" waits) while the kernel keeps serving comm messages
(widget clicks) and the interrupt arrives as `asyncio.CancelledError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shlex
from collections.abc import AsyncIterator, Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from agent_magic.blocking import run_blocking
from agent_magic.code_cells import register_code_magics, unregister_code_magics
from agent_magic.commands import SUBCOMMANDS, CommandContext, Subcommand
from agent_magic.config import AgentMagic
from agent_magic.dispatch import EventDispatch
from agent_magic.errors import AgentError, TurnStopped
from agent_magic.events import TurnEnded, TurnState
from agent_magic.kernel import MAGICS_NAME
from agent_magic.runtime import AgentRuntime
from agent_magic.ui import lab_comm

# How often the main thread wakes while a turn runs. SIGINT may be delivered to a worker thread (a tool
# running in a thread); Python only runs signal handlers on the main thread when it executes bytecode,
# and asyncio's idle epoll has no wakeup fd, so without a tick an interrupt could wait for minutes.
SIGNAL_CHECK_INTERVAL = 0.2


@contextlib.asynccontextmanager
async def _signal_heartbeat() -> AsyncIterator[None]:
    """Keep the main thread ticking so the kernel's interrupt handler runs promptly."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(SIGNAL_CHECK_INTERVAL)

    ticker = asyncio.ensure_future(tick())
    try:
        yield
    finally:
        ticker.cancel()


class AgentTurnFailed(AgentError):
    """Raised at the end of a cell whose turn failed, so "Run All" and headless runs stop there."""


def _rewrite_agent_cell(lines: list[str]) -> list[str]:
    """Input transformer: turn a `%%agent` cell into an awaited coroutine call (see module docstring)."""
    if not lines or not lines[0].startswith("%%agent"):
        return lines
    first = lines[0].rstrip("\n")
    rest = first[len("%%agent") :]
    if (rest and not rest[0].isspace()) or first.rstrip().endswith("?"):
        return lines  # another magic (%%agentfoo) or a help request (%%agent?): leave it to IPython
    body = "".join(lines[1:])
    registry = f'get_ipython().magics_manager.registry["{MAGICS_NAME}"]'
    return [f"await {registry}.run_cell_async({rest.strip()!r}, {body!r})\n"]


# IPython's check_complete (which decides when terminal input is finished) skips cleanup transforms
# flagged like this; without it a `%%agent` line would look complete before the prompt is typed.
_rewrite_agent_cell.has_side_effects = True  # type: ignore[attr-defined]


def _show_one_line(shell: InteractiveShell, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list:
    """Custom exception handler: our errors are shown as one line, never as a traceback."""
    lines = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, lines)
    return lines


def _cell_provenance(shell: InteractiveShell) -> tuple[str | None, int | None]:
    """The running cell's id (sent by JupyterLab / nbclient in the request metadata) and count."""
    kernel = getattr(shell, "kernel", None)
    cell_id = None
    if kernel is not None:
        try:
            cell_id = kernel.get_parent().get("metadata", {}).get("cellId")
        except Exception:  # older kernels: no parent accessor; provenance is best-effort
            cell_id = None
    return cell_id, getattr(shell, "execution_count", None)


def subcommands_help() -> str:
    """The `%agent` subcommands, one line each (also the tail of `%agent?`)."""
    lines = [f"  {'help':<24} show this help"]
    lines += [f"  {command.usage():<24} {command.help}" for command in SUBCOMMANDS]
    return "Subcommands of %agent:\n" + "\n".join(lines)


@magics_class
class AgentMagics(Magics):
    """The `%%agent` / `%agent` magics; one instance per shell, holding the `AgentRuntime`."""

    def __init__(self, shell: InteractiveShell, config: AgentMagic) -> None:
        super().__init__(shell)
        self.runtime = AgentRuntime(config, shell.user_ns)
        self.commands: dict[str, Subcommand] = {command.name: command for command in SUBCOMMANDS}

    @magic_arguments()
    @argument("-m", "--model", help="model for this cell (e.g. gpt-4.1-mini, llama3.1, demo)")
    @argument("--new", action="store_true", help="start a fresh conversation before this cell")
    @argument(
        "--session",
        metavar="NAME",
        help="run this cell in the conversation called NAME (created on first use; after a restart it continues "
        "from the ledger)",
    )
    @argument(
        "--approve",
        metavar="TOOLS",
        help="pre-approve these tools for this cell, e.g. write_file,run_python (all: every tool, with a warning)",
    )
    @argument(
        "--max-steps", type=int, metavar="N", help="most model calls in this turn (default: AgentMagic.max_steps)"
    )
    @argument("--max-cost", type=float, metavar="USD", help="most dollars this turn may spend, e.g. 0.50")
    @argument("-o", "--output", metavar="NAME", help="bind the final answer (a str) to the variable NAME")
    @argument(
        "--schema",
        metavar="CLS",
        help="with -o: ask for JSON matching CLS (a pydantic BaseModel, dataclass or TypedDict, or list[CLS]) "
        "and bind the validated CLS instance",
    )
    @argument(
        "--estimate", action="store_true", help="send nothing: show the next call's input tokens and dollar range"
    )
    @cell_magic("agent")
    def agent_cell(self, line: str, cell: str) -> None:
        """Ask the AI agent; the answer streams into the cell, tool calls appear as they run.

        ::

            %%agent [--model NAME] [--new] [--session NAME] [--approve TOOLS] [--max-steps N] [--max-cost USD]
                    [-o NAME [--schema CLS]] [--estimate]
            Which columns of df have missing values?

        The conversation continues across cells until `%agent reset` or `--new`; `--session NAME` (or
        `%agent session NAME`) keeps several apart, and named ones survive a restart. Settings live in
        `%config AgentMagic` (model, base_url, max_steps, workspace, …); the endpoint follows
        OPENAI_API_KEY / OPENAI_BASE_URL like the openai SDK. `--model demo` is an offline scripted demo.
        See `%agent help` for the line magic's subcommands.
        """
        # Reached only when the input transformer did not rewrite the cell (autoawait off, or a direct
        # run_cell_magic call): run the turn to completion on a private event loop.
        return run_blocking(self.run_cell_async(line, cell))

    @line_magic("agent")
    def agent_line(self, line: str) -> None:
        """Manage the agent: `%agent SUBCOMMAND [ARGS]` (the cell magic `%%agent` asks it).

        Run `%agent help` for the subcommands.
        """
        try:
            words = shlex.split(line)
        except ValueError as exc:  # an unclosed quote
            raise UsageError(f"%agent {line.strip()}: {exc}") from None
        if not words:
            raise UsageError(
                "%agent needs a subcommand: help, " + ", ".join(self.commands) + " (or use %%agent as a cell magic)"
            )
        name, *rest = words
        if name == "help":
            print(self.agent_cell.__doc__)
            print(subcommands_help())
            return
        command = self.commands.get(name)
        if command is None:
            raise UsageError(f"unknown subcommand {name!r}; try: help, " + ", ".join(self.commands))
        args = command.parser().parse_args(rest)
        command.run(CommandContext(self.runtime, self.shell), args)

    def _parse_cell_options(self, line: str) -> Any:
        args = parse_argstring(self.agent_cell, line)
        if args.max_steps is not None and args.max_steps < 1:
            raise UsageError("--max-steps must be at least 1")
        if args.max_cost is not None and not args.max_cost > 0:
            raise UsageError("--max-cost must be a positive number of dollars, e.g. --max-cost 0.50")
        return args

    async def run_cell_async(self, line: str, body: str) -> None:
        """Run one `%%agent` cell: parse options, stream the turn into the cell, end as the turn ended."""
        args = self._parse_cell_options(line)
        prompt = body.strip()
        if not prompt:
            raise UsageError("the %%agent cell is empty: write your request on the lines below %%agent")
        from agent_magic.cell_work import CellWork, show_estimate

        runtime = self.runtime
        work = CellWork.prepare(args, runtime, self.shell.user_ns, getattr(self, "lab_comm", None))
        if args.estimate:
            return await show_estimate(runtime, args, prompt, work)
        runtime.select_session(args.session, fresh=args.new)
        settings = runtime.turn_settings(
            model=args.model, max_steps=args.max_steps, max_cost=args.max_cost, **work.settings()
        )
        if runtime.replay.mode == "off":  # replayed turns may need no endpoint at all
            runtime.endpoint_for(settings.model)  # fail fast, before anything is shown, when unconfigured
        notices = await runtime.prepare_tools()  # MCP servers start first, so --approve can name their tools
        notices = [*notices, *runtime.instructions.take_notices()]  # e.g. AGENTS.md cut to its size cap
        from agent_magic.ui.approval_askers import cell_approver

        session = runtime.session
        try:
            approver = cell_approver(runtime.gate, session.tools.names(), self.shell, runtime.config, args.approve)
        except AgentError:
            if notices:  # e.g. why the MCP server of a tool --approve names is not running
                print("\n".join(notices))
            raise
        from agent_magic.ui.renderers import renderer_for

        renderer = renderer_for(self.shell, runtime.config, turn_metadata=work.turn_metadata)
        dispatch = EventDispatch([renderer, *runtime.subscribers, *work.subscribers])
        cell_id, execution_count = _cell_provenance(self.shell)
        ended: TurnEnded | None = None
        turn = session.run_turn(
            prompt, settings, approver=approver, cell_id=cell_id, execution_count=execution_count, notices=notices
        )
        runtime.turn_task, runtime.stop_requested = asyncio.current_task(), False
        try:
            async with _signal_heartbeat():
                async for event in turn:
                    dispatch.deliver(event)
                    if isinstance(event, TurnEnded):
                        ended = event
        finally:
            runtime.turn_task = None
            try:
                dispatch.close()
            finally:
                renderer.close()
                await turn.aclose()
        work.finish(ended)
        if ended is None:
            return
        if ended.state is TurnState.CANCELLED and not isinstance(ended.error, TurnStopped):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                if runtime.stop_requested:  # "Stop agent turn" from JupyterLab: end the cell quietly
                    task.uncancel()
                    return
                raise asyncio.CancelledError("agent turn interrupted")
        if ended.state is TurnState.FAILED:
            raise AgentTurnFailed(f"{ended.message} (details: %agent last-error)")


# `%agent?` ends with the subcommand table, so the table is the one source of the help.
AgentMagics.agent_line.__doc__ = f"{AgentMagics.agent_line.__doc__}\n{subcommands_help()}"


def register(shell: InteractiveShell) -> AgentMagics:
    """Install the configuration, the magics, the cell rewriting and the one-line error display."""
    config = AgentMagic(parent=shell)
    shell.configurables.append(config)
    magics = AgentMagics(shell, config)
    shell.register_magics(magics)
    register_code_magics(shell, magics.runtime.code_history)
    magics.lab_comm = _attach_lab_publisher(shell, magics.runtime)
    if getattr(shell, "autoawait", False) and _rewrite_agent_cell not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(_rewrite_agent_cell)
    shell.set_custom_exc((AgentError,), _show_one_line)
    return magics


def _attach_lab_publisher(shell: InteractiveShell, runtime: AgentRuntime) -> lab_comm.LabCommPublisher | None:
    """Publish the runtime's turns to the JupyterLab companion, when running in a kernel."""
    from agent_magic.ledger.context import LedgerContext
    from agent_magic.ledger.totals import read_session_totals
    from agent_magic.ui.lab_panel import PanelFeed, read_ledger

    def read_panel(scope: str) -> Callable[[], Any]:  # the ledger is opened here, on the event loop
        ledger = runtime.ledger
        return functools.partial(read_ledger, LedgerContext(ledger.store, ledger.notebook, ledger.user), scope)

    publisher = lab_comm.LabCommPublisher(
        stop_turn=runtime.stop_turn,
        read_totals=lambda session_id: read_session_totals(runtime.ledger.store, session_id),
        current_session=lambda: runtime.session.session_id,
        panel=PanelFeed(read_panel),
    )
    if not lab_comm.attach(shell, publisher):
        return None
    runtime.subscribers.append(publisher)
    return publisher


def unregister(shell: InteractiveShell) -> None:
    """Undo `register` (for %unload_ext / %reload_ext)."""
    if _rewrite_agent_cell in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(_rewrite_agent_cell)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, AgentMagic)]
    shell.set_custom_exc((), None)
    unregister_code_magics(shell)
    magics = shell.magics_manager.registry.pop(MAGICS_NAME, None)
    if magics is not None:
        magics.runtime.close()
    lab_comm.detach(shell, getattr(magics, "lab_comm", None))
    shell.magics_manager.magics["cell"].pop("agent", None)
    shell.magics_manager.magics["line"].pop("agent", None)
