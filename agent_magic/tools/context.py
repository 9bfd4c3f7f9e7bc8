"""What a tool may use while it runs: the workspace root, the user's namespace and the limits it obeys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.config import setting

if TYPE_CHECKING:
    from agent_magic.undo.files import FileSnapshots


@dataclass
class ToolContext:
    """Handed to tools whose first parameter is annotated `ToolContext`; never shown to the model.

    `sandbox` is how `run_shell` isolates commands: "auto" (bubblewrap when it works here, else a plain
    subprocess with a notice), "bwrap" (bubblewrap or refuse) or "none". `allow_network` lets sandboxed
    commands reach the network. `max_output_chars` is the cap on one tool result. `env_passthrough` names
    credential-like environment variables a command may see anyway (`AgentMagic.shell_env_passthrough`);
    `private_paths` are hidden from sandboxed commands (the agent home and its ledger); `shell_limits`
    bound each command's resources (`AgentMagic.shell_limits`, parsed by `policy/shell_limits.py`).
    """

    workspace: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    max_output_chars: int = setting("max_tool_output_chars")
    sandbox: str = setting("shell_sandbox")
    allow_network: bool = setting("shell_network")
    # Whether a deny rule protects a workspace-relative path from the tools that read files (searches
    # skip such files); None: no rules.
    denies_reading: Callable[[str], bool] | None = None
    # Where tools that change files keep copies for `%agent undo` (and whether run_python reports the
    # bindings it changes); None: undo is off, nothing is kept.
    snapshots: FileSnapshots | None = None
    # -- hardening (issue 16): list and dict settings cannot be dataclass defaults; the runtime passes them
    env_passthrough: tuple[str, ...] = ()
    private_paths: tuple[Path, ...] = ()
    shell_limits: dict[str, int] = field(default_factory=dict)
