"""The status line, the summary line and the terminal renderer's rewritten status line."""

from __future__ import annotations

import asyncio
import io

from agent_magic.events import (
    AssistantMessage,
    ModelCallStarted,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.ui.progress import Waiting, someone_watching, status_line
from agent_magic.ui.terminal import ERASE_LINE, TerminalRenderer
from agent_magic.ui.turn_summary import TurnSummary

IDS = {"session_id": "s1", "turn_id": "t1"}


def test_waiting_for_the_model_counts_whole_seconds_then_minutes():
    waiting = Waiting("model", "gpt-4.1", since=100.0)
    assert status_line(waiting, 112.7) == "… waiting for gpt-4.1 — 12 s"
    assert status_line(waiting, 285.0) == "… waiting for gpt-4.1 — 3 min 05 s"


def test_a_retry_counts_down_then_waits_for_the_new_attempt():
    waiting = Waiting("model", "gpt-4.1", since=100.0, retry_at=104.0)
    assert status_line(waiting, 100.2) == "⟳ retrying gpt-4.1 in 4 s"
    assert status_line(waiting, 106.5) == "… waiting for gpt-4.1 — 2 s"


def test_an_approval_wait_names_the_tool():
    assert status_line(Waiting("approval", "run_shell", since=0.0), 7.0) == (
        "🔐 waiting for your decision on run_shell — 7 s"
    )


def test_live_status_setting_overrides_who_is_watching():
    assert someone_watching(object(), "on") and not someone_watching(object(), "off")
    assert someone_watching(object(), "auto"), "terminal IPython (no kernel): a person at the prompt"


def summary_of(*events) -> TurnSummary:
    summary = TurnSummary()
    for event in events:
        summary.apply(event)
    return summary


def usage(cost: float | None, reasoning: int = 0) -> Usage:
    return Usage(**IDS, model="m", input_tokens=1000, output_tokens=234, reasoning_tokens=reasoning, cost_usd=cost)


def test_the_summary_counts_steps_tools_tokens_cost_and_time():
    call = ToolCall("c", "read_file", "{}")
    summary = summary_of(
        TurnStarted(**IDS, prompt="p", model="m", trace_id="x", at=10.0),
        ModelCallStarted(**IDS, step=1, model="m"),
        usage(0.002),
        ToolCallStarted(**IDS, call=call),
        ModelCallStarted(**IDS, step=2, model="m"),
        usage(0.0011, reasoning=50),
        TurnEnded(**IDS, state=TurnState.COMPLETED, at=14.25),
    )
    assert summary.line() == "✓ m · 2 steps · 1 tool call · 2,468 tokens (50 reasoning) · $0.0031 · 4.2 s"


def test_a_partly_priced_turn_shows_a_lower_bound():
    summary = summary_of(usage(0.5), usage(None), TurnEnded(**IDS, state=TurnState.LIMIT_REACHED))
    assert "· ≥ $0.500" in summary.line()
    assert summary.line().startswith("⛔")


def test_the_terminal_ends_a_turn_with_its_summary_and_a_line_for_the_reasoning():
    out = io.StringIO()
    terminal = TerminalRenderer(out)
    for event in (
        TurnStarted(**IDS, prompt="p", model="m", trace_id="x"),
        ModelCallStarted(**IDS, step=1, model="m"),
        ReasoningDelta(**IDS, text="hmm, "),
        ReasoningDelta(**IDS, text="let me see"),
        TextDelta(**IDS, text="The answer."),
        usage(0.001),
        AssistantMessage(**IDS, text="The answer.", tool_calls=(), finish_reason="stop"),
        TurnEnded(**IDS, state=TurnState.COMPLETED),
    ):
        terminal.handle(event)
    terminal.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("💭 thought for 0 s · 15 characters")
    assert lines[1] == "The answer."
    assert lines[2].startswith("✓ m · 1 step · 1,234 tokens · $0.0010 · ")
    assert ERASE_LINE not in out.getvalue(), "no status churn when the output is not a terminal"


def test_on_a_terminal_the_status_line_is_rewritten_in_place_and_erased_by_content():
    out = io.StringIO()
    call = ToolCall("c", "run_shell", '{"command": "sleep 2"}')

    async def scenario():
        terminal = TerminalRenderer(out, live=True, summary=False)
        terminal.handle(ModelCallStarted(**IDS, step=1, model="slow"))
        await asyncio.sleep(1.2)
        terminal.handle(ToolCallStarted(**IDS, call=call))
        await asyncio.sleep(2.2)
        terminal.handle(ToolFinished(**IDS, call=call, ok=True, content="", error_code=None, duration_s=1.2))
        terminal.close()

    asyncio.run(scenario())
    text = out.getvalue()
    assert f"{ERASE_LINE}… waiting for slow — 1 s{ERASE_LINE}→ run_shell(command='sleep 2')\n" in text
    assert f"{ERASE_LINE}⚙ run_shell running — 1 s{ERASE_LINE}← run_shell: ok in 1.20 s\n" in text
    assert "running — 0 s" not in text
    assert text.endswith("\n") and not text.endswith(f"{ERASE_LINE}\n")
