"""The per-kernel state behind the magics: configuration, the current session, model clients.

Kept apart from `magic.py` so the wiring (which client for which model, which tools, which
session) can be used and tested without IPython's magic machinery.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.config import DEMO_MODEL, AgentMagic
from agent_magic.errors import AgentUsageError
from agent_magic.events import EventSubscriber
from agent_magic.ledger.kernel_ledger import KernelLedger
from agent_magic.llm.breaker import BreakerBoard
from agent_magic.llm.rate_limit import TokenBucket

if TYPE_CHECKING:
    # The loop, the client and the tools load with the first turn, not at `%load_ext` (see
    # benchmarks/bench_stream.py): the methods below import them where they are used.
    from agent_magic.llm.client import EndpointSettings, ModelClient
    from agent_magic.llm.retry import RetryPolicy
    from agent_magic.session import Session, TurnSettings
    from agent_magic.tools.context import ToolContext
    from agent_magic.tools.registry import ToolRegistry

NO_MODEL_MESSAGE = (
    "No model endpoint is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for Azure, Ollama, vLLM, "
    "LM Studio…), or %config AgentMagic.base_url = '…'; or try the offline demo with %%agent --model demo"
)
# Local servers (Ollama, vLLM, LM Studio) accept any key, but the SDK insists on one.
STOPPED_MESSAGE = "stopped by user (Stop agent turn)"
PLACEHOLDER_KEY = "not-needed"


class AgentRuntime:
    """Everything one kernel's `%%agent` cells share."""

    def __init__(self, config: AgentMagic, namespace: dict[str, Any]) -> None:
        self.config = config
        self.namespace = namespace
        self._clients: dict[tuple[EndpointSettings, RetryPolicy], ModelClient] = {}
        # Kernel-wide, shared by every session: one request budget, one breaker per endpoint.
        self.rate_limiter = TokenBucket(config.requests_per_second, config.requests_burst)
        self.breakers = BreakerBoard()
        # Subscribers that see every turn's events besides the cell's renderer (ledger, log, frontend).
        self.subscribers: list[EventSubscriber] = []
        # The usage ledger (SQLite rows, JSONL log) and its budget guard; opened by the first event.
        self.ledger = KernelLedger(config, namespace, lambda: self.session)
        self.subscribers.append(self.ledger)
        # The task running the current `%%agent` cell, so a frontend's Stop can cancel it (see stop_turn).
        self.turn_task: asyncio.Task | None = None
        self.stop_requested = False
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        """The current conversation, started on first use."""
        if self._session is None:
            self.new_session()
        assert self._session is not None
        return self._session

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
        """The tools offered to the model: the built-ins, and live, the notebook's `@agent_magic.tool`s."""
        from agent_magic.tools.builtins import builtin_tools
        from agent_magic.tools.custom import CUSTOM_TOOLS
        from agent_magic.tools.registry import ToolRegistry

        return ToolRegistry(builtin_tools(), linked=[CUSTOM_TOOLS])

    def apply_tool_settings(self, context: ToolContext) -> ToolContext:
        """Copy the configured tool limits onto `context` (read per turn, so `%config` applies at once)."""
        from agent_magic.policy.shell_limits import ShellLimits

        cfg = self.config
        context.max_output_chars = cfg.max_tool_output_chars
        context.sandbox = cfg.shell_sandbox
        context.allow_network = cfg.shell_network
        context.env_passthrough = tuple(cfg.shell_env_passthrough)
        context.private_paths = (Path(cfg.home),)  # the agent home and its ledger, hidden from commands
        context.shell_limits = ShellLimits.parse(cfg.shell_limits)
        return context

    def new_session(self) -> Session:
        """Start a fresh conversation (the old one stays in the ledger, not in memory)."""
        from agent_magic.policy.approval import ApprovalGate
        from agent_magic.policy.approval_rules import parse_permissions
        from agent_magic.session import Session
        from agent_magic.tools.context import ToolContext

        context = self.apply_tool_settings(ToolContext(workspace=self.config.workspace_path, namespace=self.namespace))
        tools = self.tool_registry()
        # The gate reads the rules on each call, so `%config AgentMagic.permissions` applies at once.
        gate = ApprovalGate(
            rules=lambda: parse_permissions(self.config.permissions), tools=tools, workspace=context.workspace
        )
        self._session = Session(
            client_for=self.client_for, tools=tools, context=context, approver=gate, guards=[self.ledger.guard()]
        )
        return self._session

    def endpoint_for(self, model: str) -> EndpointSettings:
        """Where `model` is served; raises `AgentUsageError` when nothing is configured."""
        from agent_magic.llm.client import EndpointSettings

        cfg = self.config
        timeouts = {
            "connect_timeout": cfg.connect_timeout,
            "idle_timeout": cfg.idle_timeout,
            "first_byte_timeout": cfg.first_byte_timeout,
            "call_timeout": cfg.call_timeout,
            "stream_idle_timeout": cfg.stream_idle_timeout,
            "max_response_bytes": int(cfg.max_response_mb * 1_000_000),
        }
        if model == DEMO_MODEL:
            from agent_magic.llm.demo import demo_base_url

            return EndpointSettings(model=model, base_url=demo_base_url(), api_key="demo", **timeouts)
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
        return EndpointSettings(model=model, base_url=cfg.base_url, api_key=api_key, **timeouts)

    def retry_policy(self) -> RetryPolicy:
        """The configured retry policy."""
        from agent_magic.llm.retry import RetryPolicy

        cfg = self.config
        return RetryPolicy(
            max_attempts=cfg.retry_max_attempts,
            initial_wait=cfg.retry_initial_wait,
            max_wait=cfg.retry_max_wait,
            max_total_wait=cfg.retry_max_total_wait,
        )

    def client_for(self, model: str) -> ModelClient:
        """A client for `model`, reused across calls so connections are pooled (a new one when a
        setting it was made with changed), behind the kernel's rate limiter and the endpoint's breaker."""
        from agent_magic.llm.client import ModelClient

        cfg = self.config
        settings, policy = self.endpoint_for(model), self.retry_policy()
        client = self._clients.get((settings, policy))
        if client is None:
            client = self._clients[(settings, policy)] = ModelClient(settings, retry=policy, limiter=self.rate_limiter)
        self.rate_limiter.configure(cfg.requests_per_second, cfg.requests_burst)
        client.breaker = self.breakers.for_endpoint(
            client.base_url, threshold=cfg.breaker_threshold, cooldown=cfg.breaker_cooldown
        )
        return client

    def turn_settings(
        self, *, model: str | None = None, max_steps: int | None = None, max_cost: float | None = None
    ) -> TurnSettings:
        """The settings for one turn: configuration, overridden by the cell's options (the session's tool
        context picks up the current tool settings too)."""
        from agent_magic.session import TurnSettings

        cfg = self.config
        self.apply_tool_settings(self.session.context)
        return TurnSettings(
            model=model or cfg.model,
            max_steps=max_steps or cfg.max_steps,
            tool_timeout=cfg.tool_timeout,
            max_tool_output_chars=cfg.max_tool_output_chars,
            system_prompt=cfg.system_prompt,
            max_cost=max_cost,
            max_tool_calls_per_step=cfg.max_tool_calls_per_step,
        )
