"""Events reach every subscriber in order; streamed text is merged per tick, never delayed past it."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent_magic.dispatch import EventDispatch
from agent_magic.events import Event, Notice, TextDelta, TurnEnded, TurnState
from agent_magic.llm.sse_server import StreamReply, text_chunks, usage_chunk

TICK = 0.05


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Seen:
    """A subscriber that keeps what it was handed."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, TextDelta)]


def delta(text: str) -> TextDelta:
    return TextDelta("s1", "t1", text=text)


def test_the_first_text_of_a_burst_is_handed_on_at_once():
    seen = Seen()
    dispatch = EventDispatch([seen], tick=TICK, clock=Clock())
    dispatch.deliver(delta("Hello"))
    assert seen.texts == ["Hello"]


def test_text_arriving_within_a_tick_is_handed_on_once_merged():
    seen, clock = Seen(), Clock()
    dispatch = EventDispatch([seen], tick=TICK, clock=clock)
    first = delta("a")
    dispatch.deliver(delta("start "))
    for piece in (first, delta("b"), delta("c")):
        clock.now += TICK / 10
        dispatch.deliver(piece)
    assert seen.texts == ["start "]
    clock.now += TICK
    dispatch.deliver(delta("d"))
    assert seen.texts == ["start ", "abcd"]
    merged = seen.events[-1]
    assert (merged.session_id, merged.turn_id, merged.at) == (first.session_id, first.turn_id, first.at)


def test_text_slower_than_a_tick_is_handed_on_piece_by_piece():
    seen, clock = Seen(), Clock()
    dispatch = EventDispatch([seen], tick=TICK, clock=clock)
    for piece in ("one ", "two ", "three"):
        dispatch.deliver(delta(piece))
        clock.now += TICK * 2
    assert seen.texts == ["one ", "two ", "three"]


def test_another_event_hands_on_the_text_held_before_it():
    seen, clock = Seen(), Clock()
    dispatch = EventDispatch([seen], tick=TICK, clock=clock)
    dispatch.deliver(delta("x"))
    dispatch.deliver(delta("y"))
    dispatch.deliver(Notice("s1", "t1", message="note"))
    assert [type(e).__name__ for e in seen.events] == ["TextDelta", "TextDelta", "Notice"]
    assert seen.texts == ["x", "y"]


def test_every_subscriber_sees_the_same_events_in_the_same_order():
    first, second, clock = Seen(), Seen(), Clock()
    dispatch = EventDispatch([first, second], tick=TICK, clock=clock)
    for event in (delta("a"), delta("b"), TurnEnded("s1", "t1", state=TurnState.COMPLETED)):
        dispatch.deliver(event)
    dispatch.close()
    assert first.events == second.events
    assert first.texts == ["a", "b"]


def test_close_hands_on_the_text_still_held():
    seen = Seen()
    dispatch = EventDispatch([seen], tick=TICK, clock=Clock())
    dispatch.deliver(delta("partial "))
    dispatch.deliver(delta("answer"))
    dispatch.close()
    assert "".join(seen.texts) == "partial answer"


def test_held_text_is_handed_on_when_its_tick_ends_even_if_nothing_else_comes():
    seen = Seen()

    async def burst_then_silence() -> list[str]:
        dispatch = EventDispatch([seen], tick=TICK)
        dispatch.deliver(delta("a"))
        dispatch.deliver(delta("b"))
        held = list(seen.texts)
        await asyncio.sleep(TICK * 4)
        return held

    assert asyncio.run(burst_then_silence()) == ["a"]
    assert seen.texts == ["a", "b"]


def test_a_subscriber_error_while_handing_on_held_text_reaches_the_turn():
    class Broken(Seen):
        def handle(self, event: Event) -> None:
            super().handle(event)
            if len(self.events) == 2:
                raise ValueError("renderer broke")

    async def scenario() -> None:
        dispatch = EventDispatch([Broken()], tick=TICK)
        dispatch.deliver(delta("a"))
        dispatch.deliver(delta("b"))
        await asyncio.sleep(TICK * 4)  # the timer hands on "b" and the subscriber raises
        dispatch.deliver(delta("c"))

    with pytest.raises(ValueError, match="renderer broke"):
        asyncio.run(scenario())


COUNT_DELTAS = """
import json
from agent_magic.events import TextDelta

class _Deltas:
    def __init__(self):
        self.count, self.parts = 0, []
    def handle(self, event):
        if isinstance(event, TextDelta):
            self.count += 1
            self.parts.append(event.text)

_deltas = _Deltas()
get_ipython().magics_manager.registry["AgentMagics"].runtime.subscribers.append(_deltas)
"""


@pytest.mark.kernel
def test_a_fast_answer_reaches_the_cell_whole_in_far_fewer_deltas_than_tokens(kernel, script):
    words = [f"w{i} " for i in range(3000)]
    script.add(StreamReply(text_chunks("", pieces=words) + [usage_chunk(10, len(words))]))
    assert kernel.execute(COUNT_DELTAS).status == "ok"

    run = kernel.execute("%%agent\nWrite three thousand words.")

    assert run.status == "ok", run.text
    assert "".join(words).strip() in run.text
    count, text = json.loads(kernel.execute("print(json.dumps([_deltas.count, ''.join(_deltas.parts)]))").text)
    assert text == "".join(words)
    assert count < len(words) / 5
