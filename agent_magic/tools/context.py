"""What a tool may use while it runs: the workspace root and the user's namespace."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ToolContext:
    """Handed to tools whose first parameter is annotated `ToolContext`; never shown to the model."""

    workspace: Path
    namespace: dict[str, Any] = field(default_factory=dict)
