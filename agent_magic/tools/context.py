"""What a tool may use while it runs: the workspace root, the user's namespace and the limits it obeys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_magic.policy.shell_limits import ShellLimits


@dataclass
class ToolContext:
    """Handed to tools whose first parameter is annotated `ToolContext`; never shown to the model.

    `sandbox` is how `run_shell` isolates commands: "auto" (bubblewrap when it works here, else a plain
    subprocess with a notice), "bwrap" (bubblewrap or refuse) or "none". `allow_network` lets sandboxed
    commands reach the network. `max_output_chars` is the cap on one tool result. `env_passthrough` names
    credential-like environment variables a command may see anyway; `private_paths` are hidden from
    sandboxed commands (the agent home and its ledger); `shell_limits` bound each command's resources.
    """

    workspace: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    max_output_chars: int = 50_000
    sandbox: str = "auto"
    allow_network: bool = False
    env_passthrough: tuple[str, ...] = ()
    private_paths: tuple[Path, ...] = ()
    shell_limits: ShellLimits = field(default_factory=ShellLimits)
