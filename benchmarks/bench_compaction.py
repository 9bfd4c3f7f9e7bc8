"""A 100-turn conversation with long answers against a server with a small context window. Prints a table.

Real turns (`Session.run_turn`, the built-in tools offered) over real sockets to the loopback server, which
enforces an 8,192-token window and refuses longer requests the way vLLM does. The model's window is not in
the shipped table, so the first refusal teaches it; from then on the session compacts before a request
would fill 80% of it. Targets: every turn answered, at most one refused request, and the prompt tokens
sent per call bounded by the window (not growing with the conversation).

Run: .venv/bin/python benchmarks/bench_compaction.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from agent_magic.contracts import TurnSettings
from agent_magic.conversation.compaction import CompactionPolicy, Compactor
from agent_magic.events import TranscriptCompacted, TurnEnded, TurnState
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.llm.context_windows import ContextWindows
from agent_magic.llm.sse_server import (
    LoopbackModelServer,
    ScriptedResponder,
    StreamReply,
    count_prompt_tokens,
    text_chunks,
    usage_chunk,
)
from agent_magic.prompts import COMPACTION_PROMPT
from agent_magic.session import Session
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry

WINDOW = 8_192
TURNS = 100
ANSWER = "A long answer that goes through the data column by column, with numbers and caveats. " * 40  # ~3,400 chars
SUMMARY = "The user explored the data turn after turn; the assistant described every column in detail."


def is_summary(request: dict) -> bool:
    return request["messages"][0]["content"].startswith(COMPACTION_PROMPT.splitlines()[0])


def answer(request: dict) -> StreamReply:
    text = SUMMARY if is_summary(request) else ANSWER
    return StreamReply(text_chunks(text) + [usage_chunk(0, len(text) // 4)])


def run() -> dict[str, float]:
    script = ScriptedResponder(window=WINDOW, window_error="vllm", otherwise=answer)
    compactor = Compactor(ContextWindows(), CompactionPolicy(threshold=0.8, keep_turns=2))
    with LoopbackModelServer(script) as server:
        client = ModelClient(EndpointSettings(model="bench-model", base_url=server.base_url, api_key="k"))
        session = Session(
            client_for=lambda model: client,
            tools=ToolRegistry(builtin_tools()),
            context=ToolContext(Path(tempfile.gettempdir())),
            compactor=compactor,
        )

        async def conversation() -> tuple[int, list[TranscriptCompacted]]:
            answered, compactions = 0, []
            for number in range(TURNS):
                prompt = f"Question {number}: what else does the data say about region {number % 7}?"
                async for event in session.run_turn(prompt, TurnSettings(model="bench-model")):
                    if isinstance(event, TranscriptCompacted):
                        compactions.append(event)
                    elif isinstance(event, TurnEnded) and event.state is TurnState.COMPLETED:
                        answered += 1
            return answered, compactions

        started = time.perf_counter()
        answered, compactions = asyncio.run(conversation())
        seconds = time.perf_counter() - started
    sizes = [count_prompt_tokens(r) for r in script.requests]
    refused_at = next((i for i, size in enumerate(sizes) if size > WINDOW), len(sizes))
    answers = [size for r, size in zip(script.requests, sizes, strict=True) if size <= WINDOW and not is_summary(r)]
    known = [size for r, size in zip(script.requests[refused_at:], sizes[refused_at:], strict=True) if size <= WINDOW]
    summaries = [size for r, size in zip(script.requests, sizes, strict=True) if is_summary(r)]
    return {
        "answered": answered,
        "refused": len(script.refused),
        "compactions": len(compactions),
        "after_refusal": sum(c.trigger.name == "REFUSED" for c in compactions),
        "summary_calls": len(summaries),
        "max_answer": max(answers),
        "max_known": max(known),
        "mean_answer": statistics.mean(answers),
        "last10_answer": statistics.mean(answers[-10:]),
        "max_summary": max(summaries) if summaries else 0,
        "uncompacted": TURNS * (len(ANSWER) + 70) // 4,
        "seconds": seconds,
        "learned": compactor.window_for("bench-model") or 0,
    }


def main() -> None:
    result = run()
    rows = [
        ("turns answered", f"{result['answered']:.0f} / {TURNS}", f"{TURNS}"),
        ("requests refused as too long", f"{result['refused']:.0f}", "≤ 1"),
        ("window learned from the refusal", f"{result['learned']:,.0f} tokens", f"{WINDOW:,}"),
        ("compactions (after the refusal)", f"{result['compactions']:.0f} ({result['after_refusal']:.0f})", ""),
        ("summary requests (largest)", f"{result['summary_calls']:.0f} ({result['max_summary']:,.0f} tokens)", "fit"),
        ("prompt tokens per answer request: max", f"{result['max_answer']:,.0f}", f"≤ {WINDOW:,}"),
        ("… max once the window was known", f"{result['max_known']:,.0f}", f"≤ {int(WINDOW * 0.8):,} (80%)"),
        ("… mean / mean of the last 10", f"{result['mean_answer']:,.0f} / {result['last10_answer']:,.0f}", "bounded"),
        ("the conversation uncompacted would be", f"{result['uncompacted']:,.0f} tokens", ""),
        ("wall time (2 shared cores)", f"{result['seconds']:.1f} s", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"Compaction: {TURNS}-turn conversation, ~{len(ANSWER) // 4} tokens per answer, window {WINDOW:,} tokens")
    print(f"{'measure':<{width}}  {'value':>24}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>24}  {target}")


if __name__ == "__main__":
    main()
