"""OpenTelemetry traces and metrics of every turn, switched by `AgentMagic.telemetry` (issue 15).

This module imports nothing from OpenTelemetry: with telemetry off (the default) a kernel never loads
the SDK, and the switch below costs one type check per event. With `otlp`, `prepare_turn()` (run before
each turn) builds the subscriber of `otel.py` on first use, or says in one line why it cannot.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from traitlets import TraitError

from agent_magic.config import DEMO_MODEL
from agent_magic.errors import AgentError, AgentUsageError
from agent_magic.events import Event, TextDelta, TurnEnded, TurnStarted

if TYPE_CHECKING:
    from agent_magic.config import AgentMagic
    from agent_magic.telemetry.otel import OtelSubscriber

log = logging.getLogger("agent_magic.telemetry")

MISSING_SDK = (
    "AgentMagic.telemetry = 'otlp' needs the OpenTelemetry SDK and OTLP exporters: "
    "pip install 'agent-magic[otel]' (or set AgentMagic.telemetry = 'off')"
)


class TelemetrySwitch:
    """An `EventSubscriber` that hands a turn's events to the OpenTelemetry subscriber when the turn
    started with `AgentMagic.telemetry = 'otlp'`, and drops them otherwise.

    `base_url_for(model)` returns the endpoint a model is served from (None: OpenAI's default); `user` and
    `notebook` say who runs what (see `ledger.identity`).
    """

    def __init__(
        self,
        config: AgentMagic,
        *,
        base_url_for: Callable[[str], str | None],
        user: str,
        notebook: str,
    ) -> None:
        self.config = config
        self.base_url_for = base_url_for
        self.user = user
        self.notebook = notebook
        self._subscriber: OtelSubscriber | None = None
        self._active: set[str] = set()  # turns that started with telemetry on
        self._build_failed = False

    def enabled(self) -> bool:
        """True when turns are to be exported; raises `AgentUsageError` for a bad $AGENT_MAGIC_TELEMETRY."""
        try:
            return self.config.telemetry == "otlp"
        except TraitError as exc:
            raise AgentUsageError(str(exc)) from None

    def prepare_turn(self) -> None:
        """Before a turn: with telemetry on, make sure it can be exported (the first time, this loads the
        SDK and sets up the exporters); raises `AgentUsageError` with the fix when it cannot."""
        if self.enabled() and self._subscriber is None:
            self._subscriber = self._build()

    def handle(self, event: Event) -> None:
        """Forward the events of turns that started with telemetry on (never raises)."""
        if type(event) is TextDelta:  # one per token, and the answer arrives whole in AssistantMessage
            return
        if isinstance(event, TurnStarted):
            if not self._start(event):
                return
        elif event.turn_id not in self._active:
            return
        assert self._subscriber is not None
        self._subscriber.handle(event)
        if isinstance(event, TurnEnded):
            self._active.discard(event.turn_id)

    def _start(self, event: TurnStarted) -> bool:
        try:
            if not self.enabled():
                return False
            if self._subscriber is None:  # a turn run without prepare_turn (e.g. straight from a Session)
                self._subscriber = self._build()
        except AgentError as exc:
            if not self._build_failed:
                log.warning(str(exc))
            self._build_failed = True
            return False
        self._active.add(event.turn_id)
        return True

    def _build(self) -> OtelSubscriber:
        if importlib.util.find_spec("opentelemetry.sdk") is None:
            raise AgentUsageError(MISSING_SDK)
        from agent_magic.telemetry.settings import ExportSettings

        try:
            settings = ExportSettings.from_env()
        except ValueError as exc:
            raise AgentUsageError(str(exc)) from None
        try:
            from agent_magic.telemetry.otel import OtelSubscriber
            from agent_magic.telemetry.providers import telemetry_for

            telemetry = telemetry_for(settings)
        except ImportError as exc:  # e.g. grpc asked for but its exporter is not installed
            raise AgentUsageError(f"{MISSING_SDK} ({exc})") from None
        return OtelSubscriber(
            telemetry,
            endpoint_attributes=self._endpoint_attributes,
            content=lambda: bool(self.config.telemetry_content),
            user=self.user,
            notebook=self.notebook,
        )

    def _endpoint_attributes(self, model: str) -> dict[str, Any]:
        from agent_magic.telemetry.genai import endpoint_attributes

        try:
            base_url = self.base_url_for(model)
        except AgentError:  # no endpoint configured: the turn fails and says so; telemetry stays quiet
            base_url = None
        return endpoint_attributes(base_url, demo=model == DEMO_MODEL)
