"""agent_magic: a notebook-native AI agent for Jupyter.

Load it with ``%load_ext agent_magic``, then write a cell::

    %%agent
    Which columns of df have missing values?

Heavy dependencies (openai, pandas, ipywidgets) are imported on first use, so loading stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


def load_ipython_extension(shell: InteractiveShell) -> None:
    """Called by ``%load_ext agent_magic``: registers ``%%agent``, ``%agent`` and ``AgentMagic`` config."""
    from agent_magic.magic import register

    if "AgentMagics" not in shell.magics_manager.registry:
        register(shell)


def unload_ipython_extension(shell: InteractiveShell) -> None:
    """Called by ``%unload_ext agent_magic``."""
    from agent_magic.magic import unregister

    unregister(shell)


__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]
