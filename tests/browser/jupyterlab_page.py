"""A JupyterLab server and a headless Chromium page driving it, for browser tests (reusable fixtures).

`JupyterLab` starts `jupyter lab` on a free loopback port with its own root folder and token, and writes
notebooks into it; `open_notebook()` opens one in a Playwright page and waits until its kernel is idle.
Chromium is Debian's (`/usr/bin/chromium`): Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("AGENT_MAGIC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def notebook_json(*sources: str) -> dict[str, Any]:
    """An nbformat-4 notebook whose code cells hold `sources`, for the python3 kernel."""
    cells = [
        {"cell_type": "code", "id": f"cell{i}", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
        for i, src in enumerate(sources)
    ]
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class JupyterLab:
    """A running `jupyter lab` (no browser of its own) serving `root` on 127.0.0.1."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jupyter = Path(sys.executable).with_name("jupyter")
        command = [
            str(jupyter),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        self.log_path = root.parent / f"jupyterlab-{self.port}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=root, env={**os.environ, **(env or {})}, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not start in {START_TIMEOUT:.0f} s; log: {self.log_path}")

    def write_notebook(self, name: str, *sources: str) -> str:
        """Write a notebook with these code cells into the root; returns its name."""
        (self.root / name).write_text(json.dumps(notebook_json(*sources)))
        return name

    def notebook_url(self, name: str) -> str:
        """The URL that opens `name` alone in a fresh JupyterLab workspace, authenticated by the token.

        A new workspace per page: the default one would reopen every notebook an earlier test opened.
        """
        return f"{self.url}/lab/workspaces/{secrets.token_hex(6)}/tree/{name}?token={self.token}"

    def kernel_state(self, name: str) -> str | None:
        """The execution state of the kernel of notebook `name` ("starting", "idle", "busy"), or None."""
        with urllib.request.urlopen(f"{self.url}/api/sessions?token={self.token}", timeout=10) as response:
            sessions = json.load(response)
        for session in sessions:
            if session.get("path") == name and session.get("kernel"):
                return session["kernel"].get("execution_state")
        return None

    def shut_down_kernels(self) -> None:
        """Shut down every running kernel (between tests, so they do not pile up)."""
        with urllib.request.urlopen(f"{self.url}/api/kernels?token={self.token}", timeout=10) as response:
            kernels = json.load(response)
        for kernel in kernels:
            url = f"{self.url}/api/kernels/{kernel['id']}?token={self.token}"
            urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()

    def stop(self) -> None:
        """Stop the server and its kernels."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def browser_available() -> str | None:
    """None when Playwright and Chromium are present; otherwise why browser tests cannot run."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; see scripts/system-deps.sh)"
    return None


def open_notebook(page: Any, lab: JupyterLab, name: str, timeout_ms: int = 60_000) -> None:
    """Open `name` in `page` and wait until the server reports its kernel idle.

    The page's own status indicator reads "idle" before a kernel exists, so the server is asked instead.
    """
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if lab.kernel_state(name) == "idle":
            return
        time.sleep(0.2)
    raise TimeoutError(f"the kernel of {name} did not become idle")


def run_all_cells(page: Any, timeout_ms: int = 60_000) -> None:
    """Run every cell from the top with the menu's Run → Run All Cells, and wait until the first has run."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    first_prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    page.wait_for_function(
        "el => /\\[\\d+\\]|\\[\\*\\]/.test(el.textContent)", arg=first_prompt.element_handle(), timeout=timeout_ms
    )
