"""run_shell: the bubblewrap sandbox with hostile commands, the plain fallback, timeouts and cancellation
killing the whole process group, capped output, masked secrets."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from tool_helpers import call_tool

from agent_magic.policy import sandbox
from agent_magic.tools.context import ToolContext
from agent_magic.tools.shell import run_shell

needs_bwrap = pytest.mark.skipif(sandbox.find_bwrap() is None, reason="bubblewrap is not usable on this machine")


def shell(ctx: ToolContext, command: str, **kw):
    return call_tool("run_shell", ctx, command=command, **kw)


def still_running(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


@needs_bwrap
def test_sandboxed_command_writes_the_workspace_but_not_the_root_file_system(workspace):
    probe = f"/usr/agent_magic_probe_{uuid.uuid4().hex}"
    result = shell(ToolContext(workspace), f"echo hi > made.txt && touch {probe}")
    assert result.data["sandbox"] == "bubblewrap"
    assert (workspace / "made.txt").read_text() == "hi\n"
    assert result.error_code == "exit_status" and "Read-only file system" in result.data["stderr"]
    assert not Path(probe).exists()


@needs_bwrap
def test_sandbox_has_a_private_tmp(workspace, tmp_path):
    marker = Path("/tmp") / f"agent_magic_{uuid.uuid4().hex}"
    marker.write_text("host")
    try:
        result = shell(ToolContext(workspace), f"cat {marker}; echo mine > {marker}.x")
        assert "No such file" in result.data["stderr"]
        assert not Path(f"{marker}.x").exists()
    finally:
        marker.unlink()


@needs_bwrap
def test_a_command_the_guard_misses_cannot_delete_outside_the_workspace(workspace, tmp_path):
    victim = tmp_path / "outside"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    (workspace / "cleanup.sh").write_text(f"rm -rf {victim} /usr/share/doc 2>&1; echo done\n")
    result = shell(ToolContext(workspace), "sh ./cleanup.sh")  # a known miss of the guard
    assert result.ok and "done" in result.data["stdout"]
    assert (victim / "keep.txt").read_text() == "precious"
    assert Path("/usr/share/doc").exists()


@needs_bwrap
def test_the_network_is_off_unless_allowed(workspace):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    connect = (
        f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')\""
    )
    try:
        blocked = shell(ToolContext(workspace), connect)
        assert "connected" not in blocked.data["stdout"] and blocked.error_code == "exit_status"
        allowed = shell(ToolContext(workspace, allow_network=True), connect)
        assert allowed.ok and "connected" in allowed.data["stdout"]
    finally:
        server.close()


@needs_bwrap
def test_credential_folders_are_hidden(workspace, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    monkeypatch.setenv("HOME", str(home))
    result = shell(ToolContext(workspace), f"cat {home}/.ssh/id_rsa")
    assert "PRIVATE KEY" not in result.data["stdout"] and result.error_code == "exit_status"


def test_guarded_command_is_refused_before_anything_runs(workspace):
    result = shell(ToolContext(workspace), "touch ran.txt; rm -rf ~")
    assert result.error_code == "command_blocked" and "home folder" in result.error_message
    assert "cannot override" in result.error_message
    assert not (workspace / "ran.txt").exists()


def test_exit_code_stdout_and_stderr_are_reported(workspace):
    result = shell(ToolContext(workspace), "echo out; echo err >&2; exit 3")
    assert not result.ok and result.error_code == "exit_status"
    assert (result.data["exit_code"], result.data["stdout"], result.data["stderr"]) == (3, "out\n", "err\n")


def test_long_output_keeps_head_and_tail_with_a_marker(workspace):
    result = shell(ToolContext(workspace, max_output_chars=2_000), "seq 1 100000")
    out = result.data["stdout"]
    assert result.ok and result.data["truncated"]
    assert out.startswith("1\n2\n3\n") and out.rstrip().endswith("100000")
    assert "lines truncated" in out and len(out) < 1_200


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_commands_get_no_credentials_or_jupyter_variables(workspace, monkeypatch, mode):
    monkeypatch.setenv("WAREHOUSE_API_KEY", "wh-very-secret-123456")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abcdefghijklmnop")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://user:pw@llm.example/v1")
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/secret-project.ipynb")
    result = shell(ToolContext(workspace, sandbox=mode), "env")
    text = result.data["stdout"]
    assert result.ok and "PATH=" in text
    for name in ("WAREHOUSE_API_KEY", "GITHUB_TOKEN", "OPENAI_", "JPY_", "AGENT_MAGIC_HOME"):
        assert name not in text


def test_a_passed_through_secret_is_still_masked_in_the_output(workspace, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_API_KEY", "wh-very-secret-123456")
    ctx = ToolContext(workspace, env_passthrough=("WAREHOUSE_API_KEY",))
    text = shell(ctx, "env; echo key=$WAREHOUSE_API_KEY").data["stdout"]
    assert "wh-very-secret-123456" not in text
    assert "WAREHOUSE_API_KEY=***" in text and "key=***" in text


def test_the_fallback_runs_plainly_and_says_so_once(workspace, monkeypatch, capsys):
    monkeypatch.setattr(sandbox._NoticeState, "given", False)
    monkeypatch.setenv("PATH", str(workspace))  # no bwrap on PATH: the machine "has no sandbox"
    first = shell(ToolContext(workspace), "echo plain")
    second = shell(ToolContext(workspace), "echo again")
    assert first.ok and first.data["sandbox"] == "none" and "bubblewrap" in first.data["notice"]
    assert "notice" not in second.data
    assert capsys.readouterr().err.count("without a sandbox") == 1


def test_requiring_bwrap_where_there_is_none_is_refused(workspace, monkeypatch):
    monkeypatch.setenv("PATH", str(workspace))
    result = shell(ToolContext(workspace, sandbox="bwrap"), "echo hi")
    assert result.error_code == "sandbox_unavailable" and "bubblewrap" in result.error_message


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_timeout_kills_the_whole_process_group(workspace, mode):
    marker = f"sleep 7{uuid.uuid4().int % 1000:03d}"
    result = shell(ToolContext(workspace, sandbox=mode), f"{marker} & {marker}; echo never", timeout=0.5)
    assert result.error_code == "timeout" and "never" not in result.data["stdout"]
    assert not still_running(marker)


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_a_background_child_does_not_hold_the_tool(workspace, mode):
    marker = f"sleep 8{uuid.uuid4().int % 1000:03d}"
    result = shell(ToolContext(workspace, sandbox=mode), f"{marker} & echo started", timeout=30)
    assert result.ok and result.data["stdout"] == "started\n"
    assert not still_running(marker)


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_cancellation_kills_the_whole_process_group(workspace, mode):
    marker = f"sleep 9{uuid.uuid4().int % 1000:03d}"

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(run_shell(ToolContext(workspace, sandbox=mode), f"{marker} & {marker}"))
        while not still_running(marker):
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert not still_running(marker)


def test_commands_start_in_the_workspace(workspace):
    assert shell(ToolContext(workspace), "pwd").data["stdout"].strip() == os.path.realpath(workspace)


def test_the_tool_timeout_of_the_runner_also_kills_the_group(workspace):
    marker = f"sleep 6{uuid.uuid4().int % 1000:03d}"
    result = call_tool("run_shell", ToolContext(workspace), runner_timeout=0.5, command=f"{marker} & {marker}")
    assert result.error_code == "timeout"
    assert not still_running(marker)
