"""The kernel's limits on model requests: requests in a row never wait, requests at the same time are capped
(first come, first served), over real sockets to the loopback server and on a clock turned by hand."""

from __future__ import annotations

import asyncio
import threading

from agent_magic.config import AgentMagic
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.llm.rate_limit import RequestLimiter
from agent_magic.llm.sse_server import LoopbackModelServer, StreamReply, text_chunks
from agent_magic.runtime import AgentRuntime

MESSAGES = [{"role": "user", "content": "hi"}]


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def hold(limiter: RequestLimiter, entered: list[int], n: int, release: asyncio.Event) -> None:
    """Take a place, say so, keep it until `release` is set."""
    async with limiter.slot():
        entered.append(n)
        await release.wait()


async def settle() -> None:
    """Let every ready task run until it waits again."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_default_limits_never_make_requests_in_a_row_wait(tmp_path):
    limiter = AgentRuntime(AgentMagic(workspace=str(tmp_path)), {}).rate_limiter
    limiter.bucket._clock = Clock()  # frozen time: any rate ceiling would show as a wait

    async def back_to_back() -> list[int]:
        queued = []
        for _ in range(500):
            async with limiter.slot():
                queued.append(len(limiter._waiters))
        return queued

    assert asyncio.run(back_to_back()) == [0] * 500
    assert [limiter.bucket.reserve() for _ in range(500)] == [0.0] * 500
    assert limiter.in_flight == 0


def test_a_request_over_the_cap_waits_for_a_free_place():
    async def scenario() -> tuple[list[int], list[int]]:
        limiter, entered, release = RequestLimiter(max_concurrent=2), [], asyncio.Event()
        tasks = [asyncio.ensure_future(hold(limiter, entered, n, release)) for n in range(3)]
        await settle()
        while_full = list(entered)
        release.set()
        await asyncio.gather(*tasks)
        return while_full, entered

    while_full, entered = asyncio.run(scenario())
    assert while_full == [0, 1]
    assert entered == [0, 1, 2]


def test_waiting_requests_are_served_in_arrival_order():
    async def scenario() -> list[int]:
        limiter, order = RequestLimiter(max_concurrent=1), []
        releases = [asyncio.Event() for _ in range(5)]
        tasks = []
        for n in range(5):
            tasks.append(asyncio.ensure_future(hold(limiter, order, n, releases[n])))
            await settle()
        for release in releases:
            release.set()
            await settle()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]


def test_a_cancelled_waiter_gives_up_its_place_in_the_queue():
    async def scenario() -> tuple[list[int], int]:
        limiter, entered, release = RequestLimiter(max_concurrent=1), [], asyncio.Event()
        first = asyncio.ensure_future(hold(limiter, entered, 0, release))
        await settle()
        cancelled = asyncio.ensure_future(hold(limiter, entered, 1, release))
        last = asyncio.ensure_future(hold(limiter, entered, 2, release))
        await settle()
        cancelled.cancel()
        await settle()
        release.set()
        await asyncio.gather(first, last)
        return entered, limiter.in_flight

    entered, in_flight = asyncio.run(scenario())
    assert entered == [0, 2]
    assert in_flight == 0


def test_a_waiter_cancelled_as_its_place_came_passes_the_place_on():
    async def scenario() -> tuple[list[int], int]:
        limiter, entered, release = RequestLimiter(max_concurrent=1), [], asyncio.Event()
        first = asyncio.ensure_future(hold(limiter, entered, 0, release))
        await settle()
        unlucky = asyncio.ensure_future(hold(limiter, entered, 1, release))
        last = asyncio.ensure_future(hold(limiter, entered, 2, release))
        await settle()
        release.set()
        await asyncio.sleep(0)  # the first leaves and hands its place to `unlucky`, whose wake-up is queued
        unlucky.cancel()
        await asyncio.gather(first, last)
        return entered, limiter.in_flight

    entered, in_flight = asyncio.run(scenario())
    assert 2 in entered and 1 not in entered
    assert in_flight == 0


def test_raising_the_cap_lets_waiting_requests_in():
    async def scenario() -> tuple[list[int], list[int]]:
        limiter, entered, release = RequestLimiter(max_concurrent=1), [], asyncio.Event()
        tasks = [asyncio.ensure_future(hold(limiter, entered, n, release)) for n in range(3)]
        await settle()
        before = list(entered)
        limiter.configure(rate=0, burst=1, max_concurrent=3)
        await settle()
        after = list(entered)
        release.set()
        await asyncio.gather(*tasks)
        return before, after

    before, after = asyncio.run(scenario())
    assert before == [0]
    assert after == [0, 1, 2]


def test_a_cap_of_zero_lets_every_request_through():
    async def scenario() -> list[int]:
        limiter, entered, release = RequestLimiter(max_concurrent=0), [], asyncio.Event()
        tasks = [asyncio.ensure_future(hold(limiter, entered, n, release)) for n in range(50)]
        await settle()
        at_once = list(entered)
        release.set()
        await asyncio.gather(*tasks)
        return at_once

    assert len(asyncio.run(scenario())) == 50


def test_a_place_freed_on_one_event_loop_wakes_a_request_waiting_on_another():
    # A cell run without autoawait runs its turn on an event loop of its own, in another thread.
    limiter = RequestLimiter(max_concurrent=1)
    holding, release, got_in = threading.Event(), threading.Event(), threading.Event()

    async def first() -> None:
        async with limiter.slot():
            holding.set()
            while not release.is_set():
                await asyncio.sleep(0.01)

    async def second() -> None:
        async with limiter.slot():
            got_in.set()

    thread = threading.Thread(target=asyncio.run, args=(first(),))
    thread.start()
    holding.wait(10)
    waiter = threading.Thread(target=asyncio.run, args=(second(),))
    waiter.start()
    while not limiter._waiters:
        threading.Event().wait(0.01)
    assert not got_in.is_set()
    release.set()
    thread.join(10)
    waiter.join(10)
    assert got_in.is_set() and limiter.in_flight == 0


def answer_in_groups_of(size: int):
    """A responder that answers only once `size` requests are waiting together (and fails the request if
    they never are)."""
    barrier = threading.Barrier(size, timeout=10)

    def answer(_request: dict) -> StreamReply:
        barrier.wait()
        return StreamReply(text_chunks("ok"))

    return answer


def test_a_kernel_never_has_more_requests_in_flight_at_the_endpoint_than_the_cap(tmp_path):
    with LoopbackModelServer(answer_in_groups_of(3)) as server:
        config = AgentMagic(base_url=server.base_url, api_key="k", workspace=str(tmp_path), max_concurrent_requests=3)
        runtime = AgentRuntime(config, {})

        async def twelve_sessions_at_once() -> list[str]:
            async def one() -> str:
                items = [item async for item in runtime.client_for("m").stream(MESSAGES, [])]
                return items[-1].text

            return await asyncio.gather(*(one() for _ in range(12)))

        answers = asyncio.run(twelve_sessions_at_once())
        assert answers == ["ok"] * 12
        assert server.max_in_flight == 3
        assert runtime.rate_limiter.in_flight == 0


def test_without_a_cap_requests_at_the_same_time_all_reach_the_endpoint(tmp_path):
    with LoopbackModelServer(answer_in_groups_of(6)) as server:
        client = ModelClient(
            EndpointSettings(model="m", base_url=server.base_url, api_key="k"),
            limiter=RequestLimiter(max_concurrent=0),
        )

        async def six_at_once() -> None:
            async def one() -> None:
                async for _item in client.stream(MESSAGES, []):
                    pass

            await asyncio.gather(*(one() for _ in range(6)))

        asyncio.run(six_at_once())
        assert server.max_in_flight == 6


def test_a_limit_changed_with_config_applies_to_the_kernels_limiter(tmp_path):
    config = AgentMagic(workspace=str(tmp_path))
    runtime = AgentRuntime(config, {})
    config.max_concurrent_requests = 9
    config.requests_per_second = 2.5
    assert runtime.rate_limiter.max_concurrent == 9
    assert runtime.rate_limiter.rate == 2.5
