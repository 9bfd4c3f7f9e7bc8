"""Running a coroutine to completion from synchronous IPython code (a line magic, or a cell magic the input
transformer did not rewrite), whether or not an event loop is already running on this thread.

With no running loop the coroutine gets one of its own. With one (ipykernel's), it runs on a private loop
in a worker thread while this thread waits; a kernel interrupt then cancels it there and is re-raised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


def run_blocking(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """Run `coroutine` to its end and return its result (or raise its exception)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    started = threading.Event()
    runner: dict[str, Any] = {}

    async def tracked() -> Result:
        runner["task"], runner["loop"] = asyncio.current_task(), asyncio.get_running_loop()
        started.set()
        return await coroutine

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(asyncio.run, tracked())
        try:
            return future.result()
        except KeyboardInterrupt:
            if started.wait(timeout=1):
                runner["loop"].call_soon_threadsafe(runner["task"].cancel)
            raise
