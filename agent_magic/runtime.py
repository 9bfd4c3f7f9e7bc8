"""The per-kernel state behind the magics: configuration, the current session, model clients.

Kept apart from `magic.py` so the wiring (which client for which model, which tools, which
session) can be used and tested without IPython's magic machinery.
"""

from __future__ import annotations

import os
from typing import Any

from agent_magic.config import DEMO_MODEL, AgentMagic
from agent_magic.errors import AgentUsageError
from agent_magic.events import EventSubscriber
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.policy.approval import ApprovalGate
from agent_magic.policy.approval_rules import parse_permissions
from agent_magic.session import Session, TurnSettings
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry

NO_MODEL_MESSAGE = (
    "No model endpoint is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for Azure, Ollama, vLLM, "
    "LM Studio…), or %config AgentMagic.base_url = '…'; or try the offline demo with %%agent --model demo"
)
# Local servers (Ollama, vLLM, LM Studio) accept any key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"


class AgentRuntime:
    """Everything one kernel's `%%agent` cells share."""

    def __init__(self, config: AgentMagic, namespace: dict[str, Any]) -> None:
        self.config = config
        self.namespace = namespace
        self._clients: dict[tuple[str, str | None, str | None], ModelClient] = {}
        # Subscribers that see every turn's events besides the cell's renderer (ledger, log, frontend).
        self.subscribers: list[EventSubscriber] = []
        self.session = self.new_session()

    def tool_registry(self) -> ToolRegistry:
        """The tools offered to the model."""
        return ToolRegistry(builtin_tools())

    def new_session(self) -> Session:
        """Start a fresh conversation (the old one stays in the ledger, not in memory)."""
        context = ToolContext(workspace=self.config.workspace_path, namespace=self.namespace)
        tools = self.tool_registry()
        # The gate reads the rules on each call, so `%config AgentMagic.permissions` applies at once.
        gate = ApprovalGate(
            rules=lambda: parse_permissions(self.config.permissions), tools=tools, workspace=context.workspace
        )
        self.session = Session(client_for=self.client_for, tools=tools, context=context, approver=gate)
        return self.session

    def endpoint_for(self, model: str) -> EndpointSettings:
        """Where `model` is served; raises `AgentUsageError` when nothing is configured."""
        cfg = self.config
        timeouts = {"connect_timeout": cfg.connect_timeout, "idle_timeout": cfg.idle_timeout}
        if model == DEMO_MODEL:
            from agent_magic.llm.demo import demo_base_url

            return EndpointSettings(model=model, base_url=demo_base_url(), api_key="demo", **timeouts)
        if not cfg.has_endpoint():
            raise AgentUsageError(NO_MODEL_MESSAGE)
        api_key = cfg.api_key
        if api_key is None and (cfg.base_url or os.environ.get("OPENAI_BASE_URL")):
            api_key = os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY
        return EndpointSettings(model=model, base_url=cfg.base_url, api_key=api_key, **timeouts)

    def client_for(self, model: str) -> ModelClient:
        """A client for `model`, reused across calls so connections are pooled."""
        settings = self.endpoint_for(model)
        key = (settings.model, settings.base_url, settings.api_key)
        if key not in self._clients:
            self._clients[key] = ModelClient(settings)
        return self._clients[key]

    def turn_settings(self, *, model: str | None = None, max_steps: int | None = None) -> TurnSettings:
        """The settings for one turn: configuration, overridden by the cell's options."""
        cfg = self.config
        return TurnSettings(
            model=model or cfg.model,
            max_steps=max_steps or cfg.max_steps,
            tool_timeout=cfg.tool_timeout,
            max_tool_output_chars=cfg.max_tool_output_chars,
            system_prompt=cfg.system_prompt,
        )
