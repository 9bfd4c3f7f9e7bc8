"""What the notebook renderer shows in the cell, event by event: settled answer blocks, the status line and
its clock, tool cards' clocks, the Thinking block, the summary line and the turn's output metadata.

The renderer is fed real events and displays into a recorder of IPython display messages; clocks run on
a real asyncio loop (the tests wait for ticks, they never assert how long anything took).
"""

from __future__ import annotations

import asyncio

import pytest
from display_recorder import DisplayRecorder

from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    DecidedBy,
    Decision,
    ModelCallStarted,
    Notice,
    ReasoningDelta,
    StreamRestarted,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.ui.notebook import NotebookRenderer

IDS = {"session_id": "s1", "turn_id": "t1"}
CALL = ToolCall("c1", "write_file", '{"path": "a.txt", "content": "hi"}')


def renderer(display: DisplayRecorder, **options) -> NotebookRenderer:
    options.setdefault("interval", 0.0)
    return NotebookRenderer(show=display, **options)


def start(r: NotebookRenderer, model: str = "gpt-test") -> None:
    r.handle(TurnStarted(**IDS, prompt="hi", model=model, trace_id="tr"))
    r.handle(ModelCallStarted(**IDS, step=1, model=model))


def answer(r: NotebookRenderer, *pieces: str) -> None:
    for piece in pieces:
        r.handle(TextDelta(**IDS, text=piece))


def end(r: NotebookRenderer, text: str = "", *, cost: float | None = 0.0012, reasoning_tokens: int = 0) -> None:
    r.handle(
        Usage(
            **IDS,
            model="gpt-test",
            input_tokens=100,
            output_tokens=20,
            reasoning_tokens=reasoning_tokens,
            cost_usd=cost,
        )
    )
    r.handle(AssistantMessage(**IDS, text=text, tool_calls=(), finish_reason="stop"))
    r.handle(TurnEnded(**IDS, state=TurnState.COMPLETED))
    r.close()


def run_async(coroutine_function) -> None:
    asyncio.run(coroutine_function())


# -- the streamed answer ----------------------------------------------------------------------------


def test_each_finished_block_of_the_answer_settles_into_an_output_of_its_own():
    display = DisplayRecorder()
    r = renderer(display, summary=False)
    start(r)
    answer(r, "First para", "graph.\n\n", "```py\nx = 1\n\ny = 2\n", "```\n", "Last words.")
    end(r)
    assert display.texts() == ["First paragraph.\n\n", "```py\nx = 1\n\ny = 2\n```\n", "Last words."]
    assert all("text/plain" in output.data for output in display.visible()), "every final output has its twin"


def test_a_settled_block_is_never_sent_again():
    display = DisplayRecorder()
    r = renderer(display, summary=False)
    start(r)
    first = "A first paragraph that is finished.\n\n"
    answer(r, first, "Second ", "paragraph ", "grows ", "word ", "by ", "word.")
    end(r)
    carrying_first = [m for m in display.messages if first in m.data.get("text/markdown", "")]
    assert carrying_first[-1].data["text/plain"] == first, "settled with its plain twin"
    assert display.messages.index(carrying_first[-1]) < len(display.messages) - 3, "and never sent after that"


def test_bytes_sent_grow_linearly_with_the_answer():
    def bytes_for(paragraphs: int) -> int:
        display = DisplayRecorder()
        r = renderer(display, summary=False)  # interval 0: a redraw after every piece, the worst case
        start(r)
        for i in range(paragraphs):
            answer(r, *[f"word{i}_{w} " for w in range(60)], "\n\n")
        end(r)
        return display.bytes_sent

    small, large = bytes_for(20), bytes_for(80)
    assert large < 4.4 * small, (small, large)


def test_one_huge_paragraph_is_never_resent_whole():
    display = DisplayRecorder()
    r = renderer(display, summary=False)
    start(r)
    answer(r, *[f"tok{i} " for i in range(12_000)])  # ~80 KB, no line break at all
    end(r)
    largest_update = max(len(m.data.get("text/markdown", "")) for m in display.messages)
    assert largest_update < 2_500


def test_nobody_watching_means_finished_blocks_are_sent_once_in_batches_and_never_redrawn():
    display = DisplayRecorder()
    r = renderer(display, live=False, summary=False)
    start(r)
    paragraphs = [f"Paragraph {i} " + "word " * 200 + "\n\n" for i in range(12)]
    answer(r, *paragraphs, "The end.")
    end(r)
    assert {m.kind for m in display.messages} == {"display_data"}, "no update of anything"
    assert "".join(display.texts()) == "".join(paragraphs) + "The end."
    assert 1 < len(display.messages) < len(paragraphs), "batches of several blocks"


