"""Tool threads are reused between calls, yet a call stuck on one never makes another call wait."""

from __future__ import annotations

import asyncio
import threading

from agent_magic.tools import threads
from agent_magic.tools.threads import live_tool_threads, run_in_tool_thread


def test_calls_one_after_another_reuse_one_tool_thread():
    async def scenario() -> list[int]:
        return [await run_in_tool_thread(threading.get_ident) for _ in range(5)]

    assert len(set(asyncio.run(scenario()))) == 1


def test_a_call_made_while_another_is_stuck_runs_on_another_thread():
    release = threading.Event()

    async def scenario() -> tuple[int, int]:
        stuck = asyncio.ensure_future(run_in_tool_thread(lambda: (release.wait(), threading.get_ident())[1]))
        await asyncio.sleep(0)  # the stuck call has taken its thread
        other = await run_in_tool_thread(threading.get_ident)
        release.set()
        return await stuck, other

    stuck_thread, other_thread = asyncio.run(scenario())
    assert stuck_thread != other_thread


def test_a_finished_call_no_longer_counts_as_live():
    async def scenario() -> None:
        await asyncio.gather(*(run_in_tool_thread(sum, [1, 2]) for _ in range(8)))

    before = live_tool_threads()
    asyncio.run(scenario())
    assert live_tool_threads() == before


def test_an_error_in_the_function_reaches_the_caller_and_the_thread_serves_the_next_call():
    def broken() -> None:
        raise ValueError("bad input")

    async def scenario() -> tuple[str, int]:
        try:
            await run_in_tool_thread(broken)
        except ValueError as exc:
            return str(exc), await run_in_tool_thread(lambda: 7)
        raise AssertionError("no error")

    assert asyncio.run(scenario()) == ("bad input", 7)


def test_a_tool_thread_left_idle_ends(monkeypatch):
    monkeypatch.setattr(threads, "IDLE_SECONDS", 0.05)
    ident = asyncio.run(run_in_tool_thread(threading.get_ident))
    ended = threading.Event()
    for _ in range(200):  # polled, not timed: the thread ends once it has waited IDLE_SECONDS for work
        if all(thread.ident != ident for thread in threading.enumerate()):
            ended.set()
            break
        ended.wait(0.05)
    assert ended.is_set()
