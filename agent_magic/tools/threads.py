"""Threads for synchronous tools: one per call, so a call stuck past its timeout cannot starve the rest.

A pool would do: but a Python thread cannot be killed, and a tool stuck in a system call (a read that
never returns) keeps its thread after the runner has given up on it. With a fixed pool, 32 such calls
would leave none for anyone. Here every call gets a fresh daemon thread (starting one costs tens of
microseconds); only the number alive at once is capped, and past the cap a call fails with a clear error
instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_LIVE_THREADS = 256


class ToolThreadsExhausted(RuntimeError):
    """Too many tool threads are still running (calls that timed out but never returned)."""


class _Live:
    lock = threading.Lock()
    count = 0


def live_tool_threads() -> int:
    """How many tool threads are running now, stuck ones included."""
    return _Live.count


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (timeout, interrupt): nobody waits for this any more
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def run_in_tool_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `function` on a new thread, in a copy of the caller's context (like `asyncio.to_thread`).

    Raises `ToolThreadsExhausted` when MAX_LIVE_THREADS threads are already running.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()
    with _Live.lock:
        if _Live.count >= MAX_LIVE_THREADS:
            raise ToolThreadsExhausted(
                f"{_Live.count} tool calls are still running after their timeout; restart the kernel to free them"
            )
        _Live.count += 1

    def target() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = context.run(function, *args, **kwargs)
        except BaseException as exc:  # delivered to the awaiting coroutine, which decides
            error = exc
        finally:
            with _Live.lock:
                _Live.count -= 1
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=target, name="agent-tool", daemon=True).start()
    return await future
