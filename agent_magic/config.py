"""Configuration: a traitlets `Configurable`, so `%config AgentMagic.model = "…"` and
`c.AgentMagic.model = "…"` in ipython_config.py both work."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from traitlets import Bool, Dict, Enum, Float, HasTraits, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from agent_magic.prompts import DEFAULT_SYSTEM_PROMPT

DEMO_MODEL = "demo"
FALLBACK_MODEL = "gpt-4.1-mini"
TELEMETRY_MODES = ("off", "otlp")  # telemetry (issue 15)
Settings = TypeVar("Settings")


class Seconds(Float):
    """A duration in seconds that must be positive."""

    info_text = "a positive number of seconds"

    def validate(self, obj: HasTraits | None, value: Any) -> float:
        """Accept a positive number; anything else is a one-line `TraitError`."""
        value = super().validate(obj, value)
        if not value > 0:
            raise TraitError(f"AgentMagic.{self.name} must be a positive number of seconds")
        return value


class CheckedDict(Dict):
    """A dict setting whose content a parser checks when it is set (the parser raises `ValueError`
    with a one-line fix). Parsers are imported on first use so `%load_ext` stays fast."""

    def __init__(self, check: Callable[[str, dict[str, Any]], object], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def validate(self, obj: HasTraits | None, value: Any) -> dict[str, Any]:
        """The dict, once the parser accepted it."""
        value = super().validate(obj, value)
        try:
            self.check(self.name, value)
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return value


def _check_prices(_name: str, value: dict[str, Any]) -> None:
    from agent_magic.llm.pricing import validate_overrides

    validate_overrides(value)


def _check_budget(name: str, value: dict[str, Any]) -> None:
    from agent_magic.policy.limits import Limits

    Limits.parse(name.removesuffix("_budget"), value)


def _check_mcp_servers(_name: str, value: dict[str, Any]) -> None:
    from agent_magic.tools.mcp.config import check_servers

    check_servers(value)


def _check_permissions(_name: str, value: dict[str, Any]) -> None:
    from agent_magic.policy.permissions import parse_permissions

    parse_permissions(value)


def _check_windows(_name: str, value: dict[str, Any]) -> None:
    from agent_magic.llm.context_windows import validate_windows

    validate_windows(value)


def _check_shell_limits(_name: str, value: dict[str, Any]) -> None:
    from agent_magic.policy.shell_limits import ShellLimits

    ShellLimits.parse(value)


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
    max_steps = Int(10, min=1, help="Most model calls in one turn before it stops (a runaway-loop guard).").tag(
        config=True
    )
    tool_timeout = Seconds(60.0, help="Seconds a tool call may run before it fails with error_code 'timeout'.").tag(
        config=True
    )
    max_tool_output_chars = Int(50_000, min=200, help="Tool results longer than this reach the model truncated.").tag(
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
    display_interval = Seconds(0.1, help="Seconds between updates of the streamed answer in the notebook.").tag(
        config=True
    )
    connect_timeout = Seconds(10.0, help="Seconds to wait for the endpoint's TCP/TLS connection.").tag(config=True)
    headless_approval = Enum(
        ["deny", "allow", "error"],
        help="In headless runs (nbclient, nbconvert, papermill, CI) no one can approve: 'deny' (default) "
        "tells the model the call was denied, 'allow' runs it, 'error' fails the cell. "
        "Default: $AGENT_MAGIC_HEADLESS_APPROVAL, else deny.",
    ).tag(config=True)
    permissions = CheckedDict(
        _check_permissions,
        help='Permission rules, e.g. {"allow": ["run_shell:git status*"], "deny": ["run_shell:rm *"], '
        '"ask": ["write_file:*.csv"]}: TOOL or TOOL:GLOB on the path / command / code; deny > allow > ask.',
    ).tag(config=True)
    approval_prompt = Enum(
        ["auto", "buttons", "stdin"],
        "auto",
        help="How a person is asked to approve: 'auto' (buttons when the kernel delivers clicks to a running "
        "cell, else input()), 'buttons', or 'stdin' (for frontends without ipywidgets).",
    ).tag(config=True)
    idle_timeout = Seconds(120.0, help="Seconds the endpoint may stay silent (before or during a stream).").tag(
        config=True
    )
    first_byte_timeout = Seconds(60.0, help="Seconds a model call may take to send its first chunk.").tag(config=True)
    call_timeout = Seconds(600.0, help="Seconds one model call (one attempt, the whole stream) may take.").tag(
        config=True
    )
    retry_max_attempts = Int(4, min=1, help="Most attempts of one model call (1 = no retries).").tag(config=True)
    retry_initial_wait = Seconds(0.5, help="Seconds before the first retry; doubles each time, plus jitter.").tag(
        config=True
    )
    retry_max_wait = Seconds(20.0, help="Longest single wait between attempts (a server's Retry-After wins).").tag(
        config=True
    )
    retry_max_total_wait = Float(60.0, min=0, help="Most seconds one model call may spend waiting to retry.").tag(
        config=True
    )
    breaker_threshold = Int(5, min=1, help="Failed calls in a row after which an endpoint's circuit opens.").tag(
        config=True
    )
    breaker_cooldown = Float(30.0, min=0, help="Seconds calls to an open circuit fail fast before one is tried.").tag(
        config=True
    )
    requests_per_second = Float(
        0.0,
        min=0,
        help="Most model requests per second from this kernel, all sessions together: a fixed ceiling for an "
        "endpoint with a quota but no 429 answers (0 = none; max_concurrent_requests still applies).",
    ).tag(config=True)
    requests_burst = Int(10, min=1, help="Requests that may go at once before requests_per_second applies.").tag(
        config=True
    )

    home = Unicode(
        "", help="Folder of the usage ledger and logs. Empty: $AGENT_MAGIC_HOME, else .agent in the working directory."
    ).tag(config=True)
    prices = CheckedDict(
        _check_prices,
        help='Prices in dollars per million tokens, over the shipped table: {"model": {"input": 0.4, '
        '"cached_input": 0.1, "output": 1.6}}, or {"my-deployment": "gpt-4.1-mini"} to reuse a listed price.',
    ).tag(config=True)
    turn_budget = CheckedDict(
        _check_budget, help='Limits per turn: {"tool_calls": N, "tokens": N, "cost": dollars} (steps: max_steps).'
    ).tag(config=True)
    session_budget = CheckedDict(
        _check_budget, help='Limits per conversation: {"steps": N, "tool_calls": N, "tokens": N, "cost": dollars}.'
    ).tag(config=True)
    day_budget = CheckedDict(
        _check_budget,
        help='Limits per calendar day for this user, across all their kernels sharing the ledger: {"steps", '
        '"tool_calls", "tokens", "cost"}.',
    ).tag(config=True)

    # -- conversations that last: instructions, compaction, undo (issue 13) ---------------------------
    instructions_files = List(
        Unicode(),
        default_value=["AGENTS.md"],
        help="Project instructions read from the workspace root into the system prompt (after the built-in "
        "prompt), re-read when they change, e.g. ['AGENTS.md', 'CLAUDE.md']; [] reads none.",
    ).tag(config=True)
    instructions_max_chars = Int(
        20_000, min=0, help="Most characters of project instructions sent, all files together; the rest is cut."
    ).tag(config=True)
    context_windows = CheckedDict(
        _check_windows,
        help='Prompt tokens a model accepts, over the shipped table: {"llama3.1": 8192}. A window a server names '
        "when it refuses a request as too long wins for the rest of the kernel.",
    ).tag(config=True)
    compaction_threshold = Float(
        0.8, min=0.2, max=0.95, help="Compact before a request would fill more than this share of the context window."
    ).tag(config=True)
    compaction_keep_turns = Int(2, min=1, help="Latest turns a compaction keeps word for word.").tag(config=True)
    undo_turns = Int(
        20, min=0, help="Turns of each conversation %agent undo can take back (0: undo off, nothing is kept for it)."
    ).tag(config=True)
    undo_max_file_bytes = Int(
        20_000_000,
        min=0,
        help="Largest file copied for undo before a tool changes it; a larger one cannot be restored.",
    ).tag(config=True)

    @validate("instructions_files")
    def _check_instructions_files(self, proposal: dict[str, Any]) -> list[str]:
        for name in proposal["value"]:
            if not name.strip() or os.path.isabs(os.path.expanduser(name)):
                raise TraitError(
                    f"AgentMagic.instructions_files: {name!r} must be a path relative to the workspace, e.g. 'AGENTS.md'"
                )
        return proposal["value"]

    # -- hardening (issue 16)
    shell_env_passthrough = List(
        Unicode(),
        help="Environment variables run_shell commands may see although their names look like credentials "
        "or belong to Jupyter or the model endpoint (those are removed by default), e.g. ['GITHUB_TOKEN'].",
    ).tag(config=True)
    shell_limits = CheckedDict(
        _check_shell_limits,
        help='Resource limits of each run_shell command: {"processes": 256, "memory_mb": 4096, "file_mb": 1024, '
        '"cpu_s": 600} (the defaults; 0 = no limit of that kind). Keys left out keep their default.',
    ).tag(config=True)
    max_tool_calls_per_step = Int(
        64, min=1, help="Most tool calls run from one model answer; further calls get an error result, not run."
    ).tag(config=True)
    stream_idle_timeout = Seconds(
        15.0,
        help="Once an answer has started streaming, seconds of silence after which the stream is abandoned "
        "and retried like a cut stream (before the first chunk, first_byte_timeout applies).",
    ).tag(config=True)
    max_response_mb = Float(
        64.0, min=0.001, help="Largest model response (megabytes, decompressed) before the call fails clearly."
    ).tag(config=True)

    @validate("base_url")
    def _check_base_url(self, proposal: dict[str, Any]) -> str | None:
        from agent_magic.llm.endpoint_url import check_base_url

        if proposal["value"] is None:
            return None
        try:
            return check_base_url(proposal["value"], "AgentMagic.base_url")
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    # -- end hardening

    # -- telemetry (issue 15)
    telemetry = Enum(
        TELEMETRY_MODES,
        help="OpenTelemetry traces and metrics of every turn: 'off' (nothing is imported or sent) or 'otlp' "
        "(exported as the standard OTEL_EXPORTER_OTLP_* variables say, or through a TracerProvider you set "
        "globally; needs the 'otel' extra). Default: $AGENT_MAGIC_TELEMETRY, else off.",
    ).tag(config=True)
    telemetry_content = Bool(
        False,
        help="Also put prompts, answers, tool arguments and tool results on the spans (secrets masked). "
        "Off by default: traces then carry only names, ids, timings, token counts and costs.",
    ).tag(config=True)
    # -- end telemetry

    # -- MCP and prices (issue 14) ----------------------------------------------------------------------
    mcp_servers = CheckedDict(
        _check_mcp_servers,
        help='MCP servers, merged over .mcp.json in the workspace (same shape as its "mcpServers"): '
        '{"git": {"command": "uvx", "args": ["mcp-server-git"]}, "docs": {"url": "https://…/mcp", '
        '"headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}}. ${VAR} is read from the environment.',
    ).tag(config=True)
    mcp_startup_timeout = Seconds(
        30.0, help="Seconds an MCP server may take to start and list its tools before it counts as failed."
    ).tag(config=True)

    # -- performance (issue 17)
    max_concurrent_requests = Int(
        4,
        min=0,
        help="Most model requests this kernel has under way at once, all sessions together; more wait their "
        "turn, first come first served (0 = no cap). One conversation's requests follow each other, so this "
        "never slows a notebook run cell by cell: it keeps parallel sessions from flooding a shared endpoint.",
    ).tag(config=True)
    # -- end performance

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("AGENT_MAGIC_MODEL") or FALLBACK_MODEL

    @default("workspace")
    def _default_workspace(self) -> str:
        return os.getcwd()

    @default("home")
    def _default_home(self) -> str:
        return os.environ.get("AGENT_MAGIC_HOME") or os.path.join(os.getcwd(), ".agent")

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

    # -- telemetry (issue 15)
    @default("telemetry")
    def _default_telemetry(self) -> str:
        value = os.environ.get("AGENT_MAGIC_TELEMETRY", "off").strip().lower() or "off"
        if value not in TELEMETRY_MODES:
            raise TraitError(f"AGENT_MAGIC_TELEMETRY must be off or otlp, not {value!r}")
        return value

    # -- end telemetry

    @property
    def workspace_path(self) -> Path:
        """The workspace as a resolved path."""
        return Path(self.workspace).expanduser().resolve()

    def has_endpoint(self) -> bool:
        """True when a real model can be reached: a key or a base URL is configured somewhere."""
        return bool(
            self.api_key or self.base_url or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
        )

    def model_base_url(self) -> str | None:
        """The model endpoint's base URL as the openai SDK resolves it (None: OpenAI's)."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def effective_settings(self) -> dict[str, Any]:
        """Every setting with its current value; the API key and credentials in URLs are masked."""
        from agent_magic.policy.secrets import mask_secrets

        values: dict[str, Any] = {name: getattr(self, name) for name in sorted(self.trait_names(config=True))}
        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        values["api_key"] = f"…{key[-4:]} (set)" if key else "(not set)"
        values["base_url"] = mask_secrets(self.model_base_url() or "(OpenAI default)")
        values["system_prompt"] = self.system_prompt[:60] + ("…" if len(self.system_prompt) > 60 else "")
        return values

    # -- team ledger (issue 15)
    ledger_url = Unicode(
        help="Where the usage ledger lives: empty for the SQLite file under AgentMagic.home, or a PostgreSQL "
        "URL (postgresql://user@host:5432/db) shared by many kernels and machines; needs "
        "agent-magic[postgres]. Default: $AGENT_MAGIC_LEDGER_URL, else empty.",
    ).tag(config=True)
    user_budget = CheckedDict(
        _check_budget,
        help='Limits per user across all their kernels, per month or day: {"cost": dollars, "tokens": N, '
        '"tool_calls": N, "steps": N, "per": "month"} ("per": "month" or "day", default month).',
    ).tag(config=True)

    @default("ledger_url")
    def _default_ledger_url(self) -> str:
        return os.environ.get("AGENT_MAGIC_LEDGER_URL", "").strip()

    @validate("ledger_url")
    def _valid_ledger_url(self, proposal: Any) -> str:
        from agent_magic.ledger.backends import check_url

        try:
            return check_url(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    # -- the notebook keeps the agent's work (issue 12) ------------------------------------------------
    replay = Enum(
        ["off", "auto", "strict"],
        help="Replay recorded model calls instead of calling the model: 'auto' answers each recorded call from "
        "its recording and calls the model on a miss; 'strict' never calls it (a miss fails the cell, naming it "
        "and the reason); 'off'. Default: $AGENT_MAGIC_REPLAY (1 or auto, strict, 0 or off), else off.",
    ).tag(config=True)
    replay_dir = Unicode(
        "",
        help="Folder of the replay files (*agent-replay.jsonl) replay reads and %agent replay export writes. "
        "Empty: $AGENT_MAGIC_REPLAY_DIR, else the notebook's folder (the working directory when the kernel "
        "was not told its notebook).",
    ).tag(config=True)
    code_cells = Enum(
        ["insert", "off"],
        "insert",
        help="'insert': the JupyterLab / Notebook 7 companion inserts the code each run_python ran as a tagged "
        "code cell below the %%agent cell (never run again); 'off'. Without the companion: %agent cells.",
    ).tag(config=True)
    estimate_output_tokens = Int(
        4096,
        min=1,
        help="Output tokens %%agent --estimate assumes at the top of its dollar range (answers may be shorter; "
        "nothing caps them at this).",
    ).tag(config=True)

    @default("replay")
    def _default_replay(self) -> str:
        value = os.environ.get("AGENT_MAGIC_REPLAY", "").strip().lower()
        modes = {"": "off", "0": "off", "off": "off", "false": "off", "no": "off"}
        modes |= {"1": "auto", "auto": "auto", "on": "auto", "true": "auto", "yes": "auto", "strict": "strict"}
        if value not in modes:
            raise TraitError(f"AGENT_MAGIC_REPLAY must be 1 (or auto), strict or 0 (or off), not {value!r}")
        return modes[value]

    @default("replay_dir")
    def _default_replay_dir(self) -> str:
        return os.environ.get("AGENT_MAGIC_REPLAY_DIR", "")


def setting(trait_name: str) -> Any:
    """A dataclass field whose default is the `AgentMagic` trait's default, linked to that trait so
    `from_config` fills it: the trait stays the one source of every setting's default.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Limits:
        ...     tool_timeout: float = setting("tool_timeout")
        >>> Limits().tool_timeout, from_config(Limits, AgentMagic(tool_timeout=5.0)).tool_timeout
        (60.0, 5.0)
    """
    trait = AgentMagic.class_traits()[trait_name]
    return dataclasses.field(default=trait.default_value, metadata={"trait": trait_name})


def from_config(cls: type[Settings], config: AgentMagic, **explicit: Any) -> Settings:
    """An instance of the settings dataclass `cls`, each `setting(...)` field read from `config`;
    `explicit` values (the cell's options, per-call facts) win."""
    values = {
        field.name: getattr(config, field.metadata["trait"])
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if "trait" in field.metadata and field.name not in explicit
    }
    return cls(**values, **explicit)
