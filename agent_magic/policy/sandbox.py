"""The shell sandbox: how `run_shell` isolates a command from the machine.

With bubblewrap (`bwrap`, Debian package `bubblewrap`) a command sees the root file system read-only,
the workspace writable, a private empty /tmp, its own process tree (it cannot signal anything outside
it, and everything it started dies with it), common credential folders (~/.ssh, ~/.aws, …) hidden, and
no network unless it is allowed. Without bwrap (or where it cannot create namespaces, e.g. some
containers) the command runs as a plain subprocess in the workspace, and the user is told so once.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SANDBOX_MODES = ("auto", "bwrap", "none")
SHELL = "/bin/sh"
# Folders that commonly hold credentials; hidden behind an empty tmpfs inside the sandbox.
CREDENTIAL_FOLDERS = (".ssh", ".aws", ".azure", ".gnupg", ".kube", ".docker", ".config/gcloud", ".password-store")
NO_SANDBOX_NOTICE = (
    "agent_magic: bubblewrap (bwrap) is not usable here, so run_shell runs commands as plain subprocesses "
    "in the workspace, without a sandbox. Install the Debian package 'bubblewrap' to isolate them."
)


class SandboxUnavailable(RuntimeError):
    """The configuration asks for bubblewrap, and it is not usable on this machine."""


@dataclass(frozen=True)
class ShellPlan:
    """How to start one command: the argv, whether it is isolated, and a notice to show (once)."""

    argv: list[str]
    isolated: bool
    notice: str | None = None


class _NoticeState:
    """Whether the no-sandbox notice was already given in this process."""

    given = False


@functools.lru_cache(maxsize=4)
def bwrap_works(bwrap: str) -> bool:
    """True when `bwrap` can build the namespaces we use here (checked once per binary)."""
    probe = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid"]
    try:
        done = subprocess.run([*probe, "--", "/bin/true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def find_bwrap() -> str | None:
    """The path of a working bwrap binary, or None."""
    path = shutil.which("bwrap")
    return path if path and bwrap_works(path) else None


def bwrap_argv(bwrap: str, command: str, workspace: Path, *, allow_network: bool) -> list[str]:
    """The bubblewrap command line that runs `command` with `/bin/sh -c` inside the sandbox."""
    workspace = workspace.resolve()
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if Path("/var/tmp").is_dir():
        argv += ["--tmpfs", "/var/tmp"]
    home = Path.home()
    for name in CREDENTIAL_FOLDERS:
        folder = home / name
        # Hide it unless the workspace itself lives inside it (then hiding would hide the workspace).
        if folder.is_dir() and folder not in (workspace, *workspace.parents):
            argv += ["--tmpfs", str(folder)]
    # The workspace is bound last, so it stays writable even under /tmp or a hidden folder.
    argv += ["--bind", str(workspace), str(workspace), "--chdir", str(workspace)]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    if not allow_network:
        argv.append("--unshare-net")
    return [*argv, "--", SHELL, "-c", command]


def shell_plan(command: str, workspace: Path, *, mode: str = "auto", allow_network: bool = False) -> ShellPlan:
    """Decide how to run `command`: in bubblewrap when possible (or required), else plainly.

    Example:
        >>> shell_plan("ls", Path("."), mode="none").argv
        ['/bin/sh', '-c', 'ls']
    """
    if mode not in SANDBOX_MODES:
        raise SandboxUnavailable(f"unknown sandbox mode {mode!r}; use one of {', '.join(SANDBOX_MODES)}")
    bwrap = find_bwrap() if mode != "none" else None
    if bwrap:
        return ShellPlan(bwrap_argv(bwrap, command, workspace, allow_network=allow_network), isolated=True)
    if mode == "bwrap":
        raise SandboxUnavailable(
            "AgentMagic.shell_sandbox is 'bwrap' but bubblewrap is not usable here: install the Debian package "
            "'bubblewrap', or set %config AgentMagic.shell_sandbox = 'auto'"
        )
    notice = None
    if mode == "auto" and not _NoticeState.given:
        _NoticeState.given = True
        notice = NO_SANDBOX_NOTICE
        print(notice, file=sys.stderr)
    return ShellPlan([SHELL, "-c", command], isolated=False, notice=notice)
