"""Threads for synchronous tools: a call never waits for a thread, so a stuck call cannot starve the rest.

A fixed pool would not do: a Python thread cannot be killed, and a tool stuck in a system call (a read
that never returns) keeps its thread after the runner has given up on it. With a fixed pool, 32 such
calls would leave none for anyone. Here a call takes an idle tool thread if there is one and starts a
new daemon thread otherwise; a thread goes back to the idle ones when its call returns (a stuck one
never does) and ends after `IDLE_SECONDS` without work. Reusing threads matters: starting one makes
the event loop wait until the new thread runs, which on a busy machine costs milliseconds per call.
Only the number of calls running at once is capped; past the cap a call fails with a clear error
instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_LIVE_THREADS = 256
IDLE_SECONDS = 60.0  # an idle tool thread ends after this long without a call
# A call for a tool thread: runs the function, returns what hands the outcome to the awaiting caller.
_Job = Callable[[], Callable[[], None]]


class ToolThreadsExhausted(RuntimeError):
    """Too many tool threads are still running (calls that timed out but never returned)."""


class _Live:
    lock = threading.Lock()
    count = 0  # calls running on a tool thread, stuck ones included
    idle: list[queue.SimpleQueue[_Job]] = []  # the inboxes of threads waiting for a call


def live_tool_threads() -> int:
    """How many tool threads are running a call now, stuck ones included."""
    return _Live.count


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (timeout, interrupt): nobody waits for this any more
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _serve(inbox: queue.SimpleQueue[_Job]) -> None:
    """A tool thread: run the calls put in `inbox`, one at a time, until none comes for IDLE_SECONDS."""
    while True:
        try:
            job = inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with _Live.lock:
                if any(waiting is inbox for waiting in _Live.idle):
                    _Live.idle[:] = [waiting for waiting in _Live.idle if waiting is not inbox]
                    return
            continue  # a call took this thread just as it timed out: its job is on the way
        deliver = job()
        with _Live.lock:
            _Live.idle.append(inbox)
        deliver()  # after the thread is idle again, so the caller's next call finds it


async def run_in_tool_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `function` on a tool thread, in a copy of the caller's context (like `asyncio.to_thread`).

    Raises `ToolThreadsExhausted` when MAX_LIVE_THREADS calls are already running.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def job() -> Callable[[], None]:
        result: Any = None
        error: BaseException | None = None
        try:
            result = context.run(function, *args, **kwargs)
        except BaseException as exc:  # delivered to the awaiting coroutine, which decides
            error = exc
        finally:
            with _Live.lock:
                _Live.count -= 1

        def deliver() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, future, result, error)

        return deliver

    with _Live.lock:
        if _Live.count >= MAX_LIVE_THREADS:
            raise ToolThreadsExhausted(
                f"{_Live.count} tool calls are still running after their timeout; restart the kernel to free them"
            )
        _Live.count += 1
        inbox = _Live.idle.pop() if _Live.idle else None  # the most recently used: the others may expire
    if inbox is None:
        inbox = queue.SimpleQueue()
        threading.Thread(target=_serve, args=(inbox,), name="agent-tool", daemon=True).start()
    inbox.put(job)
    return await future
