"""Runs INSIDE a shared test kernel (loaded there by conftest.py's `module_kernel`; pytest never imports
it): remembers the kernel's state when it started and puts it back before each test, as if the test had
a kernel of its own.

What a test can change and a fresh kernel would not have: the environment, the working directory,
`%config` values (IPython keeps them in the shell's config, so a reloaded extension would read them
again), the user namespace, the `@agent_magic.tool` registry, handlers added to the `agent_magic` loggers
(the JSONL log of an earlier test's agent home), modules blocked by setting `sys.modules[name] = None`, and
the extension itself (its runtime: session, gate, clients, breakers, rate limiter, ledger, lab comm).
"""

from __future__ import annotations

import copy
import logging
import os
import sys

from IPython import get_ipython

EXTENSION = "agent_magic"


class _Start:
    """The state remembered when the kernel started (before the extension was loaded)."""

    def __init__(self, launch_env: dict[str, str]) -> None:
        shell = get_ipython()
        # The variables the kernel set for itself (ipykernel's MPLBACKEND, for one): a fresh kernel has them too.
        self.own_env = {k: v for k, v in os.environ.items() if launch_env.get(k) != v}
        self.config = copy.deepcopy(dict(shell.config))
        self.blocked_modules = {name for name, module in sys.modules.items() if module is None}
        self.handlers = _logger_handlers()


_start: _Start | None = None


def _loggers() -> dict[str, logging.Logger]:
    manager = logging.Logger.manager
    return {
        name: logger
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and (name == EXTENSION or name.startswith(EXTENSION + "."))
    }


def _logger_handlers() -> dict[str, tuple[list[logging.Handler], int]]:
    return {name: (list(logger.handlers), logger.level) for name, logger in _loggers().items()}


def remember(launch_env: dict[str, str]) -> None:
    """Remember the state of the kernel as started with `launch_env`."""
    global _start
    _start = _Start(launch_env)


def reset(env: dict[str, str], cwd: str) -> None:
    """Give the next test a kernel as good as new: environment `env` (plus what the kernel set for
    itself), working directory `cwd`, and the extension loaded afresh."""
    assert _start is not None, "remember() first"
    shell = get_ipython()
    if EXTENSION in shell.extension_manager.loaded:
        shell.extension_manager.unload_extension(EXTENSION)

    os.environ.clear()
    os.environ.update({**env, **_start.own_env})
    os.chdir(cwd)

    for key in [key for key in shell.config if key not in _start.config]:
        del shell.config[key]
    shell.config.update(copy.deepcopy(_start.config))

    for name in [name for name, module in sys.modules.items() if module is None]:
        if name not in _start.blocked_modules:
            del sys.modules[name]

    for name, logger in _loggers().items():
        handlers, level = _start.handlers.get(name, ([], logging.NOTSET))
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)

    custom = sys.modules.get("agent_magic.tools.custom")
    if custom is not None:
        custom.CUSTOM_TOOLS._tools.clear()

    shell.reset(new_session=False)
    shell.extension_manager.load_extension(EXTENSION)
