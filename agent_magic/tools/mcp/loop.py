"""The event loop MCP connections live on: its own thread, for the kernel's whole life.

An MCP connection is a set of tasks that must stay on the loop that opened it, across many cells. The
kernel's own loop is not a safe home: a `%%agent` cell run without autoawait gets a private loop that
ends with the cell. So the connections run here, and the kernel side awaits them through
`BackgroundLoop.run`: cancelling that await (an interrupt, Stop, a tool timeout) cancels the work on
this loop too, which is how an interrupted MCP call sends its cancellation to the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """An asyncio loop running forever on a daemon thread.

    Example:
        >>> loop = BackgroundLoop("agent-mcp")
        >>> loop.run_sync(asyncio.sleep(0, "done"), timeout=1)
        'done'
        >>> loop.close()
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        """True until `close()`."""
        return self._thread.is_alive() and not self.loop.is_closed()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coroutine` on this loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def run(self, coroutine: Coroutine[Any, Any, T], *, cancel_with_caller: bool = True) -> T:
        """Await `coroutine` on this loop from another loop. With `cancel_with_caller`, cancelling the
        caller cancels the coroutine; without, the coroutine finishes on its own (the caller stops waiting)."""
        future = asyncio.wrap_future(self.submit(coroutine))
        return await (future if cancel_with_caller else asyncio.shield(future))

    def run_sync(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        """Run `coroutine` on this loop and block the calling thread until it ends (or `timeout`)."""
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"did not finish within {timeout:g} s") from None

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop and its thread; tasks still on it are cancelled first."""
        if not self.running:
            return

        async def cancel_rest() -> None:
            rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            if rest:
                await asyncio.wait(rest, timeout=timeout)

        try:
            self.run_sync(cancel_rest(), timeout=timeout + 1)
        except TimeoutError:
            pass  # a task refusing to end must not keep the kernel from exiting: the thread is a daemon
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
