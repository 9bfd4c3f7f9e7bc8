"""`run_shell`: one shell command, guarded, sandboxed, time-limited and with capped output.

The command guard refuses catastrophic commands first (even approved ones); the command then runs in
the bubblewrap sandbox when the machine has one (see `policy/sandbox.py`). It starts in a process group
of its own, so a timeout or a cancellation (kernel interrupt) kills the command and everything it
started, not just the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

from agent_magic.policy.command_guard import check_command
from agent_magic.policy.sandbox import SandboxUnavailable, shell_plan
from agent_magic.tools.capture import HeadTailBuffer
from agent_magic.tools.context import ToolContext
from agent_magic.tools.result import ToolResult

READ_CHUNK = 65_536
EXIT_POLL_S = 0.02
KILL_GRACE_S = 0.5  # once the shell ended (or was killed): how long its pipes may take to close


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the command's whole process group (the shell and everything it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _pump(stream: asyncio.StreamReader | None, buffer: HeadTailBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(READ_CHUNK):
        buffer.write_bytes(chunk)


async def _wait_exit(process: asyncio.subprocess.Process, timeout: float) -> None:
    """Wait until the shell itself has exited. `Process.wait()` also waits for the pipes to close, which
    a background child can hold open forever; `returncode` is set as soon as the shell is reaped."""
    deadline = time.monotonic() + timeout
    while process.returncode is None:
        if time.monotonic() >= deadline:
            raise TimeoutError
        await asyncio.sleep(EXIT_POLL_S)


async def _drain(process: asyncio.subprocess.Process, pumps: list[asyncio.Future[Any]]) -> None:
    """Read what is left in the pipes once the shell has ended. A background child still holding them
    open is killed with the group, so a stray `sleep 100 &` cannot hold the tool until its timeout."""
    _, pending = await asyncio.wait(pumps, timeout=KILL_GRACE_S)
    if pending:
        _kill_group(process)
        _, pending = await asyncio.wait(pending, timeout=KILL_GRACE_S)
    for pump in pending:
        pump.cancel()
    if process.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), KILL_GRACE_S)


async def run_shell(ctx: ToolContext, command: str, timeout: float = 60.0) -> ToolResult:
    """Run a shell command (/bin/sh -c) in the workspace and return its exit code, stdout and stderr.

    Commands run in a sandbox where the machine has one: the workspace is writable, the rest of the
    file system read-only, /tmp private and empty, and the network off unless configured. Dangerous
    commands (deleting / or ~, formatting disks, piping downloads into a shell…) are refused.

    Args:
        command: the command line, e.g. "ls -la" or "python script.py --fast".
        timeout: seconds before the command and everything it started are killed.
    """
    verdict = check_command(command)
    if not verdict.allowed:
        return ToolResult.failure(
            "command_blocked",
            f"refused by the command guard ({verdict.rule}): {verdict.reason}. Approval cannot override this.",
        )
    try:
        plan = shell_plan(command, ctx.workspace, mode=ctx.sandbox, allow_network=ctx.allow_network)
    except SandboxUnavailable as exc:
        return ToolResult.failure("sandbox_unavailable", str(exc))
    stdout, stderr = HeadTailBuffer(ctx.max_output_chars // 2), HeadTailBuffer(ctx.max_output_chars // 4)
    started = time.monotonic()
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *plan.argv,
            cwd=ctx.workspace.resolve(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so the whole tree can be killed
        )
    )
    try:
        process = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # Cancelled while asyncio was still setting the process up: unshielded, asyncio would kill only
        # the shell and then wait for its pipes to close, which a background child holds open for its
        # whole life, swallowing the interrupt. Kill the group once it exists, and stop now.
        spawn.add_done_callback(lambda done: done.cancelled() or done.exception() or _kill_group(done.result()))
        raise
    pumps = [asyncio.ensure_future(_pump(process.stdout, stdout)), asyncio.ensure_future(_pump(process.stderr, stderr))]
    timed_out = False
    try:
        await _wait_exit(process, max(timeout, 0.1))
    except TimeoutError:
        timed_out = True
        _kill_group(process)
    except BaseException:  # cancelled (interrupt, the runner's timeout): kill the tree, then let it propagate
        _kill_group(process)
        await asyncio.shield(_drain(process, pumps))
        raise
    await _drain(process, pumps)
    data: dict[str, Any] = {
        "command": command,
        "exit_code": process.returncode,
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "seconds": round(time.monotonic() - started, 3),
        "sandbox": "bubblewrap" if plan.isolated else "none",
    }
    if stdout.truncated or stderr.truncated:
        data["truncated"] = True
    if plan.notice:
        data["notice"] = plan.notice
    if timed_out:
        message = f"the command did not finish within {timeout:g} s; it and everything it started were killed"
        return ToolResult(ok=False, data=data, error_code="timeout", error_message=message)
    if process.returncode != 0:
        message = f"the command exited with status {process.returncode}"
        return ToolResult(ok=False, data=data, error_code="exit_status", error_message=message, retryable=True)
    return ToolResult.success(data)
