"""IPython glue: the `%%agent` cell magic, the `%agent` line magic, and the cell rewriting that keeps the
kernel's event loop running while a turn is under way.

A `%%agent` cell is rewritten by an input transformer into a top-level
`await get_ipython().magics_manager.registry["AgentMagics"].run_cell_async(line, body)`, so the cell
stays running until the turn ends ("Run All" waits) while the kernel keeps serving comm messages
(widget clicks) and the interrupt arrives as `asyncio.CancelledError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from agent_magic.config import AgentMagic
from agent_magic.errors import AgentError
from agent_magic.events import TurnEnded, TurnState
from agent_magic.runtime import AgentRuntime
from agent_magic.ui import lab_comm

SUBCOMMANDS = {
    "help": "show this help",
    "reset": "start a new conversation",
    "history": "print the conversation so far",
    "config": "print the effective settings",
    "tools": "list the tools the model may call",
    "last-error": "show the last failed turn's error in full",
    "usage": "tokens, dollars and tool calls of this notebook (--plot: a chart)",
}


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
    registry = 'get_ipython().magics_manager.registry["AgentMagics"]'
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


@magics_class
class AgentMagics(Magics):
    """The `%%agent` / `%agent` magics; one instance per shell, holding the `AgentRuntime`."""

    def __init__(self, shell: InteractiveShell, config: AgentMagic) -> None:
        super().__init__(shell)
        self.runtime = AgentRuntime(config, shell.user_ns)

    def _renderer(self) -> Any:
        if getattr(self.shell, "kernel", None) is not None:
            from agent_magic.ui.notebook import NotebookRenderer

            return NotebookRenderer(interval=self.runtime.config.display_interval)
        from agent_magic.ui.terminal import TerminalRenderer

        return TerminalRenderer()

    @magic_arguments()
    @argument("-m", "--model", help="model for this cell (e.g. gpt-4.1-mini, llama3.1, demo)")
    @argument("--new", action="store_true", help="start a fresh conversation before this cell")
    @argument(
        "--approve",
        metavar="TOOLS",
        help="pre-approve these tools for this cell, e.g. write_file,run_python (all: every tool, with a warning)",
    )
    @argument(
        "--max-steps", type=int, metavar="N", help="most model calls in this turn (default: AgentMagic.max_steps)"
    )
    @argument("--max-cost", type=float, metavar="USD", help="most dollars this turn may spend, e.g. 0.50")
    @argument("--plot", action="store_true", help="with %%agent usage: also draw cost over time and by tool")
    @argument(
        "words",
        nargs="*",
        help="line magic only: a subcommand (help, reset, history, config, tools, last-error, usage)",
    )
    @line_cell_magic
    def agent(self, line: str, cell: str | None = None) -> None:
        """Ask the AI agent; the answer streams into the cell, tool calls appear as they run.

        Cell magic::

            %%agent [--model NAME] [--new] [--max-steps N] [--max-cost USD]
            Which columns of df have missing values?

        Line magic::

            %agent help | reset | history | config | tools | last-error | usage [--plot]

        The conversation continues across cells until `%agent reset` or `--new`. Settings live in
        `%config AgentMagic` (model, base_url, max_steps, workspace, …); the endpoint follows
        OPENAI_API_KEY / OPENAI_BASE_URL like the openai SDK. `--model demo` is an offline scripted demo.
        """
        if cell is None:
            return self._line(line)
        # Reached only when the input transformer did not rewrite the cell (autoawait off, or a direct
        # run_cell_magic call): run the turn to completion on a private event loop.
        coroutine = self.run_cell_async(line, cell)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    def _parse_cell_options(self, line: str) -> Any:
        args = parse_argstring(self.agent, line)
        if args.words:
            raise UsageError(
                f"unexpected text after %%agent: {' '.join(args.words)!r}; the prompt goes on the next lines"
            )
        if args.max_steps is not None and args.max_steps < 1:
            raise UsageError("--max-steps must be at least 1")
        if args.max_cost is not None and not args.max_cost > 0:
            raise UsageError("--max-cost must be a positive number of dollars, e.g. --max-cost 0.50")
        if args.plot:
            raise UsageError("--plot belongs to %agent usage, not to a %%agent cell")
        return args

    async def run_cell_async(self, line: str, body: str) -> None:
        """Run one `%%agent` cell: parse options, stream the turn into the cell, end as the turn ended."""
        args = self._parse_cell_options(line)
        prompt = body.strip()
        if not prompt:
            raise UsageError("the %%agent cell is empty: write your request on the lines below %%agent")
        runtime = self.runtime
        if args.new:
            runtime.new_session()
        settings = runtime.turn_settings(model=args.model, max_steps=args.max_steps, max_cost=args.max_cost)
        runtime.endpoint_for(settings.model)  # fail fast, before anything is shown, when unconfigured
        renderer = self._renderer()
        subscribers = [renderer, *runtime.subscribers]
        cell_id, execution_count = _cell_provenance(self.shell)
        from agent_magic.ui.approval_askers import use_cell_approval

        restore_approval = use_cell_approval(runtime.session, self.shell, runtime.config, args.approve)
        ended: TurnEnded | None = None
        turn = runtime.session.run_turn(prompt, settings, cell_id=cell_id, execution_count=execution_count)
        runtime.turn_task, runtime.stop_requested = asyncio.current_task(), False
        try:
            async with _signal_heartbeat():
                async for event in turn:
                    for subscriber in subscribers:
                        subscriber.handle(event)
                    if isinstance(event, TurnEnded):
                        ended = event
        finally:
            runtime.turn_task = None
            restore_approval()
            renderer.close()
            await turn.aclose()
        if ended is None:
            return
        from agent_magic.session import TurnStopped

        if ended.state is TurnState.CANCELLED and not isinstance(ended.error, TurnStopped):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                if runtime.stop_requested:  # "Stop agent turn" from JupyterLab: end the cell quietly
                    task.uncancel()
                    return
                raise asyncio.CancelledError("agent turn interrupted")
        if ended.state is TurnState.FAILED:
            raise AgentTurnFailed(f"{ended.message} (details: %agent last-error)")

    # -- line magic -----------------------------------------------------------------------------------

    def _line(self, line: str) -> None:
        args = parse_argstring(self.agent, line)
        if not args.words:
            raise UsageError(
                "%agent needs a subcommand: " + ", ".join(SUBCOMMANDS) + " (or use %%agent as a cell magic)"
            )
        command, *rest = args.words
        if command not in SUBCOMMANDS:
            raise UsageError(f"unknown subcommand {command!r}; try: " + ", ".join(SUBCOMMANDS))
        if rest:
            raise UsageError(f"%agent {command} takes no arguments (got {' '.join(rest)!r})")
        if command == "usage":
            return self._cmd_usage(plot=args.plot)
        if args.plot:
            raise UsageError("--plot goes with %agent usage")
        getattr(self, "_cmd_" + command.replace("-", "_"))()

    def _cmd_usage(self, *, plot: bool = False) -> None:
        from agent_magic.ledger.summary import show_usage

        show_usage(self.runtime.ledger, plot=plot)

    def _cmd_help(self) -> None:
        print(self.agent.__doc__)
        print("Subcommands of %agent:")
        for name, text in SUBCOMMANDS.items():
            print(f"  {name:<11} {text}")

    def _cmd_reset(self) -> None:
        session = self.runtime.new_session()
        print(f"New conversation (session {session.session_id}).")

    def _cmd_history(self) -> None:
        messages = self.runtime.session.messages
        if not messages:
            print("The conversation is empty.")
            return
        for message in messages:
            role = message["role"]
            content = message.get("content") or ""
            if role == "tool":
                content = content if len(content) <= 300 else content[:300] + " …"
            print(f"[{role}] {content}".rstrip())
            for call in message.get("tool_calls") or ():
                print(f"    → {call['function']['name']}({call['function']['arguments']})")

    def _cmd_config(self) -> None:
        for name, value in self.runtime.config.effective_settings().items():
            print(f"{name:<22} {value}")

    def _cmd_tools(self) -> None:
        for tool in self.runtime.session.tools:
            approval = "needs approval" if tool.destructive else "read-only"
            first_line = tool.description.splitlines()[0] if tool.description else ""
            print(f"{tool.name:<18} {approval:<15} {first_line}")

    def _cmd_last_error(self) -> None:
        failed = [t for t in self.runtime.session.turns if t.error is not None]
        if not failed:
            print("No turn in this conversation has failed.")
            return
        record = failed[-1]
        from agent_magic.policy.secrets import mask_secrets  # a server may echo credentials in its error

        print(f"turn {record.turn_id}: {mask_secrets(record.message)}")
        print("states: " + " → ".join(state.value for state in record.states))
        error = record.error
        chain = []
        while error is not None:
            chain.append(mask_secrets(f"{type(error).__module__}.{type(error).__name__}: {error}"))
            error = error.__cause__ or error.__context__
        print("\n".join("  caused by " + c if i else c for i, c in enumerate(chain)))
        attempts = getattr(record.error, "attempts", ())
        if attempts:
            print(f"attempts ({len(attempts)}):")
            print(mask_secrets("\n".join("  " + attempt.describe() for attempt in attempts)))


def register(shell: InteractiveShell) -> AgentMagics:
    """Install the configuration, the magics, the cell rewriting and the one-line error display."""
    config = AgentMagic(parent=shell)
    shell.configurables.append(config)
    magics = AgentMagics(shell, config)
    shell.register_magics(magics)
    magics.lab_comm = lab_comm.attach(shell, magics.runtime)
    if getattr(shell, "autoawait", False) and _rewrite_agent_cell not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(_rewrite_agent_cell)
    shell.set_custom_exc((AgentError,), _show_one_line)
    return magics


def unregister(shell: InteractiveShell) -> None:
    """Undo `register` (for %unload_ext / %reload_ext)."""
    if _rewrite_agent_cell in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(_rewrite_agent_cell)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, AgentMagic)]
    shell.set_custom_exc((), None)
    magics = shell.magics_manager.registry.pop("AgentMagics", None)
    lab_comm.detach(shell, getattr(magics, "lab_comm", None))
    shell.magics_manager.magics["cell"].pop("agent", None)
    shell.magics_manager.magics["line"].pop("agent", None)
