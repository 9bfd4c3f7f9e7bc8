"""Configuration: a traitlets `Configurable`, so `%config AgentMagic.model = "…"` and
`c.AgentMagic.model = "…"` in ipython_config.py both work."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from agent_magic.prompts import DEFAULT_SYSTEM_PROMPT

DEMO_MODEL = "demo"
FALLBACK_MODEL = "gpt-4.1-mini"


class AgentMagic(Configurable):
    """Settings of the `%%agent` magic. Every trait can be set with `%config AgentMagic.<name> = value`."""

    model = Unicode(
        help="Model name sent to the endpoint. Default: $AGENT_MAGIC_MODEL, else gpt-4.1-mini. "
        "'demo' is the offline scripted demo model."
    ).tag(config=True)
    base_url = Unicode(
        None,
        allow_none=True,
        help="OpenAI-compatible endpoint (e.g. http://localhost:11434/v1). None: $OPENAI_BASE_URL or OpenAI.",
    ).tag(config=True)
    api_key = Unicode(None, allow_none=True, help="API key. None: $OPENAI_API_KEY. Prefer the variable.").tag(
        config=True
    )
    max_steps = Int(10, help="Most model calls in one turn before it stops (a runaway-loop guard).").tag(config=True)
    tool_timeout = Float(60.0, help="Seconds a tool call may run before it fails with error_code 'timeout'.").tag(
        config=True
    )
    max_tool_output_chars = Int(50_000, help="Tool results longer than this reach the model truncated.").tag(
        config=True
    )
    workspace = Unicode(
        "", help="Folder the file tools may touch. Empty: the working directory when the extension loaded."
    ).tag(config=True)
    shell_sandbox = Enum(
        ["auto", "bwrap", "none"],
        "auto",
        help="How run_shell isolates commands: 'auto' (bubblewrap when usable, else a plain subprocess and a "
        "notice), 'bwrap' (bubblewrap or refuse), 'none' (plain subprocess in the workspace).",
    ).tag(config=True)
    shell_network = Bool(False, help="Let sandboxed run_shell commands use the network.").tag(config=True)
    system_prompt = Unicode(DEFAULT_SYSTEM_PROMPT, help="The system prompt sent with every model call.").tag(
        config=True
    )
    display_interval = Float(0.1, help="Seconds between updates of the streamed answer in the notebook.").tag(
        config=True
    )
    connect_timeout = Float(10.0, help="Seconds to wait for the endpoint's TCP/TLS connection.").tag(config=True)
    headless_approval = Enum(
        ["deny", "allow", "error"],
        help="In headless runs (nbclient, nbconvert, papermill, CI) no one can approve: 'deny' (default) "
        "tells the model the call was denied, 'allow' runs it, 'error' fails the cell. "
        "Default: $AGENT_MAGIC_HEADLESS_APPROVAL, else deny.",
    ).tag(config=True)
    permissions = Dict(
        help='Permission rules, e.g. {"allow": ["run_shell:git status*"], "deny": ["run_shell:rm *"], '
        '"ask": ["write_file:*.csv"]}: TOOL or TOOL:GLOB on the path / command / code; deny > allow > ask.'
    ).tag(config=True)
    approval_prompt = Enum(
        ["auto", "buttons", "stdin"],
        "auto",
        help="How a person is asked to approve: 'auto' (buttons when the kernel delivers clicks to a running "
        "cell, else input()), 'buttons', or 'stdin' (for frontends without ipywidgets).",
    ).tag(config=True)
    idle_timeout = Float(120.0, help="Seconds the endpoint may stay silent (before or during a stream).").tag(
        config=True
    )
    first_byte_timeout = Float(60.0, help="Seconds a model call may take to send its first chunk.").tag(config=True)
    call_timeout = Float(600.0, help="Seconds one model call (one attempt, the whole stream) may take.").tag(
        config=True
    )
    retry_max_attempts = Int(4, help="Most attempts of one model call (1 = no retries).").tag(config=True)
    retry_initial_wait = Float(0.5, help="Seconds before the first retry; doubles each time, plus jitter.").tag(
        config=True
    )
    retry_max_wait = Float(20.0, help="Longest single wait between attempts (a server's Retry-After wins).").tag(
        config=True
    )
    retry_max_total_wait = Float(60.0, help="Most seconds one model call may spend waiting to retry.").tag(config=True)
    breaker_threshold = Int(5, help="Failed calls in a row after which an endpoint's circuit opens.").tag(config=True)
    breaker_cooldown = Float(30.0, help="Seconds calls to an open circuit fail fast before one is tried.").tag(
        config=True
    )
    requests_per_second = Float(
        10.0, help="Most model requests per second from this kernel, all sessions together (0 = no limit)."
    ).tag(config=True)
    requests_burst = Int(10, help="Requests that may go at once before requests_per_second applies.").tag(config=True)

    home = Unicode(
        "", help="Folder of the usage ledger and logs. Empty: $AGENT_MAGIC_HOME, else .agent in the working directory."
    ).tag(config=True)
    prices = Dict(
        help='Prices in dollars per million tokens, over the shipped table: {"model": {"input": 0.4, '
        '"cached_input": 0.1, "output": 1.6}}, or {"my-deployment": "gpt-4.1-mini"} to reuse a listed price.'
    ).tag(config=True)
    turn_budget = Dict(help='Limits per turn: {"tool_calls": N, "tokens": N, "cost": dollars} (steps: max_steps).').tag(
        config=True
    )
    session_budget = Dict(
        help='Limits per conversation: {"steps": N, "tool_calls": N, "tokens": N, "cost": dollars}.'
    ).tag(config=True)
    day_budget = Dict(
        help='Limits per calendar day, all kernels sharing the ledger: {"steps", "tool_calls", "tokens", "cost"}.'
    ).tag(config=True)

    # -- hardening (issue 16) ------------------------------------------------------------------------
    shell_env_passthrough = List(
        Unicode(),
        help="Environment variables run_shell commands may see although their names look like credentials "
        "or belong to Jupyter or the model endpoint (those are removed by default), e.g. ['GITHUB_TOKEN'].",
    ).tag(config=True)
    shell_limits = Dict(
        help='Resource limits of each run_shell command: {"processes": 256, "memory_mb": 4096, "file_mb": 1024, '
        '"cpu_s": 600} (the defaults; 0 = no limit of that kind). Keys left out keep their default.'
    ).tag(config=True)
    max_tool_calls_per_step = Int(
        64, help="Most tool calls run from one model answer; further calls get an error result, not run."
    ).tag(config=True)
    stream_idle_timeout = Float(
        15.0,
        help="Once an answer has started streaming, seconds of silence after which the stream is abandoned "
        "and retried like a cut stream (before the first chunk, first_byte_timeout applies).",
    ).tag(config=True)
    max_response_mb = Float(
        64.0, help="Largest model response (megabytes, decompressed) before the call fails with a clear error."
    ).tag(config=True)

    @validate("shell_limits")
    def _check_shell_limits(self, proposal: dict[str, Any]) -> dict[str, Any]:
        from agent_magic.policy.shell_limits import ShellLimits

        try:
            ShellLimits.parse(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    @validate("stream_idle_timeout", "max_response_mb")
    def _check_hardening_positive(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError(f"AgentMagic.{proposal['trait'].name} must be a positive number")
        return proposal["value"]

    @validate("max_tool_calls_per_step")
    def _check_tool_calls_per_step(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise TraitError("AgentMagic.max_tool_calls_per_step must be at least 1")
        return proposal["value"]

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("AGENT_MAGIC_MODEL") or FALLBACK_MODEL

    @default("workspace")
    def _default_workspace(self) -> str:
        return os.getcwd()

    @default("home")
    def _default_home(self) -> str:
        return os.environ.get("AGENT_MAGIC_HOME") or os.path.join(os.getcwd(), ".agent")

    @validate("prices")
    def _check_prices(self, proposal: dict[str, Any]) -> dict[str, Any]:
        from agent_magic.llm.pricing import validate_overrides

        try:
            validate_overrides(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    @validate("turn_budget", "session_budget", "day_budget")
    def _check_budget(self, proposal: dict[str, Any]) -> dict[str, Any]:
        from agent_magic.policy.budget import Limits

        try:
            Limits.parse(proposal["trait"].name.removesuffix("_budget"), proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    @validate(
        "tool_timeout",
        "display_interval",
        "connect_timeout",
        "idle_timeout",
        "first_byte_timeout",
        "call_timeout",
        "retry_initial_wait",
        "retry_max_wait",
    )
    def _check_positive(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError(f"AgentMagic.{proposal['trait'].name} must be a positive number of seconds")
        return proposal["value"]

    @default("headless_approval")
    def _default_headless_approval(self) -> str:
        value = os.environ.get("AGENT_MAGIC_HEADLESS_APPROVAL", "deny").strip().lower() or "deny"
        if value not in ("deny", "allow", "error"):
            # One line, and the safe choice: a bad value must neither crash every cell nor allow anything.
            print(
                f"agent_magic: AGENT_MAGIC_HEADLESS_APPROVAL={value!r} is not deny, allow or error; using deny",
                file=sys.stderr,
            )
            return "deny"
        return value

    @validate("base_url")
    def _check_base_url(self, proposal: dict[str, Any]) -> str | None:
        from agent_magic.llm.endpoint_url import check_base_url

        if proposal["value"] is None:
            return None
        try:
            return check_base_url(proposal["value"], "AgentMagic.base_url")
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    @validate("permissions")
    def _check_permissions(self, proposal: dict[str, Any]) -> dict[str, Any]:
        from agent_magic.policy.approval_rules import PermissionRulesError, parse_permissions

        try:
            parse_permissions(proposal["value"])
        except PermissionRulesError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    @validate("max_steps", "retry_max_attempts", "breaker_threshold", "requests_burst")
    def _check_at_least_one(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"AgentMagic.{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    @validate("retry_max_total_wait", "breaker_cooldown", "requests_per_second")
    def _check_not_negative(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise TraitError(f"AgentMagic.{proposal['trait'].name} must not be negative")
        return proposal["value"]

    @validate("max_tool_output_chars")
    def _check_output_cap(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 200:
            raise TraitError("AgentMagic.max_tool_output_chars must be at least 200")
        return proposal["value"]

    @property
    def workspace_path(self) -> Path:
        """The workspace as a resolved path."""
        return Path(self.workspace).expanduser().resolve()

    def has_endpoint(self) -> bool:
        """True when a real model can be reached: a key or a base URL is configured somewhere."""
        return bool(
            self.api_key or self.base_url or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
        )

    def effective_settings(self) -> dict[str, Any]:
        """Every setting with its current value; the API key and credentials in URLs are masked."""
        values: dict[str, Any] = {name: getattr(self, name) for name in sorted(self.trait_names(config=True))}
        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        values["api_key"] = f"…{key[-4:]} (set)" if key else "(not set)"
        from agent_magic.policy.secrets import mask_secrets

        values["base_url"] = mask_secrets(self.base_url or os.environ.get("OPENAI_BASE_URL") or "(OpenAI default)")
        values["system_prompt"] = self.system_prompt[:60] + ("…" if len(self.system_prompt) > 60 else "")
        return values
