"""Every process a shell command started, found and killed even when it left the command's process group.

A command starts in a process group of its own, but a child can leave it (`setsid`, `setpgid`) and a
double fork hands the grandchild to init, out of the shell's tree. In a bubblewrap sandbox that does not
matter (killing the sandbox ends its PID namespace and everything in it), nor in a control group of its
own (`policy/shell_limits.CommandCgroup` kills by membership). Without either, this module keeps a record while
the command runs: every descendant it has seen, with its session and process group. Killing then reaches
the command's group, each remembered process still alive (checked by start time, so a recycled pid is
spared), and every process in a session or group one of them started.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    """What /proc/PID/stat says about one process: its parent, group, session and start time."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    start: int


def _read(pid: int) -> ProcessInfo | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: the other fields follow its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return ProcessInfo(pid, int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


def snapshot() -> dict[int, ProcessInfo]:
    """Every process visible in /proc (empty where there is no /proc)."""
    found: dict[int, ProcessInfo] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(PROC):
            if entry.name.isdigit() and (info := _read(int(entry.name))) is not None:
                found[info.pid] = info
    return found


@dataclass
class CommandProcesses:
    """The processes of one command: `observe()` while it runs, `kill()` to end them all."""

    leader: int
    seen: dict[int, ProcessInfo] = field(default_factory=dict)

    def observe(self) -> None:
        """Remember the leader's descendants now, with their sessions and groups."""
        processes = snapshot()
        children: dict[int, list[int]] = {}
        for info in processes.values():
            children.setdefault(info.ppid, []).append(info.pid)
        known = {self.leader, *self.seen}
        stack = [pid for pid in known if pid in processes]
        while stack:
            pid = stack.pop()
            info = processes.get(pid)
            if info is None:
                continue
            if pid != self.leader:
                self.seen.setdefault(pid, info)
            stack += [child for child in children.get(pid, ()) if child not in self.seen]

    def kill(self) -> None:
        """SIGKILL the command's process group, every remembered process, and their sessions and groups."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.leader, signal.SIGKILL)
        if not self.seen:
            return
        self.observe()
        processes = snapshot()
        sessions = {info.sid for info in self.seen.values()} | {info.pid for info in self.seen.values()}
        groups = {info.pgid for info in self.seen.values()} | {self.leader}
        own = os.getpid()
        for info in processes.values():
            remembered = self.seen.get(info.pid)
            if info.pid == own or info.sid == os.getsid(0):
                continue  # never the kernel itself or its own session
            if (remembered and remembered.start == info.start) or info.sid in sessions or info.pgid in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(info.pid, signal.SIGKILL)
