"""`run_shell`: one shell command, guarded, sandboxed, time-limited and with capped output.

The command guard refuses catastrophic commands first (even approved ones); the command then runs in
the bubblewrap sandbox when the machine has one (see `policy/sandbox.py`), with a filtered environment
and resource limits (`policy/shell_limits.py`). It starts in a process group of its own, inside a control
group of its own where the machine allows one; a timeout or a cancellation (kernel interrupt) kills the
command and everything it started, not just the shell: the sandbox's PID namespace, the control group,
or without either the processes `process_tree` saw it start, including those that left its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

from agent_magic.policy.command_guard import check_command
from agent_magic.policy.sandbox import SandboxUnavailable, command_environment, shell_plan
from agent_magic.policy.shell_limits import CommandCgroup, ShellLimits, prlimit_argv
from agent_magic.tools.capture import HeadTailBuffer
from agent_magic.tools.context import ToolContext
from agent_magic.tools.process_tree import CommandProcesses
from agent_magic.tools.result import ToolResult
from agent_magic.tools.threads import run_in_tool_thread

READ_CHUNK = 65_536
EXIT_POLL_S = 0.02
KILL_GRACE_S = 0.5  # once the shell ended (or was killed): how long its pipes may take to close
OBSERVE_EVERY_S = 0.1  # without a sandbox or cgroup: how often the command's descendants are noted


class _Command:
    """What must be killed when the command ends early: its group, its cgroup, the processes it started."""

    def __init__(self, process: asyncio.subprocess.Process, cgroup: CommandCgroup | None, track: bool) -> None:
        self.process = process
        self.cgroup = cgroup
        self.tree = CommandProcesses(process.pid) if track else None

    def observe(self) -> None:
        if self.tree is not None:
            self.tree.observe()

    def kill(self) -> None:
        """SIGKILL the shell and everything it started."""
        if self.tree is not None:
            self.tree.kill()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()

    async def release(self) -> None:
        """Kill what is left in the cgroup and remove it once it is empty."""
        if self.cgroup is None:
            return
        self.cgroup.kill()
        for _ in range(50):
            if not self.cgroup.pids():
                break
            await asyncio.sleep(0.02)
        _remove_when_empty(self.cgroup, asyncio.get_running_loop())


def _remove_when_empty(cgroup: CommandCgroup, loop: asyncio.AbstractEventLoop, tries: int = 60) -> None:
    """Remove the cgroup now, or retry each second while killed processes are still being reaped."""
    if not cgroup.remove() and tries > 0:
        cgroup.kill()
        loop.call_later(1.0, _remove_when_empty, cgroup, loop, tries - 1)


async def _pump(stream: asyncio.StreamReader | None, buffer: HeadTailBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(READ_CHUNK):
        buffer.write_bytes(chunk)


async def _wait_exit(command: _Command, timeout: float) -> None:
    """Wait until the shell itself has exited. `Process.wait()` also waits for the pipes to close, which
    a background child can hold open forever; `returncode` is set as soon as the shell is reaped."""
    process = command.process
    deadline = time.monotonic() + timeout
    next_look = 0.0
    while process.returncode is None:
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError
        if now >= next_look:
            command.observe()
            next_look = now + OBSERVE_EVERY_S
        await asyncio.sleep(EXIT_POLL_S)


async def _drain(command: _Command, pumps: list[asyncio.Future[Any]]) -> None:
    """Read what is left in the pipes once the shell has ended. A background child still holding them
    open is killed with the rest, so a stray `sleep 100 &` cannot hold the tool until its timeout."""
    process = command.process
    _, pending = await asyncio.wait(pumps, timeout=KILL_GRACE_S)
    if pending:
        command.kill()
        _, pending = await asyncio.wait(pending, timeout=KILL_GRACE_S)
    for pump in pending:
        pump.cancel()
    if process.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), KILL_GRACE_S)


def shell_review(arguments: dict[str, Any]) -> str:
    """Why a person must see this run_shell call before it runs ("" when the guard could read it)."""
    command = arguments.get("command")
    return check_command(command).review if isinstance(command, str) else ""


async def run_shell(ctx: ToolContext, command: str, timeout: float = 60.0) -> ToolResult:
    """Run a shell command (/bin/sh -c) in the workspace and return its exit code, stdout and stderr.

    Commands run in a sandbox where the machine has one: the workspace is writable, the rest of the
    file system read-only, /tmp private and empty, and the network off unless configured. Dangerous
    commands (deleting / or ~, formatting disks, piping downloads into a shell…) are refused.

    Args:
        command: the command line, e.g. "ls -la" or "python script.py --fast".
        timeout: seconds before the command and everything it started are killed.
    """
    # Off the event loop: parsing a long command takes a while, and the kernel must keep answering.
    verdict = await run_in_tool_thread(check_command, command)
    if not verdict.allowed:
        return ToolResult.failure(
            "command_blocked",
            f"refused by the command guard ({verdict.rule}): {verdict.reason}. Approval cannot override this.",
        )
    try:
        plan = shell_plan(
            command, ctx.workspace, mode=ctx.sandbox, allow_network=ctx.allow_network, private=ctx.private_paths
        )
    except SandboxUnavailable as exc:
        return ToolResult.failure("sandbox_unavailable", str(exc))
    limits = ShellLimits.parse(ctx.shell_limits)
    cgroup = CommandCgroup.create(limits)
    argv = [*(cgroup.wrapper_argv() if cgroup else []), *prlimit_argv(limits), *plan.argv]
    stdout, stderr = HeadTailBuffer(ctx.max_output_chars // 2), HeadTailBuffer(ctx.max_output_chars // 4)
    started = time.monotonic()
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            cwd=ctx.workspace.resolve(),
            env=command_environment(os.environ, ctx.env_passthrough),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so the whole tree can be killed
        )
    )
    try:
        process = await asyncio.shield(spawn)
    except BaseException:
        # Cancelled while asyncio was still setting the process up: unshielded, asyncio would kill only
        # the shell and then wait for its pipes to close, which a background child holds open for its
        # whole life, swallowing the interrupt. Kill everything once the process exists, and stop now.
        def kill_when_started(done: asyncio.Future[asyncio.subprocess.Process]) -> None:
            if not done.cancelled() and done.exception() is None:
                _Command(done.result(), cgroup, track=False).kill()
            if cgroup is not None:
                _remove_when_empty(cgroup, asyncio.get_running_loop())

        spawn.add_done_callback(kill_when_started)
        raise
    # Without a sandbox's PID namespace or a cgroup, children that leave the group are tracked by hand.
    running = _Command(process, cgroup, track=not plan.isolated and cgroup is None)
    pumps = [asyncio.ensure_future(_pump(process.stdout, stdout)), asyncio.ensure_future(_pump(process.stderr, stderr))]
    timed_out = False
    try:
        await _wait_exit(running, max(timeout, 0.1))
        running.observe()
    except TimeoutError:
        timed_out = True
        running.kill()
    except BaseException:  # cancelled (interrupt, the runner's timeout): kill the tree, then let it propagate
        running.kill()
        await asyncio.shield(_drain(running, pumps))
        await asyncio.shield(running.release())
        raise
    await _drain(running, pumps)
    running.kill()  # nothing the command started outlives it, as in the sandbox (its PID namespace ends)
    await running.release()
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
