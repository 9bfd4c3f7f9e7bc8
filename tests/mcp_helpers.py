"""What the MCP tests share: the scripted test server, starting it over HTTP, and watching processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SCRIPTED_SERVER = str(Path(__file__).parent / "mcp_servers" / "scripted_server.py")


def stdio_entry(**env: str) -> dict:
    """The `mcpServers` entry of the scripted server over stdio."""
    return {"command": sys.executable, "args": [SCRIPTED_SERVER], "env": env}


def time_entry() -> dict:
    """The reference `mcp-server-time` (PyPI) over stdio."""
    return {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}


def git_entry(repository: Path) -> dict:
    """The reference `mcp-server-git` (PyPI) over stdio, for one repository."""
    return {"command": sys.executable, "args": ["-m", "mcp_server_git", "--repository", str(repository)]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


def start_http_server(port: int, **env: str) -> subprocess.Popen:
    """The scripted server over streamable HTTP on 127.0.0.1:`port`, once it accepts connections."""
    process = subprocess.Popen(
        [sys.executable, SCRIPTED_SERVER, "http", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def accepting() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_until(accepting, 30, "the HTTP MCP server accepting connections")
    return process


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
