"""Which `.mcp.json` servers the user has trusted to start.

A stdio MCP server is a command run on this machine, outside the shell sandbox. A `.mcp.json` can come
with a cloned repository, or be written by the agent itself (`write_file`), so a server it defines
starts only once the user has trusted that exact entry in that workspace (`%agent mcp --trust NAME`),
as Claude Code and VS Code ask before running a project's servers. Servers of `AgentMagic.mcp_servers`
are the user's own configuration and need no trust.

Trust is kept in `<agent home>/mcp-trusted.json`, keyed by workspace and server name, with a hash of
the entry as written: a changed entry (another command, other arguments) must be trusted again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_magic.tools.mcp.config import ServerSpec

TRUST_FILE = "mcp-trusted.json"


class TrustStore:
    """The trusted `.mcp.json` entries, in one small JSON file of the agent home."""

    def __init__(self, home: Path) -> None:
        self.path = home / TRUST_FILE

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent or unreadable: nothing is trusted
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _key(workspace: Path, name: str) -> str:
        return f"{workspace}\0{name}"

    def is_trusted(self, spec: ServerSpec, workspace: Path) -> bool:
        """True when `spec` needs no trust, or this exact entry was trusted in `workspace`."""
        return not spec.needs_trust or self._read().get(self._key(workspace, spec.name)) == spec.fingerprint

    def trust(self, specs: list[ServerSpec], workspace: Path) -> None:
        """Record `specs` as trusted in `workspace` (written atomically, readable by the user only)."""
        data = self._read()
        data.update({self._key(workspace, spec.name): spec.fingerprint for spec in specs})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".mcp-trusted-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(data, file, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
