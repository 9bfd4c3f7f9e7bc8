"""Telemetry benchmark: what the OpenTelemetry subscriber costs the kernel's thread.

One typical turn (2 model calls, 400 streamed text pieces, 1 tool call) is fed to the runtime's
`TelemetrySwitch`, with telemetry off and on (spans into a real SDK BatchSpanProcessor, metrics into a
real MeterProvider, set as the user's global providers; exporting happens on the SDK's own threads).
Targets: off costs under 1 µs per event; on adds under 2 ms per turn (the SDK's span and metric
bookkeeping; a turn lasts seconds), and streamed pieces cost no more than with telemetry off.
Run with `python benchmarks/bench_telemetry.py [turns]`.
"""

from __future__ import annotations

import os
import secrets
import sys
import time

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_magic.config import AgentMagic
from agent_magic.events import (
    AssistantMessage,
    Event,
    ModelCallStarted,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.telemetry import TelemetrySwitch

PIECES = 400


def turn_events(n: int) -> list[Event]:
    ids = {"session_id": "bench-session", "turn_id": f"turn-{n}"}
    call = ToolCall("call_1", "read_file", '{"path": "data.csv"}')
    events: list[Event] = [
        TurnStarted(**ids, prompt="summarise data.csv", model="gpt-4.1-mini", trace_id=secrets.token_hex(16)),
        ModelCallStarted(**ids, step=1, model="gpt-4.1-mini"),
        Usage(
            **ids, model="gpt-4.1-mini", input_tokens=900, output_tokens=40, latency_s=0.8, ttft_s=0.3, cost_usd=0.0004
        ),
        AssistantMessage(**ids, text="", tool_calls=(call,), finish_reason="tool_calls"),
        ToolCallStarted(**ids, call=call),
        ToolFinished(**ids, call=call, ok=True, content="a,b\n1,2\n", error_code=None, duration_s=0.01),
        ModelCallStarted(**ids, step=2, model="gpt-4.1-mini"),
    ]
    events += [TextDelta(**ids, text="word ") for _ in range(PIECES)]
    events += [
        Usage(
            **ids,
            model="gpt-4.1-mini",
            input_tokens=1200,
            output_tokens=400,
            latency_s=2.5,
            ttft_s=0.3,
            cost_usd=0.0011,
        ),
        AssistantMessage(**ids, text="word " * PIECES, tool_calls=(), finish_reason="stop"),
        TurnEnded(**ids, state=TurnState.COMPLETED),
    ]
    return events


def switch(config: AgentMagic) -> TelemetrySwitch:
    return TelemetrySwitch(config, base_url_for=lambda model: None, user="bench", notebook="/bench.ipynb")


def per_turn(subscriber: TelemetrySwitch, turns: int) -> float:
    """Mean seconds the subscriber spends on one turn's events (events built beforehand)."""
    batches = [turn_events(n) for n in range(turns)]
    start = time.perf_counter()
    for events in batches:
        for event in events:
            subscriber.handle(event)
    return (time.perf_counter() - start) / turns


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    os.environ.pop("AGENT_MAGIC_TELEMETRY", None)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))

    off = per_turn(switch(AgentMagic(telemetry="off")), turns)
    on_config = AgentMagic(telemetry="otlp")
    on_switch = switch(on_config)
    on_switch.prepare_turn()
    per_turn(on_switch, 50)  # warm up (first spans, instruments)
    on = per_turn(on_switch, turns)
    tracer_provider.force_flush()
    exported = len(spans.get_finished_spans())
    events_per_turn = len(turn_events(0))

    rows = [
        ("telemetry off: one turn's events", off, f"{off / events_per_turn * 1e9:.0f} ns an event"),
        ("telemetry on: one turn's events", on, f"{(on - off) * 1e6:.0f} µs added a turn"),
    ]
    print(f"{turns} turns of {events_per_turn} events ({PIECES} streamed pieces, 2 model calls, 1 tool call)")
    print(f"{'case':<40} {'per turn':>12}   note")
    for name, seconds, note in rows:
        print(f"{name:<40} {seconds * 1e6:>9.1f} µs   {note}")
    print(f"spans exported: {exported} (4 a turn)")


if __name__ == "__main__":
    main()
