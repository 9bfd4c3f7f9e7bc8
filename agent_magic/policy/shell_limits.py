"""Resource limits for shell commands: how many processes, how much memory, how large a file, how much CPU.

Two mechanisms, both applied where the machine allows:

- `setrlimit` limits, set by util-linux's `prlimit` wrapper (not a `preexec_fn`, which is unsafe in a
  process with threads, as a kernel is): memory (`RLIMIT_DATA`: heap and private mappings, so a memory
  hog's allocation fails while programs that merely reserve address space still start), file size
  (`RLIMIT_FSIZE`), CPU seconds (`RLIMIT_CPU`) and processes (`RLIMIT_NPROC`). Linux never applies
  `RLIMIT_NPROC` to root, and for other users it counts every process the user has, so it is set to
  the user's current count plus the allowance.
- A control group of its own per command (cgroup v1 `pids` and `memory` controllers, or a delegated
  cgroup v2 folder), when the cgroup file system is writable (root, or a delegated subtree). It bounds the
  number of processes for root too, bounds the memory of all processes together, and lets the tool kill
  every process of the command, however it detached (`setsid`, double forks).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
LIMIT_KEYS = ("processes", "memory_mb", "file_mb", "cpu_s")
DEFAULT_LIMITS = {"processes": 256, "memory_mb": 4096, "file_mb": 1024, "cpu_s": 600}
# The joining wrapper: writes its own pid into each cgroup.procs named before `--`, then becomes the command.
_JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class ShellLimits:
    """Per-command limits (the `AgentMagic.shell_limits` setting); 0 means no limit of that kind."""

    processes: int = DEFAULT_LIMITS["processes"]
    memory_mb: int = DEFAULT_LIMITS["memory_mb"]
    file_mb: int = DEFAULT_LIMITS["file_mb"]
    cpu_s: int = DEFAULT_LIMITS["cpu_s"]

    @classmethod
    def parse(cls, value: dict) -> ShellLimits:
        """Validate a settings dict such as {"processes": 100, "memory_mb": 2048}; raises ValueError."""
        if not isinstance(value, dict):
            raise ValueError(f"AgentMagic.shell_limits must be a dict like {DEFAULT_LIMITS}")
        unknown = sorted(str(k) for k in value if k not in LIMIT_KEYS)
        if unknown:
            raise ValueError(f"AgentMagic.shell_limits: unknown key(s) {unknown}; use {', '.join(LIMIT_KEYS)}")
        for key, number in value.items():
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise ValueError(f"AgentMagic.shell_limits[{key!r}] must be a whole number >= 0 (0: no limit)")
        return cls(**{**DEFAULT_LIMITS, **value})


def _user_process_count(uid: int) -> int:
    """How many processes `uid` has now (RLIMIT_NPROC counts them all, not only the command's)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += entry.stat().st_uid == uid
    return count


def prlimit_argv(limits: ShellLimits) -> list[str]:
    """`prlimit --data=… --fsize=… --cpu=… --nproc=… --` (empty when prlimit is missing or nothing is set)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return []
    options = []
    if limits.memory_mb:
        options.append(f"--data={limits.memory_mb * 1024 * 1024}")
    if limits.file_mb:
        options.append(f"--fsize={limits.file_mb * 1024 * 1024}")
    if limits.cpu_s:
        options.append(f"--cpu={limits.cpu_s}")
    if limits.processes and os.getuid() != 0 and Path("/proc").is_dir():
        options.append(f"--nproc={_user_process_count(os.getuid()) + limits.processes}")
    return [prlimit, *options, "--"] if options else []


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its v2 path."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


class CommandCgroup:
    """The control group(s) one command runs in: created with its limits, killed and removed after it.

    `create()` returns None when no writable cgroup with a `pids` controller is available here.
    """

    def __init__(self, folders: list[Path], v2: bool) -> None:
        self.folders = folders
        self.v2 = v2

    @classmethod
    def create(cls, limits: ShellLimits) -> CommandCgroup | None:
        """A fresh cgroup (v2, else v1 pids + memory) with the limits written, or None."""
        own = _own_cgroups()
        name = f"agent-magic-{uuid.uuid4().hex[:12]}"
        v2_parent = CGROUP_ROOT / own.get("", "/").lstrip("/")
        with contextlib.suppress(OSError):
            if "pids" in (v2_parent / "cgroup.subtree_control").read_text().split():
                folder = v2_parent / name
                folder.mkdir()
                group = cls([folder], v2=True)
                group._write(folder, "pids.max", limits.processes)
                group._write(folder, "memory.max", limits.memory_mb * 1024 * 1024)
                return group
        folders: list[Path] = []
        try:
            for controller, limit_file, value in (
                ("pids", "pids.max", limits.processes),
                ("memory", "memory.limit_in_bytes", limits.memory_mb * 1024 * 1024),
            ):
                base = CGROUP_ROOT / controller
                if controller not in own or not (base / "cgroup.procs").exists():
                    if controller == "pids":
                        return None
                    continue
                folder = base / own[controller].lstrip("/") / name
                folder.mkdir()
                folders.append(folder)
                cls._write(folder, limit_file, value)
        except OSError:
            cls(folders, v2=False).remove()
            return None
        return cls(folders, v2=False) if folders else None

    @staticmethod
    def _write(folder: Path, name: str, value: int) -> None:
        if value:
            (folder / name).write_text(str(value))

    def wrapper_argv(self) -> list[str]:
        """The argv prefix that moves the command into this cgroup before it starts."""
        procs = [str(folder / "cgroup.procs") for folder in self.folders]
        return ["/bin/sh", "-c", _JOIN_SCRIPT, "agent-magic-join", *procs, "--"]

    def pids(self) -> set[int]:
        """Every process in the cgroup now."""
        found: set[int] = set()
        for folder in self.folders:
            with contextlib.suppress(OSError):
                found |= {int(pid) for pid in (folder / "cgroup.procs").read_text().split()}
        return found

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (new ones cannot escape it: children inherit the cgroup)."""
        if self.v2 and (self.folders[0] / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                (self.folders[0] / "cgroup.kill").write_text("1")
                return
        for _ in range(20):  # a fork bomb may add processes while we kill: repeat until it is empty
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the cgroup folders (possible once their processes are gone); True when all are gone."""
        for folder in self.folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        return not any(folder.exists() for folder in self.folders)
