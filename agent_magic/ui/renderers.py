"""Which renderer shows a cell's turn: the notebook's (in a kernel) or the terminal's, set up from the
settings (`display_interval`, `summary`, `show_reasoning`, `live_status`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_magic.config import AgentMagic
    from agent_magic.ui.notebook import NotebookRenderer
    from agent_magic.ui.terminal import TerminalRenderer


def renderer_for(
    shell: Any, config: AgentMagic, *, turn_metadata: Callable[[], dict[str, Any]] | None = None
) -> NotebookRenderer | TerminalRenderer:
    """The renderer of the cell running now in `shell`; `turn_metadata` (notebooks only) is attached to
    the turn's final output (see `NotebookRenderer`)."""
    if getattr(shell, "kernel", None) is None:
        from agent_magic.ui.terminal import TerminalRenderer

        live = None if config.live_status == "auto" else config.live_status == "on"
        return TerminalRenderer(summary=config.summary, show_reasoning=config.show_reasoning, live=live)
    from agent_magic.ui.notebook import NotebookRenderer
    from agent_magic.ui.progress import someone_watching

    return NotebookRenderer(
        interval=config.display_interval,
        live=someone_watching(shell, config.live_status),
        summary=config.summary,
        show_reasoning=config.show_reasoning,
        turn_metadata=turn_metadata,
    )