def test_a_restarted_answer_takes_back_what_was_shown():
    display = DisplayRecorder()
    r = renderer(display, summary=False)
    start(r)
    answer(r, "Half an ans", "wer.\n\nAnd more")
    r.handle(StreamRestarted(**IDS, attempt=2, reason="connection cut; attempt 2 of 4 in 0.0 s", retry_in_s=0.0))
    answer(r, "The whole answer.")
    end(r)
    assert display.texts() == ["*(the answer restarted: connection cut; attempt 2 of 4 in 0.0 s)*", "The whole answer."]


# -- the status line and the clocks -------------------------------------------------------------------


def test_a_silent_model_shows_a_waiting_line_with_a_ticking_clock_then_the_answer_takes_its_place():
    display = DisplayRecorder()

    async def scenario():
        r = renderer(display, summary=False)
        start(r, model="slow-model")
        await asyncio.sleep(2.3)
        status = display.visible()[-1]
        assert status.data["text/plain"] == "… waiting for slow-model — 2 s"
        assert [m.data["text/plain"] for m in display.messages] == [
            "… waiting for slow-model — 1 s",
            "… waiting for slow-model — 2 s",
        ]
        answer(r, "Here it is.")
        end(r)
        assert display.texts() == ["Here it is."]
        assert display.outputs()[0].display_id == status.display_id, "the answer took the status line's place"

    run_async(scenario)


def test_a_fast_model_never_shows_a_status_line():
    display = DisplayRecorder()

    async def scenario():
        r = renderer(display, summary=False)
        start(r)
        await asyncio.sleep(0.2)
        answer(r, "Quick.")
        end(r)
        await asyncio.sleep(1.2)  # no clock is left ticking after the turn

    run_async(scenario)
    assert not any("waiting" in str(m.data) for m in display.messages)
    assert display.texts() == ["Quick."]


def test_a_retry_backoff_counts_down():
    display = DisplayRecorder()

    async def scenario():
        r = renderer(display, summary=False)
        start(r, model="m")
        r.handle(Notice(**IDS, message="⟳ 429 rate limited; attempt 2 of 4 in 3.0 s", retry_in_s=3.0))
        await asyncio.sleep(1.3)
        assert display.visible()[-1].data["text/plain"] == "⟳ retrying m in 2 s"
        r.close()

    run_async(scenario)
    assert display.texts()[0] == "⟳ 429 rate limited; attempt 2 of 4 in 3.0 s"


def test_a_running_tool_card_shows_its_elapsed_seconds():
    display = DisplayRecorder()
    read = ToolCall("c9", "run_shell", '{"command": "sleep 5"}')

    async def scenario():
        r = renderer(display, summary=False)
        start(r)
        r.handle(AssistantMessage(**IDS, text="", tool_calls=(read,), finish_reason="tool_calls"))
        r.handle(ToolCallStarted(**IDS, call=read))
        await asyncio.sleep(1.3)
        assert display.visible()[-1].data["text/plain"] == "🔧 run_shell(command='sleep 5') — running… 1 s"
        r.handle(ToolFinished(**IDS, call=read, ok=True, content="{}", error_code=None, duration_s=1.3, data={}))
        r.close()

    run_async(scenario)
    assert display.texts() == ["🔧 run_shell(command='sleep 5') — ok in 1.30 s"]


def test_an_approval_wait_is_counted_below_the_prompt_and_the_decision_takes_its_place():
    display = DisplayRecorder()

    async def scenario():
        r = renderer(display, summary=False)
        start(r)
        r.handle(AssistantMessage(**IDS, text="", tool_calls=(CALL,), finish_reason="tool_calls"))
        r.handle(ApprovalRequested(**IDS, call=CALL, subject="a.txt"))
        display({"text/plain": "Approval needed: write_file"}, raw=True)  # the asker's prompt and buttons
        await asyncio.sleep(1.3)
        assert display.visible()[-1].data["text/plain"] == "🔐 waiting for your decision on write_file — 1 s"
        r.handle(ApprovalDecided(**IDS, call=CALL, decision=Decision.APPROVED, decided_by=DecidedBy.CLICK))
        r.close()

    run_async(scenario)
    assert display.texts() == ["Approval needed: write_file", "✅ `write_file`: **approved** by user click"]


def test_nobody_watching_means_no_status_line_and_no_clocks():
    display = DisplayRecorder()

    async def scenario():
        r = renderer(display, live=False)
        start(r)
        await asyncio.sleep(1.3)
        answer(r, "Done.")
        end(r)

    run_async(scenario)
    assert [m.kind for m in display.messages] == ["display_data", "display_data"], "the answer and the summary"
    assert display.texts()[0] == "Done."


# -- reasoning ----------------------------------------------------------------------------------------


def think(r: NotebookRenderer, *pieces: str) -> None:
    for piece in pieces:
        r.handle(ReasoningDelta(**IDS, text=piece))


