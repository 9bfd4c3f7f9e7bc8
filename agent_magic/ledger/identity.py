"""Who runs the kernel and which notebook: the keys that `usage()` and friends filter on by default."""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any


def current_notebook(namespace: dict[str, Any] | None = None) -> str:
    """The running notebook's path, or the working directory when the kernel was not told.

    Jupyter Server (2+) tells a kernel its notebook in `JPY_SESSION_NAME` (ipykernel copies it to
    `__session__`), VS Code in `__vsc_ipynb_file__`. nbclient, papermill and terminal IPython say
    nothing: then every notebook run from one folder counts as one.
    """
    namespace = namespace or {}
    name = namespace.get("__vsc_ipynb_file__") or namespace.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if not name:
        return os.getcwd()
    if os.path.isabs(name):
        return os.path.normpath(name)
    # Jupyter Server gives the path relative to its root; the kernel starts in the notebook's folder.
    return os.path.join(os.getcwd(), os.path.basename(name))


def current_user() -> str:
    """Who runs this kernel: JupyterHub's user (`JUPYTERHUB_USER`), else the operating-system user.

    On JupyterHub every single-user server gets `JUPYTERHUB_USER`; the OS user there is often a shared
    service account (`jovyan`), which would lump everyone together.
    """
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return str(os.getuid())


def current_host() -> str:
    """The machine this kernel runs on (its host name)."""
    return socket.gethostname()
