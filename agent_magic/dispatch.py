"""Handing a turn's events to its subscribers, in order, with streamed text merged per tick.

A fast stream yields a `TextDelta` every few dozen microseconds, and every subscriber (the renderer,
the ledger, the log, the JupyterLab publisher) would handle each one. Nobody can see that rate: the
notebook redraws ten times a second. So text deltas closer together than `tick` are merged: the first
of a burst is handed on at once (a slow stream, and the first token, are never delayed), the rest are
held until the tick ends and handed on as one delta (text joined; ids and time of the first). Any
other event first hands on the text held before it, so subscribers see everything in the order the
turn produced it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable, Iterable

from agent_magic.events import Event, EventSubscriber, TextDelta

TEXT_TICK = 1 / 30  # a smooth stream to the eye, a thirtieth of the per-token work on a fast one


class EventDispatch:
    """Delivers events to `subscribers`; call `close()` after the turn's last event.

    A subscriber's error raised while held text was handed on by the timer is raised again by the next
    `deliver` or `close`, so it reaches the turn as if it had happened there.

    Example:
        >>> dispatch = EventDispatch([renderer, *runtime.subscribers])
        >>> async for event in session.run_turn(prompt, settings):
        ...     dispatch.deliver(event)
        >>> dispatch.close()
    """

    def __init__(
        self,
        subscribers: Iterable[EventSubscriber],
        *,
        tick: float = TEXT_TICK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.subscribers = list(subscribers)
        self.tick = tick
        self._clock = clock
        self._held: list[TextDelta] = []
        self._last_text = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._error: BaseException | None = None

    def deliver(self, event: Event) -> None:
        """Hand `event` on (a text delta may be held until the end of the current tick)."""
        self._raise_pending()
        if isinstance(event, TextDelta):
            self._held.append(event)
            now = self._clock()
            if now - self._last_text >= self.tick:
                self._flush()  # a tick has passed since text was last handed on: this one goes now
            else:
                self._schedule(self._last_text + self.tick - now)
            return
        self._flush()
        self._send(event)

    def close(self) -> None:
        """Hand on the text still held (the turn ended, or was interrupted)."""
        self._flush()
        self._raise_pending()

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            return
        try:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._flush_on_timer)
        except RuntimeError:  # no event loop (a synchronous caller): the next event or close() hands it on
            pass

    def _flush_on_timer(self) -> None:
        self._timer = None
        try:
            self._flush()
        except Exception as exc:  # kept for the turn, which raises it at the next event
            self._error = exc

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._held:
            return
        held, self._held = self._held, []
        merged = held[0] if len(held) == 1 else dataclasses.replace(held[0], text="".join(d.text for d in held))
        self._last_text = self._clock()
        self._send(merged)

    def _send(self, event: Event) -> None:
        for subscriber in self.subscribers:
            subscriber.handle(event)

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
