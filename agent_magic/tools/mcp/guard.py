"""Runs one stdio MCP server so that it cannot outlive the kernel: `python guard.py COMMAND ARGS...`.

The MCP SDK starts this script as the leader of a new process group; the script starts the server in
that group, with stdin, stdout and stderr passed through untouched, and waits for it. When the kernel
dies, even by SIGKILL, the group is killed: on Linux the kernel delivers `PR_SET_PDEATHSIG` at once,
elsewhere a check of the parent every half second notices. Killing the *group* also ends what the
server started (`npx` → `node`, `uvx` → `python`), which a server's own stdin-EOF handling often does
not; and when the server exits, what it left running in the group is stopped too.

The first stderr line says the group's id (`agent-magic-mcp-guard pid=N`), so the kernel can show it
and kill the group itself at exit; the last says how the server ended. Standard library only: it runs
with `python -I -S`, without the kernel's packages.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PID_LINE = "agent-magic-mcp-guard pid="
PR_SET_PDEATHSIG = 1
PARENT_CHECK_INTERVAL = 0.5
LEFTOVER_GRACE = 1.0  # seconds what the server left running gets between SIGTERM and SIGKILL


def _kill_group(*_: object) -> None:
    """Kill the whole process group, this guard included."""
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _others_in_group() -> bool:
    """True while another live process is in this group (always True where /proc cannot tell)."""
    group, me = os.getpgrp(), os.getpid()
    try:
        entries = [entry for entry in Path("/proc").iterdir() if entry.name.isdigit() and int(entry.name) != me]
    except OSError:
        return True
    for entry in entries:
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _parent, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if state != "Z" and int(pgrp) == group:
            return True
    return False


def _end_leftovers() -> None:
    """Stop what the server left running in the group (helpers it started): SIGTERM, then SIGKILL."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgrp(), signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_GRACE
    while _others_in_group():
        if time.monotonic() > deadline:
            _kill_group()
        time.sleep(0.02)


def _die_with_parent() -> None:
    """Ask Linux to signal this process when its parent dies (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGUSR1)
    except (OSError, AttributeError):
        pass  # the parent check below still catches it


def main(argv: list[str]) -> int:
    """Start the server `argv` in this process group and wait for it; returns its exit status."""
    if not argv:
        print("agent-magic-mcp-guard: no command given", file=sys.stderr)
        return 2
    parent = os.getppid()
    signal.signal(signal.SIGUSR1, _kill_group)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        _kill_group()
    print(f"{PID_LINE}{os.getpid()}", file=sys.stderr, flush=True)
    try:
        server = subprocess.Popen(argv)
    except OSError as exc:
        print(f"cannot start {argv[0]!r}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 127
    while True:
        try:
            status = server.wait(timeout=PARENT_CHECK_INTERVAL)
            break
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                _kill_group()
    if status < 0:
        print(f"server process ended by signal {-status}", file=sys.stderr, flush=True)
    elif status:
        print(f"server process exited with status {status}", file=sys.stderr, flush=True)
    _end_leftovers()
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
