"""The per-kernel state behind the magics: configuration, the named sessions, model clients.

Kept apart from `magic.py` so the wiring (which client for which model, which tools, which
session) can be used and tested without IPython's magic machinery. What depends on a setting is rebuilt
when that setting changes (`AgentMagic.observe`), never polled.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.code_cells import CodeHistory
from agent_magic.config import DEMO_MODEL, AgentMagic, from_config
from agent_magic.conversation.book import Conversation, SessionBook
from agent_magic.errors import AgentUsageError
from agent_magic.events import Event, EventSubscriber, SessionOpened, SessionOrigin
from agent_magic.ledger.identity import current_user
from agent_magic.ledger.kernel_ledger import KernelLedger
from agent_magic.llm.breaker import BreakerBoard
from agent_magic.llm.rate_limit import RequestLimiter
from agent_magic.replay import ReplayLibrary
from agent_magic.telemetry import TelemetrySwitch

if TYPE_CHECKING:
    # The loop, the client and the tools load with the first turn, not at `%load_ext` (see
    # benchmarks/bench_stream.py): the methods below import them where they are used.
    from agent_magic.contracts import History, TurnSettings
    from agent_magic.conversation.compaction import Compactor
    from agent_magic.conversation.instructions import Instructions, ProjectInstructions
    from agent_magic.ledger.conversations import ConversationArchive
    from agent_magic.llm.client import EndpointSettings, ModelClient
    from agent_magic.llm.model import ChatModel
    from agent_magic.llm.pricing import PriceTable
    from agent_magic.llm.retry import RetryPolicy
    from agent_magic.policy.approval import ApprovalGate
    from agent_magic.policy.limits import Limits
    from agent_magic.policy.permissions import PermissionRules
    from agent_magic.session import Session
    from agent_magic.tools.context import ToolContext
    from agent_magic.tools.mcp.manager import McpManager
    from agent_magic.tools.registry import ToolRegistry
    from agent_magic.undo.files import FileSnapshots
    from agent_magic.undo.journal import UndoJournal

NO_MODEL_MESSAGE = (
    "No model endpoint is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for Azure, Ollama, vLLM, "
    "LM Studio…), or %config AgentMagic.base_url = '…'; or try the offline demo with %%agent --model demo"
)
STOPPED_MESSAGE = "stopped by user (Stop agent turn)"
# Local servers (Ollama, vLLM, LM Studio) accept any key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"

# The kernel-wide limits on model requests (one `RequestLimiter`, reconfigured in place).
LIMITER_TRAITS = ["requests_per_second", "requests_burst", "max_concurrent_requests"]
# The retry settings a model client is made with: a change drops the clients (a change of endpoint makes
# a new one anyway, as clients are kept per endpoint).
CLIENT_TRAITS = [
    "retry_max_attempts",
    "retry_initial_wait",
    "retry_max_wait",
    "retry_max_total_wait",
]

# The settings the tools' context is made from: a change gives the session a new context.
TOOL_TRAITS = [
    "max_tool_output_chars",
    "shell_sandbox",
    "shell_network",
    "shell_env_passthrough",
    "shell_limits",
    "home",
]


class AgentRuntime:
    """Everything one kernel's `%%agent` cells share."""

    def __init__(self, config: AgentMagic, namespace: dict[str, Any]) -> None:
        self.config = config
        self.namespace = namespace
        self._clients: dict[EndpointSettings, ModelClient] = {}
        # Kernel-wide, shared by every session: one request budget, one breaker per endpoint.
        self.rate_limiter = RequestLimiter(
            rate=config.requests_per_second,
            burst=config.requests_burst,
            max_concurrent=config.max_concurrent_requests,
        )
        self.breakers = BreakerBoard(threshold=config.breaker_threshold, cooldown=config.breaker_cooldown)
        # Subscribers that see every turn's events besides the cell's renderer (ledger, log, frontend).
        self.subscribers: list[EventSubscriber] = []
        # The usage ledger (SQLite rows, JSONL log); opened by the first event.
        self.ledger = KernelLedger(config, namespace)
        self.subscribers.append(self.ledger)
        # Replay (issue 12): records every answered model call, and answers from recordings when on.
        self.replay = ReplayLibrary(config, self.ledger)
        self.subscribers.append(self.replay)
        # The code run_python ran, per turn: inserted as cells, or shown by `%agent cells` (code_cells.py).
        self.code_history = CodeHistory()
        # Named conversations by name (kept in the ledger by `archive`, undone with `undo_journal`: both
        # subscribe when the first conversation opens, so `%load_ext` loads neither).
        self.conversations = SessionBook(self._open_conversation, lambda: self.archive)
        self._archive: ConversationArchive | None = None
        self._undo_journal: UndoJournal | None = None
        self._instructions: ProjectInstructions | None = None
        self._compactor: Compactor | None = None
        # -- telemetry (issue 15): OpenTelemetry export of each turn; the SDK loads only once it is on.
        self.telemetry = TelemetrySwitch(
            config,
            base_url_for=lambda model: self.live_client(model).base_url,
            user=current_user(),
            notebook=self.ledger.notebook,
        )
        self.subscribers.append(self.telemetry)
        # -- end telemetry
        # The task running the current `%%agent` cell, so a frontend's Stop can cancel it (see stop_turn).
        self.turn_task: asyncio.Task | None = None
        self.stop_requested = False
        self._mcp: McpManager | None = None
        self._prices: PriceTable | None = None
        self._rules: PermissionRules | None = None
        self._limits: dict[str, Limits] | None = None
        config.observe(self._clients_changed, names=CLIENT_TRAITS)
        config.observe(self._limiter_changed, names=LIMITER_TRAITS)
        config.observe(self._breakers_changed, names=["breaker_threshold", "breaker_cooldown"])
        config.observe(self._prices_changed, names=["prices", "base_url"])
        config.observe(self._rules_changed, names=["permissions"])
        config.observe(self._limits_changed, names=["turn_budget", "session_budget", "day_budget", "user_budget"])
        config.observe(self._tool_settings_changed, names=[*TOOL_TRAITS, "undo_turns", "undo_max_file_bytes"])
        config.observe(
            self._compaction_changed, names=["context_windows", "compaction_threshold", "compaction_keep_turns"]
        )

    # -- reacting to %config ---------------------------------------------------------------------------

    def _clients_changed(self, _change: Any) -> None:
        self._clients.clear()

    def _limiter_changed(self, _change: Any) -> None:
        cfg = self.config
        self.rate_limiter.configure(
            rate=cfg.requests_per_second, burst=cfg.requests_burst, max_concurrent=cfg.max_concurrent_requests
        )

    def _breakers_changed(self, _change: Any) -> None:
        self.breakers.configure(threshold=self.config.breaker_threshold, cooldown=self.config.breaker_cooldown)

    def _prices_changed(self, _change: Any) -> None:
        self._prices = None

    def _rules_changed(self, _change: Any) -> None:
        self._rules = None

    def _limits_changed(self, _change: Any) -> None:
        self._limits = None

    def _tool_settings_changed(self, _change: Any) -> None:
        for conversation in self.conversations.in_memory().values():
            conversation.session.context = self._tool_context(conversation.gate)

    def _compaction_changed(self, _change: Any) -> None:
        if self._compactor is not None:
            from agent_magic.conversation.compaction import CompactionPolicy

            self._compactor.windows.overrides = dict(self.config.context_windows)
            self._compactor.policy = from_config(CompactionPolicy, self.config)

    # -- the conversation ------------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The current conversation (the first is started by the first turn or command that needs it)."""
        return self.conversations.current.session

    @property
    def gate(self) -> ApprovalGate:
        """The current conversation's approval gate (its rules and "always allow" answers)."""
        return self.conversations.current.gate

    def new_session(self) -> Session:
        """Start a fresh conversation under the current name (the old one stays in the ledger)."""
        return self.conversations.fresh().conversation.session

    def select_session(self, name: str | None, *, fresh: bool = False) -> None:
        """Make the conversation called `name` current for a cell (`--session`), fresh with `--new`."""
        if fresh:
            self.conversations.fresh(name)
        elif name:
            self.conversations.use(name)

    def publish(self, events: list[Event]) -> None:
        """Hand events that happen outside a turn (a session opened, compacted, a turn undone) to every
        subscriber, as a turn's events are."""
        for event in events:
            for subscriber in self.subscribers:
                subscriber.handle(event)

    @property
    def archive(self) -> ConversationArchive:
        """The ledger's record of this notebook's conversations (an event subscriber from its creation on)."""
        if self._archive is None:
            from agent_magic.ledger.conversations import ConversationArchive

            self._archive = ConversationArchive(
                lambda: self.ledger.store, notebook=self.ledger.notebook, user=self.ledger.user
            )
            self.subscribers.append(self._archive)
        return self._archive

    @property
    def undo_journal(self) -> UndoJournal:
        """The checkpoints `%agent undo` takes turns back with (an event subscriber from its creation on)."""
        if self._undo_journal is None:
            from agent_magic.undo.journal import UndoJournal

            self._undo_journal = UndoJournal(depth=lambda: self.config.undo_turns)
            self.subscribers.append(self._undo_journal)
        return self._undo_journal

    @property
    def instructions(self) -> ProjectInstructions:
        """The reader of the workspace's instructions files (AGENTS.md)."""
        if self._instructions is None:
            from agent_magic.conversation.instructions import ProjectInstructions

            self._instructions = ProjectInstructions()
        return self._instructions

    def _open_conversation(
        self,
        name: str,
        session_id: str | None,
        history: History | None,
        origin: SessionOrigin,
        forked_from: str | None,
    ) -> Conversation:
        """A conversation ready for turns: its session (continuing `history` if given) and approval gate."""
        from agent_magic.policy.approval import ApprovalGate
        from agent_magic.policy.budget import BudgetGuard
        from agent_magic.session import Session

        self.archive, self.undo_journal  # noqa: B018  (both subscribe before the conversation's first event)
        tools = self.tool_registry()
        gate = ApprovalGate(rules=self.permission_rules, tools=tools, workspace=self.config.workspace_path)
        guard = BudgetGuard(self.limits, self.is_priced, self.ledger.spend.check)
        session = Session(
            client_for=self.client_for,
            tools=tools,
            context=self._tool_context(gate),
            guards=[guard],
            pricing=self.cost,
            session_id=session_id,
            history=history,
            compactor=self.compactor,
        )
        copied = history if origin is SessionOrigin.FORKED and history is not None else None
        opened = SessionOpened(
            session_id=session.session_id,
            turn_id="",
            name=name,
            origin=origin,
            forked_from=forked_from,
            messages=copied.messages if copied else (),
            turn_ids=copied.turn_ids if copied else (),
        )
        self.publish([opened, *session.repair()])
        return Conversation(name, session, gate)

    def _tool_context(self, gate: ApprovalGate) -> ToolContext:
        """What a session's tools may use, from the current settings."""
        from agent_magic.tools.context import ToolContext

        cfg = self.config
        return from_config(
            ToolContext,
            cfg,
            workspace=gate.workspace,
            namespace=self.namespace,
            denies_reading=gate.denies_reading,
            env_passthrough=tuple(cfg.shell_env_passthrough),
            private_paths=(Path(cfg.home),),  # the agent home and its ledger, hidden from commands
            shell_limits=dict(cfg.shell_limits),
            snapshots=self._file_snapshots(),
        )

    def _file_snapshots(self) -> FileSnapshots | None:
        """Where file tools keep copies for undo (in the agent home); None when undo is off."""
        if self.config.undo_turns == 0:
            return None
        from agent_magic.ledger.store import resolve_home
        from agent_magic.undo.files import FileSnapshots

        return FileSnapshots(resolve_home(self.config.home), max_file_bytes=self.config.undo_max_file_bytes)

    @property
    def compactor(self) -> Compactor:
        """The compaction strategy every session uses, with the context windows known and learned."""
        if self._compactor is None:
            from agent_magic.conversation.compaction import CompactionPolicy, Compactor
            from agent_magic.llm.context_windows import ContextWindows

            policy = from_config(CompactionPolicy, self.config)
            self._compactor = Compactor(ContextWindows(self.config.context_windows), policy)
        return self._compactor

    def project_instructions(self) -> Instructions:
        """The workspace's instructions files (AgentMagic.instructions_files) as the system prompt gets them."""
        cfg = self.config
        return self.instructions.load(cfg.workspace_path, cfg.instructions_files, max_chars=cfg.instructions_max_chars)

    def stop_turn(self) -> bool:
        """Stop the running turn (JupyterLab's "Stop agent turn"): cancel the task of the `%%agent` cell.

        The turn ends CANCELLED with its partial answer kept, and the cell ends without an error. Safe to
        call from any thread; returns False when no turn is running.
        """
        task = self.turn_task
        if task is None or task.done():
            return False
        self.stop_requested = True
        task.get_loop().call_soon_threadsafe(task.cancel, STOPPED_MESSAGE)
        return True

    def tool_registry(self) -> ToolRegistry:
        """The tools offered to the model: the built-ins, and live, the running MCP servers' tools and
        the notebook's `@agent_magic.tool`s (a notebook tool wins a name both use)."""
        from agent_magic.tools.builtins import builtin_tools
        from agent_magic.tools.custom import CUSTOM_TOOLS
        from agent_magic.tools.registry import ToolRegistry

        return ToolRegistry(builtin_tools(), linked=[self.mcp.tools, CUSTOM_TOOLS])

    # -- MCP servers (issue 14): their lifecycle belongs to the runtime ---------------------------------

    @property
    def mcp(self) -> McpManager:
        """The kernel's MCP servers (nothing starts until a turn finds one configured)."""
        if self._mcp is None:
            from agent_magic.tools.mcp.manager import McpManager

            self._mcp = McpManager(self.config)
        return self._mcp

    async def prepare_tools(self) -> list[str]:
        """Before a turn: start (or restart) the configured MCP servers; returns lines for the cell."""
        return await self.mcp.prepare()

    def close(self) -> None:
        """Release what the kernel holds beyond a turn: stop the MCP servers (`%unload_ext`)."""
        if self._mcp is not None:
            self._mcp.close()

    def turn_settings(
        self,
        *,
        model: str | None = None,
        max_steps: int | None = None,
        max_cost: float | None = None,
        **options: Any,
    ) -> TurnSettings:
        """The settings for one turn: configuration, overridden by the cell's options (`options`: other
        `TurnSettings` fields a cell sets, e.g. `--schema`'s answer format)."""
        from agent_magic.contracts import TurnSettings
        from agent_magic.llm.pricing import warm_up

        warm_up()  # the price catalogue loads in the background while the turn starts (issue 14)
        self.telemetry.prepare_turn()  # telemetry (issue 15): one line, before the turn, if it cannot run
        cell = {"model": model or self.config.model, "max_cost": max_cost}
        cell["instructions"] = self.project_instructions().text
        cell.update(options)
        if max_steps is not None:
            cell["max_steps"] = max_steps
        return from_config(TurnSettings, self.config, **cell)

    # -- policies --------------------------------------------------------------------------------------

    def permission_rules(self) -> PermissionRules:
        """`AgentMagic.permissions`, parsed once per change."""
        if self._rules is None:
            from agent_magic.policy.permissions import parse_permissions

            self._rules = parse_permissions(self.config.permissions)
        return self._rules

    def limits(self) -> dict[str, Limits]:
        """The configured budgets by scope (turn, session, day), parsed once per change."""
        if self._limits is None:
            from agent_magic.policy.limits import SCOPES, Limits

            self._limits = {scope: Limits.parse(scope, getattr(self.config, f"{scope}_budget")) for scope in SCOPES}
        return self._limits

    # -- prices ----------------------------------------------------------------------------------------

    def prices(self) -> PriceTable:
        """The price table with the current `AgentMagic.prices` overrides, for the configured endpoint
        (its base URL picks the provider whose prices apply)."""
        if self._prices is None:
            from agent_magic.llm.pricing import PriceTable

            self._prices = PriceTable(self.config.prices, base_url=self.config.model_base_url())
        return self._prices

    def cost(self, model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
        """Dollars for one call of `model`, or None when it has no price (the session's `Pricing`)."""
        return self.prices().cost(model, input_tokens, cached_tokens, output_tokens)

    def is_priced(self, model: str) -> bool:
        """True when `model` has a price."""
        return self.prices().price_for(model) is not None

    # -- the model -------------------------------------------------------------------------------------

    def endpoint_for(self, model: str) -> EndpointSettings:
        """Where `model` is served; raises `AgentUsageError` when nothing is configured."""
        from agent_magic.llm.client import EndpointSettings

        cfg = self.config
        if model == DEMO_MODEL:
            from agent_magic.llm.demo import demo_base_url

            return from_config(EndpointSettings, cfg, model=model, base_url=demo_base_url(), api_key="demo")
        if not cfg.has_endpoint():
            raise AgentUsageError(NO_MODEL_MESSAGE)
        if not cfg.base_url and os.environ.get("OPENAI_BASE_URL"):
            from agent_magic.llm.endpoint_url import check_base_url

            try:
                check_base_url(os.environ["OPENAI_BASE_URL"], "OPENAI_BASE_URL")
            except ValueError as exc:
                raise AgentUsageError(str(exc)) from None
        api_key = cfg.api_key
        if api_key is None and (cfg.base_url or os.environ.get("OPENAI_BASE_URL")):
            api_key = os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY
        return from_config(EndpointSettings, cfg, model=model, base_url=cfg.base_url, api_key=api_key)

    def retry_policy(self) -> RetryPolicy:
        """The configured retry policy."""
        from agent_magic.llm.retry import RetryPolicy

        return from_config(RetryPolicy, self.config)

    def client_for(self, model: str) -> ChatModel:
        """The model that answers a turn asking `model`: the live client, or replay's (`AgentMagic.replay`)."""
        return self.replay.model_for(model, self.live_client)

    def live_client(self, model: str) -> ModelClient:
        """A client for `model`, reused across turns so connections are pooled (made anew when its endpoint
        or a retry setting changed), behind the kernel's rate limiter and the endpoint's breaker."""
        endpoint = self.endpoint_for(model)
        client = self._clients.get(endpoint)
        if client is None:
            client = self._clients[endpoint] = self._new_client(endpoint, limited=True)
        return client

    def fresh_client(self, model: str) -> ModelClient:
        """A client for `model` with no pooled connections, for a call made on a private event loop (a line
        magic such as `%agent compact`), where the kernel's pooled client must not go."""
        return self._new_client(self.endpoint_for(model), limited=False)

    def _new_client(self, endpoint: EndpointSettings, *, limited: bool) -> ModelClient:
        """A client behind the endpoint's breaker (and the kernel's rate limiter when `limited`: it waits on
        the kernel's event loop)."""
        from agent_magic.llm.client import ModelClient

        limiter = self.rate_limiter if limited else None
        client = ModelClient(endpoint, retry=self.retry_policy(), limiter=limiter)
        client.breaker = self.breakers.for_endpoint(client.base_url)
        return client
