"""agent_magic: a notebook-native AI agent for Jupyter.

Load it with ``%load_ext agent_magic``, then write a cell::

    %%agent
    Which columns of df have missing values?

Heavy dependencies (openai, pandas, ipywidgets) are imported on first use, so loading stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


def load_ipython_extension(shell: InteractiveShell) -> None:
    """Called by ``%load_ext agent_magic``: registers ``%%agent``, ``%agent`` and ``AgentMagic`` config."""
    from agent_magic.kernel import MAGICS_NAME
    from agent_magic.magic import register

    if MAGICS_NAME not in shell.magics_manager.registry:
        register(shell)


def unload_ipython_extension(shell: InteractiveShell) -> None:
    """Called by ``%unload_ext agent_magic``."""
    from agent_magic.magic import unregister

    unregister(shell)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab companion lives (read by `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "agent-magic"}]


def tool(function: Any = None, *, name: str | None = None, destructive: bool = False) -> Any:
    """Decorator: offer a typed notebook function (sync or async) to the agent as a tool.

    ``@agent_magic.tool`` makes a read-only tool; ``@agent_magic.tool(destructive=True)`` one whose every
    call is approved first. See `agent_magic.tools.custom`.
    """
    from agent_magic.tools.custom import tool as make_custom_tool

    return make_custom_tool(function, name=name, destructive=destructive)


# The ledger's pandas views, imported on first access so `import agent_magic` stays light.
_LEDGER_VIEWS = ("usage", "tool_calls", "transcript", "session_totals", "sessions")


def __getattr__(name: str) -> object:
    """Lazy access to `usage()`, `tool_calls()`, `transcript()`, `session_totals()` and `sessions()` (see
    `kernel`), and `provenance()` (notebook_provenance.py)."""
    if name in _LEDGER_VIEWS:
        from agent_magic import kernel

        if name in ("session_totals", "sessions"):
            return getattr(kernel, name)
        return kernel.public_view(name)
    if name == "provenance":
        from agent_magic.notebook_provenance import provenance

        return provenance
    raise AttributeError(f"module 'agent_magic' has no attribute {name!r}")


__all__ = ["__version__", "load_ipython_extension", "provenance", "tool", "unload_ipython_extension", *_LEDGER_VIEWS]
