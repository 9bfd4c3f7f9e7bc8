"""The shell sandbox: how `run_shell` isolates a command from the machine.

With bubblewrap (`bwrap`, Debian package `bubblewrap`) a command sees the root file system read-only,
the workspace writable, a private empty /tmp, its own process tree (it cannot signal anything outside
it, and everything it started dies with it), no capabilities even when the kernel runs as root (so it
cannot remount `/` or change namespaces), a new terminal session, and no network unless it is allowed.
Hidden behind empty folders: common credential folders (~/.ssh, ~/.aws, …), Jupyter's runtime folder
(kernel connection files carry the HMAC keys that let anyone drive a kernel over ZeroMQ), ~/.jupyter,
and the agent's own home with its ledger. Without bwrap (or where it cannot create namespaces, e.g. some
containers) the command runs as a plain subprocess in the workspace, and the user is told so once.

Either way the command gets a filtered environment (`command_environment`: no API keys, tokens or
passwords unless `AgentMagic.shell_env_passthrough` names them) and resource limits (`policy/shell_limits.py`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agent_magic.policy.secrets import SECRET_NAME

SANDBOX_MODES = ("auto", "bwrap", "none")
SHELL = "/bin/sh"
# Folders that commonly hold credentials; hidden behind an empty tmpfs inside the sandbox.
CREDENTIAL_FOLDERS = (".ssh", ".aws", ".azure", ".gnupg", ".kube", ".docker", ".config/gcloud", ".password-store")
# Environment variables never passed to a command unless listed in AgentMagic.shell_env_passthrough:
# credential-like names (as masked in output), and the variables of Jupyter and the model endpoint.
PRIVATE_VARIABLE = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|COOKIE|AUTH|SESSION|^JPY_|^JUPYTER_|^OPENAI_|^AZURE_|^ANTHROPIC_|"
    r"^AGENT_MAGIC_|^AWS_|^GOOGLE_APPLICATION|^KERNEL_|CONNECTION_FILE",
    re.I,
)
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


def command_environment(environ: Mapping[str, str], passthrough: Iterable[str] = ()) -> dict[str, str]:
    """The environment a command gets: `environ` without credentials, Jupyter's and the endpoint's
    variables, except the names in `passthrough`.

    Example:
        >>> command_environment({"PATH": "/bin", "OPENAI_API_KEY": "sk-1"})
        {'PATH': '/bin'}
    """
    allowed = set(passthrough)
    return {
        name: value
        for name, value in environ.items()
        if name in allowed or not (PRIVATE_VARIABLE.search(name) or SECRET_NAME.search(name))
    }


def jupyter_private_paths() -> list[Path]:
    """Folders (and files) of Jupyter a command must not see: the runtime folder with the kernels'
    connection files, this kernel's own connection file, and the configuration folder."""
    paths: list[Path] = []
    with contextlib.suppress(Exception):  # jupyter_core comes with ipykernel; without it there is nothing to hide
        from jupyter_core.paths import jupyter_config_dir, jupyter_runtime_dir

        paths += [Path(jupyter_runtime_dir()), Path(jupyter_config_dir())]
    with contextlib.suppress(Exception):  # only inside a running kernel
        from ipykernel.connect import get_connection_file

        paths.append(Path(get_connection_file()))
    return paths


def _hide(path: Path) -> list[str]:
    """bwrap options that hide `path`: an empty tmpfs over a folder, /dev/null over a file."""
    if path.is_dir():
        return ["--tmpfs", str(path)]
    if path.exists():
        return ["--ro-bind", "/dev/null", str(path)]
    return []


def bwrap_argv(
    bwrap: str, command: str, workspace: Path, *, allow_network: bool, private: Iterable[Path] = ()
) -> list[str]:
    """The bubblewrap command line that runs `command` with `/bin/sh -c` inside the sandbox.

    `private` are extra folders or files to hide (the agent home, Jupyter's runtime folder, …).
    """
    workspace = workspace.resolve()
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if Path("/var/tmp").is_dir():
        argv += ["--tmpfs", "/var/tmp"]
    home = Path.home()
    hidden = {(home / name).resolve() for name in CREDENTIAL_FOLDERS} | {Path(p).resolve() for p in private}
    # Hidden first what lies outside the workspace (or holds it: the workspace is bound over it next, so it
    # stays visible and writable); what lies inside the workspace is hidden after the workspace is bound.
    inside = sorted(p for p in hidden if workspace in p.parents)
    for path in sorted(hidden - set(inside)):
        argv += _hide(path)
    argv += ["--bind", str(workspace), str(workspace)]
    for path in inside:
        argv += _hide(path)
    argv += ["--chdir", str(workspace)]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
    # As root, bwrap would keep every capability (CAP_SYS_ADMIN remounts / read-write): drop them all.
    argv += ["--cap-drop", "ALL"]
    if not allow_network:
        argv.append("--unshare-net")
    return [*argv, "--", SHELL, "-c", command]


def shell_plan(
    command: str,
    workspace: Path,
    *,
    mode: str = "auto",
    allow_network: bool = False,
    private: Iterable[Path] = (),
) -> ShellPlan:
    """Decide how to run `command`: in bubblewrap when possible (or required), else plainly.

    Example:
        >>> shell_plan("ls", Path("."), mode="none").argv
        ['/bin/sh', '-c', 'ls']
    """
    if mode not in SANDBOX_MODES:
        raise SandboxUnavailable(f"unknown sandbox mode {mode!r}; use one of {', '.join(SANDBOX_MODES)}")
    bwrap = find_bwrap() if mode != "none" else None
    if bwrap:
        private = [*private, *jupyter_private_paths()]
        return ShellPlan(
            bwrap_argv(bwrap, command, workspace, allow_network=allow_network, private=private), isolated=True
        )
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
