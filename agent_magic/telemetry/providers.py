"""The tracer and meter agent_magic records with: the user's global providers when a TracerProvider was
set, else providers of our own that export over OTLP as the standard variables say.

Our own providers are made once per process and never registered as the global ones: a library must not
take the global slot (it can be set only once) from the application or the user. They are shut down,
and so flushed, when the process exits (the SDK registers that).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader as MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from agent_magic import __version__
from agent_magic.telemetry.settings import ExportSettings, SignalExport

log = logging.getLogger("agent_magic.telemetry")

SCOPE = "agent_magic"
DEFAULT_SERVICE_NAME = "agent_magic"
# The OTLP exporters log every failed attempt and retry. In a kernel those lines would land, as red
# stderr, in whatever cell runs next; `ExportHealth` says it once instead, and the details go to the
# agent_magic.telemetry logger at DEBUG.
EXPORTER_LOGGER = "opentelemetry.exporter"

_pending_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("agent_magic_trace_id", default=None)


class TurnTraceIds(RandomIdGenerator):
    """Ids for our own TracerProvider: the root span of a turn gets the trace id the ledger recorded.

    Every other id is random, as with the SDK's default generator.
    """

    def generate_trace_id(self) -> int:
        """The pending turn's trace id inside `using()`, else a random one."""
        pending = _pending_trace_id.get()
        return pending if pending is not None else super().generate_trace_id()

    @staticmethod
    @contextlib.contextmanager
    def using(trace_id: int) -> Iterator[None]:
        """Within this block (and this thread or task only), a new root span gets `trace_id`."""
        token = _pending_trace_id.set(trace_id)
        try:
            yield
        finally:
            _pending_trace_id.reset(token)


class ExportHealth:
    """Whether the last export reached the collector; reports an outage once, and its end once."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._reported = False

    def record(self, ok: bool, reason: str = "") -> None:
        """Note one export's outcome (called from the exporters' threads)."""
        with self._lock:
            if ok:
                self._failure = None
            elif self._failure is None:
                self._failure = reason or "the export failed"

    def take_report(self) -> str | None:
        """A one-line message when the state changed since the last report, else None."""
        with self._lock:
            if self._failure is not None and not self._reported:
                self._reported = True
                return (
                    f"OpenTelemetry export to {self.target} failed ({self._failure}); this kernel's traces and "
                    "metrics are dropped until the collector is reachable (check OTEL_EXPORTER_OTLP_ENDPOINT)"
                )
            if self._failure is None and self._reported:
                self._reported = False
                return f"OpenTelemetry export to {self.target} works again"
            return None


class _WatchedSpanExporter(SpanExporter):
    """Delegates to the OTLP span exporter and tells `ExportHealth` how each export went."""

    def __init__(self, inner: SpanExporter, health: ExportHealth) -> None:
        self.inner = inner
        self.health = health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export, never raising into the batch processor's thread."""
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            self.health.record(False, f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        self.health.record(result is SpanExportResult.SUCCESS, "the collector did not accept the spans")
        return result

    def shutdown(self) -> None:
        """Shut the inner exporter down."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the inner exporter."""
        return self.inner.force_flush(timeout_millis)


class _WatchedMetricExporter(MetricExporter):
    """Delegates to the OTLP metric exporter and tells `ExportHealth` how each export went."""

    def __init__(self, inner: MetricExporter, health: ExportHealth) -> None:
        # The periodic reader asks the exporter for its temporality and aggregation (the OTLP exporter
        # derives them from OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE): pass the inner ones on.
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self.inner = inner
        self.health = health

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Export, never raising into the reader's thread."""
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            self.health.record(False, f"{type(exc).__name__}: {exc}")
            return MetricExportResult.FAILURE
        self.health.record(result is MetricExportResult.SUCCESS, "the collector did not accept the metrics")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush the inner exporter."""
        return self.inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the inner exporter down."""
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


@dataclass
class Telemetry:
    """What the subscriber records with.

    `trace_ids` is set when the TracerProvider is ours (root spans then take the ledger's trace id
    directly); with a user's provider it is None and turns continue a remote parent carrying that id.
    """

    tracer: trace.Tracer
    meter: metrics.Meter
    trace_ids: TurnTraceIds | None
    health: ExportHealth | None
    flushers: list[Callable[[], object]] = field(default_factory=list)
    _wanted: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def flush(self) -> None:
        """Export everything recorded so far; blocks up to the exporters' timeouts (OTEL_EXPORTER_OTLP_TIMEOUT,
        10 s by default, retries included), which is why turns use `flush_soon`."""
        for flush in self.flushers:
            try:
                flush()
            except Exception:  # a user's provider may raise: the next flush tries again
                log.debug("telemetry flush failed", exc_info=True)

    def flush_soon(self) -> None:
        """Ask the flushing thread to run `flush` now and return at once. The SDK's force_flush ignores its
        timeout and blocks on the export, so the kernel's thread never calls it: a turn's end must not
        wait for a slow or unreachable collector. Requests made during a flush are served by one more."""
        self._wanted.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._flush_forever, name="agent-magic-telemetry-flush", daemon=True)
            self._thread.start()

    def _flush_forever(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            self.flush()


_lock = threading.Lock()
_own: Telemetry | None = None


def telemetry_for(settings: ExportSettings) -> Telemetry:
    """The user's global providers when a TracerProvider was set globally, else our own (made once)."""
    user_provider = trace.get_tracer_provider()
    if not isinstance(user_provider, trace.ProxyTracerProvider):
        meter_provider = metrics.get_meter_provider()
        return Telemetry(
            tracer=user_provider.get_tracer(SCOPE, __version__),
            meter=meter_provider.get_meter(SCOPE, __version__),
            trace_ids=None,
            health=None,
            flushers=[p.force_flush for p in (user_provider, meter_provider) if hasattr(p, "force_flush")],
        )
    global _own
    with _lock:
        if _own is None:
            _own = _own_telemetry(settings)
        return _own


def _resource() -> Resource:
    """The standard resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win), named agent_magic by default."""
    resource = Resource.create({"host.name": socket.gethostname()})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    return resource


def _span_exporter(signal: SignalExport) -> SpanExporter:
    if signal.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _metric_exporter(signal: SignalExport) -> MetricExporter:
    if signal.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()


class _ToDebugLog(logging.Handler):
    """Re-logs the OTLP exporters' records at DEBUG on agent_magic.telemetry (see EXPORTER_LOGGER)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one record."""
        log.debug("%s: %s", record.name, record.getMessage())


def _own_telemetry(settings: ExportSettings) -> Telemetry:
    exporter_log = logging.getLogger(EXPORTER_LOGGER)
    exporter_log.addHandler(_ToDebugLog())
    exporter_log.propagate = False
    health = ExportHealth(settings.describe())
    resource = _resource()
    trace_ids = TurnTraceIds()
    tracer_provider = TracerProvider(resource=resource, id_generator=trace_ids)
    if settings.traces.enabled:
        exporter = _WatchedSpanExporter(_span_exporter(settings.traces), health)
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    readers = []
    if settings.metrics.enabled:
        readers.append(MetricReader(_WatchedMetricExporter(_metric_exporter(settings.metrics), health)))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    return Telemetry(
        tracer=tracer_provider.get_tracer(SCOPE, __version__),
        meter=meter_provider.get_meter(SCOPE, __version__),
        trace_ids=trace_ids,
        health=health,
        flushers=[tracer_provider.force_flush, meter_provider.force_flush],
    )
