"""The per-kernel state behind the magics: configuration, the current session, model clients.

Kept apart from `magic.py` so the wiring (which client for which model, which tools, which
session) can be used and tested without IPython's magic machinery. What depends on a setting is rebuilt
when that setting changes (`AgentMagic.observe`), never polled.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.config import DEMO_MODEL, AgentMagic, from_config
from agent_magic.errors import AgentUsageError
from agent_magic.events import EventSubscriber
from agent_magic.ledger.identity import current_user
from agent_magic.ledger.kernel_ledger import KernelLedger
from agent_magic.llm.breaker import BreakerBoard
from agent_magic.llm.rate_limit import TokenBucket
from agent_magic.telemetry import TelemetrySwitch

if TYPE_CHECKING:
    # The loop, the client and the tools load with the first turn, not at `%load_ext` (see
    # benchmarks/bench_stream.py): the methods below import them where they are used.
    from agent_magic.contracts import TurnSettings
    from agent_magic.llm.client import EndpointSettings, ModelClient
    from agent_magic.llm.pricing import PriceTable
    from agent_magic.llm.retry import RetryPolicy
    from agent_magic.policy.approval import ApprovalGate
    from agent_magic.policy.limits import Limits
    from agent_magic.policy.permissions import PermissionRules
    from agent_magic.session import Session
    from agent_magic.tools.context import ToolContext
    from agent_magic.tools.mcp.manager import McpManager
    from agent_magic.tools.registry import ToolRegistry

NO_MODEL_MESSAGE = (
    "No model endpoint is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for Azure, Ollama, vLLM, "
    "LM Studio…), or %config AgentMagic.base_url = '…'; or try the offline demo with %%agent --model demo"
)
STOPPED_MESSAGE = "stopped by user (Stop agent turn)"
# Local servers (Ollama, vLLM, LM Studio) accept any key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"

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
        self.rate_limiter = TokenBucket(config.requests_per_second, config.requests_burst)
        self.breakers = BreakerBoard(threshold=config.breaker_threshold, cooldown=config.breaker_cooldown)
        # Subscribers that see every turn's events besides the cell's renderer (ledger, log, frontend).
        self.subscribers: list[EventSubscriber] = []
        # The usage ledger (SQLite rows, JSONL log); opened by the first event.
        self.ledger = KernelLedger(config, namespace)
        self.subscribers.append(self.ledger)
        # -- telemetry (issue 15): OpenTelemetry export of each turn; the SDK loads only once it is on.
        self.telemetry = TelemetrySwitch(
            config,
            base_url_for=lambda model: self.client_for(model).base_url,
            user=current_user(),
            notebook=self.ledger.notebook,
        )
        self.subscribers.append(self.telemetry)
        # -- end telemetry
        # The task running the current `%%agent` cell, so a frontend's Stop can cancel it (see stop_turn).
        self.turn_task: asyncio.Task | None = None
        self.stop_requested = False
        self._session: Session | None = None
        self._mcp: McpManager | None = None
        self._gate: ApprovalGate | None = None
        self._prices: PriceTable | None = None
        self._rules: PermissionRules | None = None
        self._limits: dict[str, Limits] | None = None
        config.observe(self._clients_changed, names=CLIENT_TRAITS)
        config.observe(self._limiter_changed, names=["requests_per_second", "requests_burst"])
        config.observe(self._breakers_changed, names=["breaker_threshold", "breaker_cooldown"])
        config.observe(self._prices_changed, names=["prices", "base_url"])
        config.observe(self._rules_changed, names=["permissions"])
        config.observe(self._limits_changed, names=["turn_budget", "session_budget", "day_budget", "user_budget"])
        config.observe(self._tool_settings_changed, names=[*TOOL_TRAITS])

    # -- reacting to %config ---------------------------------------------------------------------------

    def _clients_changed(self, _change: Any) -> None:
        self._clients.clear()

    def _limiter_changed(self, _change: Any) -> None:
        self.rate_limiter.configure(self.config.requests_per_second, self.config.requests_burst)

    def _breakers_changed(self, _change: Any) -> None:
        self.breakers.configure(threshold=self.config.breaker_threshold, cooldown=self.config.breaker_cooldown)

    def _prices_changed(self, _change: Any) -> None:
        self._prices = None

    def _rules_changed(self, _change: Any) -> None:
        self._rules = None

    def _limits_changed(self, _change: Any) -> None:
        self._limits = None

    def _tool_settings_changed(self, _change: Any) -> None:
        if self._session is not None:
            self._session.context = self._tool_context()

    # -- the conversation ------------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The current conversation (the first is started by the first turn or command that needs it)."""
        if self._session is None:
            self.new_session()
        assert self._session is not None
        return self._session

    @property
    def gate(self) -> ApprovalGate:
        """The current conversation's approval gate (its rules and "always allow" answers)."""
        self.session  # noqa: B018  (a gate belongs to a session: start one if there is none)
        assert self._gate is not None
        return self._gate

    def new_session(self) -> Session:
        """Start a fresh conversation (the old one stays in the ledger, not in memory)."""
        from agent_magic.policy.approval import ApprovalGate
        from agent_magic.policy.budget import BudgetGuard
        from agent_magic.session import Session

        tools = self.tool_registry()
        workspace = self.config.workspace_path
        self._gate = ApprovalGate(rules=self.permission_rules, tools=tools, workspace=workspace)
        guard = BudgetGuard(self.limits, self.is_priced, self.ledger.spend.check)
        self._session = Session(
            client_for=self.client_for, tools=tools, context=self._tool_context(), guards=[guard], pricing=self.cost
        )
        return self._session

    def _tool_context(self) -> ToolContext:
        """What the current session's tools may use, from the current settings."""
        from agent_magic.tools.context import ToolContext

        assert self._gate is not None
        cfg = self.config
        return from_config(
            ToolContext,
            cfg,
            workspace=self._gate.workspace,
            namespace=self.namespace,
            denies_reading=self._gate.denies_reading,
            env_passthrough=tuple(cfg.shell_env_passthrough),
            private_paths=(Path(cfg.home),),  # the agent home and its ledger, hidden from commands
            shell_limits=dict(cfg.shell_limits),
        )

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
        self, *, model: str | None = None, max_steps: int | None = None, max_cost: float | None = None
    ) -> TurnSettings:
        """The settings for one turn: configuration, overridden by the cell's options."""
        from agent_magic.contracts import TurnSettings
        from agent_magic.llm.pricing import warm_up

        warm_up()  # the price catalogue loads in the background while the turn starts (issue 14)
        self.telemetry.prepare_turn()  # telemetry (issue 15): one line, before the turn, if it cannot run
        cell = {"model": model or self.config.model, "max_cost": max_cost}
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

    def client_for(self, model: str) -> ModelClient:
        """A client for `model`, reused across turns so connections are pooled (made anew when its endpoint
        or a retry setting changed), behind the kernel's rate limiter and the endpoint's breaker."""
        endpoint = self.endpoint_for(model)
        client = self._clients.get(endpoint)
        if client is None:
            from agent_magic.llm.client import ModelClient

            client = ModelClient(endpoint, retry=self.retry_policy(), limiter=self.rate_limiter)
            client.breaker = self.breakers.for_endpoint(client.base_url)
            self._clients[endpoint] = client
        return client
