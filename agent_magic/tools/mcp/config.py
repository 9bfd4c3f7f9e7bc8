"""Which MCP servers to run: `.mcp.json` at the workspace root, with `AgentMagic.mcp_servers` over it.

Both hold the `mcpServers` object the other MCP clients read (Claude Code, VS Code, Cursor…)::

    {"mcpServers": {
        "git":  {"command": "uvx", "args": ["mcp-server-git"], "env": {"LOG_LEVEL": "warning"}},
        "docs": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}
    }}

A server with a `command` runs over stdio; one with a `url` over streamable HTTP (`"type"` may say so:
`stdio`, `http`, `streamable-http`). `"disabled": true` skips a server. Other keys (descriptions, other
clients' options) are ignored. `AgentMagic.mcp_servers` replaces a same-named server of the file.
A server of a `.mcp.json` starts only once the user has trusted it (`trust.py`).
`${VAR}` and `${VAR:-default}` in the command, args, env, cwd, url and headers are read from the
kernel's environment when the server starts; the config shown to the user keeps the placeholders, so
no secret is printed. A stdio server gets only the environment the MCP SDK passes on (HOME, PATH,
USER…) plus its `env`: the kernel's API keys do not leak to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent_magic.policy.secrets import MIN_SECRET_LENGTH, SECRET_NAME, mask_secrets

CONFIG_FILE = ".mcp.json"
SETTING = "AgentMagic.mcp_servers"
STDIO, HTTP = "stdio", "http"
_TYPES = {"stdio": STDIO, "http": HTTP, "streamable-http": HTTP, "streamable_http": HTTP, "streamablehttp": HTTP}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
EXAMPLE = '{"git": {"command": "uvx", "args": ["mcp-server-git"]}} or {"docs": {"url": "https://…/mcp"}}'


class McpConfigError(ValueError):
    """An MCP server's configuration cannot be used; the message names the server and the fix."""


@dataclass(frozen=True)
class ServerSpec:
    """One server, ready to start: `${VAR}`s expanded. `shown` is how it was written (placeholders kept)."""

    name: str
    transport: str
    origin: str
    shown: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = field(default=(), compare=False, repr=False)
    fingerprint: str = field(default="", compare=False)  # a hash of the entry as written (trust.py)

    @property
    def needs_trust(self) -> bool:
        """True for a server of a `.mcp.json` (not of the user's `AgentMagic.mcp_servers`)."""
        return self.origin != SETTING

    def redact(self, text: str) -> str:
        """`text` with this server's secrets (credential-like env values, header values) and the
        kernel's credential-like environment values replaced by `***`."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return mask_secrets(text)


@dataclass
class LoadedConfig:
    """The servers to run, in order (the file's, then the setting's new ones), and the problems found:
    one line each, naming the server or the file."""

    specs: dict[str, ServerSpec] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def configured(self) -> bool:
        """True when anything about MCP is configured (servers or broken entries)."""
        return bool(self.specs or self.problems)


def _expand(value: str, environ: Mapping[str, str], where: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if fallback is not None:
            return fallback
        raise McpConfigError(f"${{{name}}} in {where} is not set; set it in the kernel's environment")

    return _PLACEHOLDER.sub(substitute, value)


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise McpConfigError(f"{what} must be a list of strings")
    return value


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise McpConfigError(f"{what} must be an object of strings")
    return value


def _transport(entry: dict[str, Any]) -> str:
    kind = entry.get("type")
    if kind is None:
        if "command" in entry:
            return STDIO
        if "url" in entry:
            return HTTP
        raise McpConfigError(f"needs a 'command' (stdio) or a 'url' (streamable HTTP), e.g. {EXAMPLE}")
    if not isinstance(kind, str) or kind.lower() not in _TYPES:
        hint = (
            "; the old SSE transport is not supported, use the server's streamable HTTP endpoint"
            if kind == "sse"
            else ""
        )
        raise McpConfigError(f"type {kind!r} is not stdio or http{hint}")
    return _TYPES[kind.lower()]


def check_entry(entry: Any) -> str:
    """Check one server entry's shape (not its `${VAR}`s) and return its transport; raises McpConfigError."""
    if not isinstance(entry, dict):
        raise McpConfigError(f"must be an object, e.g. {EXAMPLE}")
    if not isinstance(entry.get("disabled", False), bool):
        raise McpConfigError("'disabled' must be true or false")
    transport = _transport(entry)
    if transport == STDIO:
        if not isinstance(entry.get("command"), str) or not entry["command"].strip():
            raise McpConfigError('\'command\' must be the program to run, e.g. "uvx" or "python"')
        _strings(entry.get("args", []), "'args'")
        _string_map(entry.get("env", {}), "'env'")
        if not isinstance(entry.get("cwd", ""), str):
            raise McpConfigError("'cwd' must be a folder path")
    else:
        url = entry.get("url")
        if not isinstance(url, str) or not re.match(r"^(https?://|\$\{)", url):
            raise McpConfigError("'url' must be an http:// or https:// URL of the server's MCP endpoint")
        _string_map(entry.get("headers", {}), "'headers'")
    return transport


