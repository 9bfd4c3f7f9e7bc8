"""Escapes from the shell sandbox, tried for real (the suite runs as root here, the worst case): remounting
`/`, reading the kernel's connection files and the ledger, exhausting processes, memory, disk and CPU, and
children that leave the command's session to outlive it. The guard is not in the way: each attack is
written so the command guard lets it through, because the sandbox must hold on its own."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from tool_helpers import call_tool

from agent_magic.policy import sandbox, shell_limits
from agent_magic.policy.shell_limits import CommandCgroup, ShellLimits
from agent_magic.tools.context import ToolContext

needs_bwrap = pytest.mark.skipif(sandbox.find_bwrap() is None, reason="bubblewrap is not usable on this machine")


def cgroups_writable() -> bool:
    """True when commands get a control group of their own here."""
    group = CommandCgroup.create(ShellLimits(processes=10))
    if group is None:
        return False
    group.remove()
    return True


# A fork bomb can only be tried where the process count is really capped: a cgroup, or not root.
needs_process_cap = pytest.mark.skipif(
    os.getuid() == 0 and not cgroups_writable(),
    reason="as root without a writable pids cgroup the process count cannot be capped",
)


def shell(ctx: ToolContext, command: str, **kw):
    return call_tool("run_shell", ctx, command=command, **kw)


def running(marker: str) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if marker in line and "ps -eo" not in line]


def wait_until_gone(marker: str, seconds: float = 5.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running(marker)


@needs_bwrap
def test_root_in_the_sandbox_cannot_remount_the_root_file_system(workspace):
    probe = f"/usr/agent_magic_probe_{uuid.uuid4().hex}"
    result = shell(ToolContext(workspace), f"mount -o remount,rw / ; touch {probe}; grep CapEff /proc/self/status")
    assert result.data["sandbox"] == "bubblewrap"
    assert not Path(probe).exists()
    assert "CapEff:\t0000000000000000" in result.data["stdout"]


@needs_bwrap
def test_the_sandbox_cannot_mount_or_unshare_its_way_out(workspace):
    result = shell(ToolContext(workspace), "unshare -m sh -c 'mount -t tmpfs x /usr && echo MOUNTED'")
    assert "MOUNTED" not in result.data["stdout"] and not result.ok


@needs_bwrap
@pytest.mark.parametrize("network", [False, True])
def test_kernel_connection_files_are_hidden_even_with_network(workspace, tmp_path, monkeypatch, network):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "kernel-1234.json").write_text('{"key": "hmac-secret-key"}')
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    result = shell(ToolContext(workspace, allow_network=network), f"ls -a {runtime}; cat {runtime}/kernel-1234.json")
    assert "hmac-secret-key" not in result.data["stdout"] and "kernel-1234" not in result.data["stdout"]


@needs_bwrap
def test_the_jupyter_config_folder_is_hidden(workspace, tmp_path, monkeypatch):
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text('{"token": "server-token"}')
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    result = shell(ToolContext(workspace), f"cat {config}/jupyter_server_config.json")
    assert "server-token" not in result.data["stdout"]


@needs_bwrap
def test_the_agent_home_and_ledger_inside_the_workspace_are_hidden(workspace):
    home = workspace / ".agent"
    home.mkdir()
    (home / "ledger.db").write_text("rows")
    ctx = ToolContext(workspace, private_paths=(home,))
    result = shell(ctx, "ls -a .agent; cat .agent/ledger.db; echo forged > .agent/ledger.db; echo ok > kept.txt")
    assert "rows" not in result.data["stdout"] and "ledger.db" not in result.data["stdout"]
    assert (home / "ledger.db").read_text() == "rows", "the real ledger is untouched"
    assert (workspace / "kept.txt").read_text() == "ok\n", "the rest of the workspace stays writable"


@needs_bwrap
def test_an_agent_home_outside_the_workspace_is_hidden(workspace, tmp_path):
    home = tmp_path / "agent-home"
    home.mkdir()
    (home / "ledger.db").write_text("rows")
    result = shell(ToolContext(workspace, private_paths=(home,)), f"cat {home}/ledger.db")
    assert "rows" not in result.data["stdout"]


@needs_process_cap
@pytest.mark.parametrize("mode", ["auto", "none"])
def test_a_fork_bomb_is_capped_and_cleaned_up(workspace, mode):
    bomb = f"bomb_{uuid.uuid4().hex[:8]}.sh"
    # Written to a file and started from it: the guard cannot see it (a known miss); the limits must hold.
    (workspace / bomb).write_text(f"sh ./{bomb} & sh ./{bomb} & wait\n")
    ctx = ToolContext(workspace, sandbox=mode, shell_limits={"processes": 40})
    result = shell(ctx, f"sh ./{bomb}", timeout=3)
    assert "fork" in result.data["stderr"].lower(), "process creation hit the cap"
    assert wait_until_gone(bomb) == []
    assert subprocess.run(["true"]).returncode == 0, "this process can still start programs"


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_a_memory_hog_fails_inside_its_limit(workspace, mode):
    ctx = ToolContext(workspace, sandbox=mode, shell_limits={"memory_mb": 256})
    result = shell(ctx, "python3 -c 'x = bytearray(2 * 1024**3); print(len(x))'", timeout=30)
    assert not result.ok and "MemoryError" in result.data["stderr"]


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_a_file_cannot_grow_past_the_size_limit(workspace, mode):
    ctx = ToolContext(workspace, sandbox=mode, shell_limits={"file_mb": 1})
    result = shell(ctx, "head -c 20000000 /dev/zero > big.bin", timeout=30)
    assert not result.ok
    assert (workspace / "big.bin").stat().st_size <= 1024 * 1024


def test_a_cpu_spinner_is_stopped_by_the_cpu_limit(workspace):
    ctx = ToolContext(workspace, sandbox="none", shell_limits={"cpu_s": 1})
    result = shell(ctx, "python3 -c 'while True: pass'", timeout=60)
    assert result.error_code == "exit_status" and result.data["seconds"] < 30


@pytest.mark.parametrize("cgroups", [True, False], ids=["with-cgroup", "without-cgroup"])
def test_without_a_sandbox_setsid_children_die_on_timeout(workspace, monkeypatch, cgroups):
    if not cgroups:
        monkeypatch.setattr(shell_limits, "CGROUP_ROOT", workspace / "no-cgroups-here")
    marker = f"{70 + uuid.uuid4().int % 1000 / 1000:.3f}"
    command = f"setsid sleep {marker} & setsid sh -c 'sleep {marker} & wait' & nohup sleep {marker} & sleep {marker}"
    result = shell(ToolContext(workspace, sandbox="none"), command, timeout=1.5)
    assert result.error_code == "timeout"
    assert wait_until_gone(f"sleep {marker}") == []


@pytest.mark.skipif(not cgroups_writable(), reason="needs a writable cgroup file system")
def test_without_a_sandbox_a_double_forked_daemon_dies_with_its_cgroup(workspace):
    # Without a cgroup a daemon that detaches within 0.1 s of starting escapes (docs/security.md says so).
    marker = f"{75 + uuid.uuid4().int % 1000 / 1000:.3f}"
    command = f"(setsid sh -c 'sleep {marker}' &) ; sleep {marker}"
    result = shell(ToolContext(workspace, sandbox="none"), command, timeout=1.5)
    assert result.error_code == "timeout"
    assert wait_until_gone(f"sleep {marker}") == []


@pytest.mark.parametrize("cgroups", [True, False], ids=["with-cgroup", "without-cgroup"])
def test_without_a_sandbox_a_finished_command_leaves_no_detached_child(workspace, monkeypatch, cgroups):
    if not cgroups:
        monkeypatch.setattr(shell_limits, "CGROUP_ROOT", workspace / "no-cgroups-here")
    marker = f"{80 + uuid.uuid4().int % 1000 / 1000:.3f}"
    result = shell(
        ToolContext(workspace, sandbox="none"), f"setsid sleep {marker} > /dev/null 2>&1 & sleep 0.3; echo done"
    )
    assert result.ok and result.data["stdout"] == "done\n"
    assert wait_until_gone(f"sleep {marker}") == []


def test_shell_limits_setting_is_validated():
    with pytest.raises(ValueError, match="unknown key"):
        ShellLimits.parse({"procs": 1})
    with pytest.raises(ValueError, match="whole number"):
        ShellLimits.parse({"processes": -1})
    assert ShellLimits.parse({"processes": 10}) == ShellLimits(processes=10)


@pytest.mark.kernel
@needs_process_cap
def test_the_kernel_survives_a_fork_bomb_and_a_memory_hog(kernel, script, workspace):
    bomb = f"bomb_{uuid.uuid4().hex[:8]}.sh"
    (workspace / bomb).write_text(f"sh ./{bomb} & sh ./{bomb} & wait\n")
    hog = "python3 -c 'x = bytearray(8 * 1024**3)'"
    script.add_tool_calls(("run_shell", json.dumps({"command": f"sh ./{bomb}", "timeout": 5})))
    script.add_tool_calls(("run_shell", json.dumps({"command": hog})))
    script.add_text("Both failed.")
    kernel.execute('%config AgentMagic.shell_limits = {"processes": 40, "memory_mb": 512}')

    run = kernel.execute("%%agent --approve run_shell\nstress the machine", timeout=120)

    assert run.status == "ok" and "Both failed." in run.text
    results = [m["content"] for m in script.requests[-1]["messages"] if m["role"] == "tool"]
    assert "fork" in results[0].lower() and "MemoryError" in results[1]
    assert wait_until_gone(bomb) == []
    after = kernel.execute("print(6 * 7)")
    assert after.status == "ok" and after.text.strip() == "42"