def test_collapsed_reasoning_becomes_a_thinking_block_above_the_answer_with_its_tokens():
    display = DisplayRecorder()
    r = renderer(display, summary=False)
    start(r)
    think(r, "The user ", "wants <b>two</b> ", "things.")
    assert "Thinking…" in display.visible()[0].data["text/html"]
    answer(r, "Two things.")
    end(r, reasoning_tokens=42)
    thinking, reply = display.visible()
    assert thinking.data["text/html"].startswith("<details class='agent-magic-thinking'>")
    assert "&lt;b&gt;two&lt;/b&gt;" in thinking.data["text/html"], "reasoning is escaped, never rendered"
    assert thinking.data["text/plain"].startswith("💭 Thought for 0 s · 33 characters · 42 reasoning tokens\n")
    assert thinking.data["text/plain"].endswith("The user wants <b>two</b> things.")
    assert reply.data["text/plain"] == "Two things."


def test_expanded_reasoning_streams_below_its_header():
    display = DisplayRecorder()
    r = renderer(display, summary=False, show_reasoning="expanded")
    start(r)
    think(r, "First thought.\n\n", "Second thought.")
    assert display.texts()[1:] == [
        "First thought.\n\n",
        "<div class='agent-magic-thinking-text'"
        " style='white-space:pre-wrap;opacity:.75;font-size:92%;border-left:3px solid "
        "#bbb;padding-left:.6em;margin:.2em 0'>Second thought.</div>",
    ]
    answer(r, "Answer.")
    end(r)
    assert display.texts() == [
        "💭 Thought for 0 s · 31 characters",
        "First thought.\n\n",
        "Second thought.",
        "Answer.",
    ]


def test_hidden_reasoning_shows_nothing():
    display = DisplayRecorder()
    r = renderer(display, summary=False, show_reasoning="hidden")
    start(r)
    think(r, "secret plans")
    answer(r, "Answer.")
    end(r)
    assert display.texts() == ["Answer."]


# -- the end of the turn ------------------------------------------------------------------------------


def test_the_turn_ends_with_a_summary_of_model_steps_tokens_cost_and_duration():
    display = DisplayRecorder()
    r = renderer(display)
    start(r)
    answer(r, "Done.")
    end(r)
    line = display.texts()[-1]
    assert line.startswith("✓ gpt-test · 1 step · 120 tokens · $0.0012 · ")
    assert line.endswith(" s")


def test_an_unpriced_model_reads_as_unknown_cost_in_the_summary():
    display = DisplayRecorder()
    r = renderer(display)
    start(r)
    end(r, cost=None)
    assert " · $? · " in display.texts()[-1]


def test_a_failed_turn_says_so_then_sums_up():
    display = DisplayRecorder()
    r = renderer(display)
    start(r)
    r.handle(TurnEnded(**IDS, state=TurnState.FAILED, message="401 from http://x: check OPENAI_API_KEY"))
    r.close()
    assert display.texts()[0] == "❌ 401 from http://x: check OPENAI_API_KEY"
    assert display.texts()[1].startswith("❌ gpt-test · 1 step · 0 tokens · $0.00")


def test_turn_metadata_is_attached_to_the_summary_line():
    display = DisplayRecorder()
    r = renderer(display, turn_metadata=lambda: {"turn_id": "t1", "schema": 1})
    start(r)
    answer(r, "Done.")
    end(r)
    summary = display.messages[-1]
    assert summary.metadata == {"agent_magic": {"turn_id": "t1", "schema": 1}}
    assert summary.data["text/plain"].startswith("✓ gpt-test")
    assert [m.metadata for m in display.messages[:-1]] == [None] * (len(display.messages) - 1)


def test_without_a_summary_turn_metadata_goes_on_a_final_update_of_the_last_output():
    display = DisplayRecorder()
    r = renderer(display, summary=False, turn_metadata=lambda: {"turn_id": "t1"})
    start(r)
    answer(r, "Done.")
    end(r)
    last = display.messages[-1]
    assert last.kind == "update_display_data" and last.metadata == {"agent_magic": {"turn_id": "t1"}}
    assert last.data == {"text/markdown": "Done.", "text/plain": "Done."}
    assert display.texts() == ["Done."]


def test_a_failing_metadata_provider_leaves_the_display_intact():
    def broken() -> dict:
        raise RuntimeError("provenance bug")

    display = DisplayRecorder()
    r = renderer(display, turn_metadata=broken)
    start(r)
    answer(r, "Done.")
    end(r)
    assert display.texts()[0] == "Done." and display.texts()[1].startswith("✓ gpt-test")
    assert display.messages[-1].metadata is None


@pytest.mark.parametrize("summary", [True, False])
def test_a_turn_cancelled_while_waiting_leaves_no_status_line(summary):
    display = DisplayRecorder()

    async def scenario():
        r = renderer(display, summary=summary)
        start(r)
        await asyncio.sleep(1.2)
        r.handle(TurnEnded(**IDS, state=TurnState.CANCELLED, message="interrupted"))
        r.close()

    run_async(scenario)
    assert not any("waiting" in text for text in display.texts())
    assert display.texts()[0] == "⏹ interrupted"