def check_servers(value: Any, where: str = SETTING) -> None:
    """Check an `mcpServers` object (the setting's value); raises ValueError naming the bad server."""
    if not isinstance(value, dict):
        raise McpConfigError(f"{where} must be an object of servers by name, e.g. {EXAMPLE}")
    for name, entry in value.items():
        if not isinstance(name, str) or not name.strip():
            raise McpConfigError(f"{where}: server names must be non-empty strings")
        try:
            check_entry(entry)
        except McpConfigError as exc:
            raise McpConfigError(f"{where}[{name!r}]: {exc}") from None


def _shown(entry: dict[str, Any], transport: str) -> str:
    """The server as written, credentials in URLs and header values left out."""
    if transport == HTTP:
        parts = urlsplit(entry["url"])
        netloc = parts.netloc.rpartition("@")[2]  # user:password@ never shown
        shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        headers = ", ".join(sorted(entry.get("headers", {})))
        return shown + (f" (headers: {headers})" if headers else "")
    return " ".join([entry["command"], *entry.get("args", [])])


def build_spec(
    name: str, entry: dict[str, Any], origin: str, workspace: Path, environ: Mapping[str, str]
) -> ServerSpec:
    """The runnable spec of one entry: shape checked, `${VAR}`s expanded; raises McpConfigError."""
    transport = check_entry(entry)
    secrets: set[str] = set()
    if transport == STDIO:
        env = {k: _expand(v, environ, f"env.{k}") for k, v in entry.get("env", {}).items()}
        secrets |= {v for k, v in env.items() if SECRET_NAME.search(k)}
        cwd = entry.get("cwd")
        spec = ServerSpec(
            name,
            STDIO,
            origin,
            mask_secrets(_shown(entry, transport)),
            command=_expand(entry["command"], environ, "command"),
            args=tuple(_expand(arg, environ, "args") for arg in entry.get("args", [])),
            env=tuple(sorted(env.items())),
            cwd=str(workspace / _expand(cwd, environ, "cwd")) if cwd else str(workspace),
        )
    else:
        headers = {k: _expand(v, environ, f"headers.{k}") for k, v in entry.get("headers", {}).items()}
        # Header values are credentials more often than not ("Bearer …"): all of them are kept out of output.
        secrets |= set(headers.values()) | {v.partition(" ")[2] for v in headers.values()}
        url = _expand(entry["url"], environ, "url")
        secrets |= {urlsplit(url).password or ""}
        spec = ServerSpec(
            name,
            HTTP,
            origin,
            mask_secrets(_shown(entry, transport)),
            url=url,
            headers=tuple(sorted(headers.items())),
        )
    kept = sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
    fingerprint = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
    return dataclasses.replace(spec, secrets=tuple(kept), fingerprint=fingerprint)


def read_config_file(path: Path) -> dict[str, Any]:
    """The `mcpServers` object of a `.mcp.json` ({} when there is no file); raises McpConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise McpConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); its servers are not started"
        ) from None
    servers = data.get("mcpServers", {}) if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise McpConfigError(f'{path}: expected {{"mcpServers": {{...}}}}; its servers are not started')
    return servers


def load_servers(workspace: Path, setting: dict[str, Any], environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """The servers `.mcp.json` in `workspace` and the setting configure, each checked and expanded.

    A broken entry costs that server only: it is reported in `problems` and the others are kept.
    """
    environ = os.environ if environ is None else environ
    loaded = LoadedConfig()
    path = workspace / CONFIG_FILE
    try:
        from_file = read_config_file(path)
    except McpConfigError as exc:
        loaded.problems.append(str(exc))
        from_file = {}
    entries = {name: (entry, str(path)) for name, entry in from_file.items()}
    entries.update({name: (entry, SETTING) for name, entry in setting.items()})
    for name, (entry, origin) in entries.items():
        if isinstance(entry, dict) and entry.get("disabled") is True:
            continue
        try:
            loaded.specs[name] = build_spec(name, entry, origin, workspace, environ)
        except McpConfigError as exc:
            loaded.problems.append(f"MCP server {name!r} ({origin}): {exc}")
    return loaded
