"""What a tool may use while it runs: the workspace root, the user's namespace and the limits it obeys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ToolContext:
    """Handed to tools whose first parameter is annotated `ToolContext`; never shown to the model.

    `sandbox` is how `run_shell` isolates commands: "auto" (bubblewrap when it works here, else a plain
    subprocess with a notice), "bwrap" (bubblewrap or refuse) or "none". `allow_network` lets sandboxed
    commands reach the network. `max_output_chars` is the cap on one tool result.
    """

    workspace: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    max_output_chars: int = 50_000
    sandbox: str = "auto"
    allow_network: bool = False
