"""What a person sees while the agent works, in JupyterLab driven in headless Chromium: the waiting line
with its clock, a tool card's clock, the Thinking block, the usage & audit panel, approval from the
keyboard. The model is the loopback SSE server (started here) or the offline demo model.

Set AGENT_MAGIC_SCREENSHOT_DIR to keep the screenshots of docs/progress-and-panel.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_lab_companion import DEMO_PRICES, LOAD, WAIT_MS, ready, run_cells, screenshot, wait_until, waiting_turn

from agent_magic.llm.sse_server import (
    LoopbackModelServer,
    ScriptedResponder,
    StreamReply,
    reasoning_chunks,
    text_chunks,
    tool_call_chunks,
    usage_chunk,
)


@pytest.fixture
def script() -> ScriptedResponder:
    return ScriptedResponder()


@pytest.fixture
def server(script: ScriptedResponder) -> Iterator[LoopbackModelServer]:
    with LoopbackModelServer(script) as running:
        yield running


@pytest.fixture(autouse=True)
def _shut_down_kernels(lab):
    yield
    lab.shut_down_kernels()


def served(server: LoopbackModelServer, model: str) -> str:
    """The first cell of a notebook whose agent talks to the loopback server, `model` priced."""
    return (
        f"{LOAD}\n%config AgentMagic.base_url = '{server.base_url}'\n%config AgentMagic.api_key = 'test'\n"
        f"%config AgentMagic.prices = {{'{model}': {{'input': 2.0, 'output': 8.0}}}}"
    )


def agent_cell(page):
    return page.locator(".jp-Notebook .jp-Cell").nth(1)


def test_a_silent_model_shows_a_waiting_line_whose_clock_ticks(lab, page, server, script):
    script.add(StreamReply(text_chunks("The answer, at last.") + [usage_chunk(40, 6)], first_byte_delay=4.5))
    lab.write_notebook("waiting.ipynb", served(server, "slow-model"), "%%agent --model slow-model\nTake your time.")
    ready(page, lab, "waiting.ipynb")
    run_cells(page, 2)
    cell = agent_cell(page)

    cell.get_by_text("… waiting for slow-model — 1 s").wait_for(timeout=WAIT_MS)
    cell.get_by_text("… waiting for slow-model — 3 s").wait_for(timeout=WAIT_MS)
    screenshot(cell, "lab-waiting.png")

    cell.get_by_text("The answer, at last.").wait_for(timeout=WAIT_MS)
    assert wait_until(lambda: "waiting for" not in cell.inner_text()), "the answer took the waiting line's place"
    cell.get_by_text("✓ slow-model · 1 step · 46 tokens").wait_for(timeout=WAIT_MS)


def test_a_running_tool_card_counts_its_seconds(lab, page, server, script):
    script.add(StreamReply(tool_call_chunks([("run_python", json.dumps({"code": "import time; time.sleep(4)"}))])))
    script.add_text("Slept well.")
    lab.write_notebook("clock.ipynb", served(server, "m"), "%%agent --model m --approve run_python\nSleep a little.")
    ready(page, lab, "clock.ipynb")
    run_cells(page, 2)
    cell = agent_cell(page)

    card = cell.locator(".agent-magic-tool", has_text="run_python")
    card.get_by_text("running… 1 s").wait_for(timeout=WAIT_MS)
    card.get_by_text("running… 2 s").wait_for(timeout=WAIT_MS)
    screenshot(cell, "lab-tool-clock.png")

    cell.get_by_text("Slept well.").wait_for(timeout=WAIT_MS)
    assert "ok in" in card.inner_text()


def test_a_thinking_block_holds_the_streamed_reasoning(lab, page, server, script):
    reasoning = "The user asks for a haiku about rivers. Five syllables, then seven, then five. " * 3
    chunks = reasoning_chunks(reasoning, "Water finds its way\nround the stones it cannot move\nand sings as it goes")
    script.add(StreamReply(chunks + [usage_chunk(30, 90, reasoning_tokens=64)], chunk_delay=0.05))
    lab.write_notebook(
        "thinking.ipynb", served(server, "thinker"), "%%agent --model thinker\nA haiku about rivers, please."
    )
    ready(page, lab, "thinking.ipynb")
    run_cells(page, 2)
    cell = agent_cell(page)

    cell.get_by_text("💭 Thinking…").wait_for(timeout=WAIT_MS)  # live while the model reasons
    cell.get_by_text("and sings as it goes").wait_for(timeout=WAIT_MS)
    block = cell.locator("details.agent-magic-thinking")
    block.wait_for(timeout=WAIT_MS)
    assert "64 reasoning tokens" in block.locator("summary").inner_text()
    assert not block.locator(".agent-magic-thinking-text").is_visible(), "collapsed"

    block.locator("summary").click()

    assert block.locator(".agent-magic-thinking-text").inner_text().startswith("The user asks for a haiku")
    screenshot(cell, "lab-thinking.png")


def test_the_panel_shows_an_approval_decided_by_a_click(lab, page):
    approve = waiting_turn(page, lab, "panel.ipynb", 'write "panel" to panel.txt')
    approve.click()
    assert wait_until(lambda: (lab.root / "panel.txt").exists())
    agent_cell(page).get_by_text("approved by user click").wait_for(timeout=WAIT_MS)

    page.locator(".jp-AgentMagic-status").click()

    panel = page.locator(".jp-AgentMagic-panel")
    panel.get_by_text("Agent usage — panel.ipynb").wait_for(timeout=WAIT_MS)
    decision = panel.locator(".jp-AgentMagic-audit li").first
    decision.wait_for(timeout=WAIT_MS)
    assert decision.locator("span").all_inner_texts()[1:] == ["write_file", "approved", "by user click"]
    assert decision.locator(".jp-AgentMagic-audit-arguments").inner_text() == (
        "write_file(path='panel.txt', content='panel\\n')"
    )
    assert panel.locator("polyline").count() == 2, "the chart of tokens and cost"
    assert panel.locator("table").first.locator("tbody td").first.inner_text() == "demo"
    screenshot(page.locator("#main"), "lab-panel.png")

    panel.get_by_role("button", name="All notebooks").click()
    panel.get_by_text("Agent usage — all notebooks").wait_for(timeout=WAIT_MS)
    panel.locator(".jp-AgentMagic-audit li").first.wait_for(timeout=WAIT_MS)


def test_the_panel_follows_a_running_turn_live(lab, page):
    lab.write_notebook(
        "live.ipynb", f"{LOAD}\n{DEMO_PRICES}", "x = 1", '%%agent --model demo\nwrite "live" to live.txt'
    )
    ready(page, lab, "live.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.locator(".jp-AgentMagic-status").click()  # the panel is open before the turn starts
    panel = page.locator(".jp-AgentMagic-panel")
    panel.get_by_text("No approval decisions yet.").wait_for(timeout=WAIT_MS)

    run_cells_from(page, 2, 1)
    approve = page.locator("button.jupyter-button", has_text="Approve")
    approve.wait_for(state="visible", timeout=WAIT_MS)
    panel.get_by_text("1 model calls").wait_for(timeout=WAIT_MS)  # the first model call, live
    approve.click()

    panel.locator(".jp-AgentMagic-audit li", has_text="user click").wait_for(timeout=WAIT_MS)
    panel.get_by_text("2 model calls").wait_for(timeout=WAIT_MS)


def run_cells_from(page, index: int, count: int) -> None:
    """Run `count` cells from the cell at `index`, as Shift+Enter would."""
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor").click()
    for _ in range(count):
        page.keyboard.press("Shift+Enter")


def test_keyboard_approval_and_no_stray_enter(lab, page):
    approve = waiting_turn(page, lab, "keys.ipynb", 'write "keys" to keys.txt')

    approve.focus()
    page.keyboard.press("Enter")  # a stray Enter on the focused Approve button

    page.wait_for_timeout(1500)
    assert not (lab.root / "keys.txt").exists(), "a stray Enter approves nothing"
    assert not approve.is_disabled()

    page.keyboard.press("Alt+Shift+A")

    assert wait_until(lambda: (lab.root / "keys.txt").exists()), "the shortcut approved the pending request"
    agent_cell(page).get_by_text("approved by keyboard shortcut").wait_for(timeout=WAIT_MS)
    assert approve.is_disabled()
    screenshot(agent_cell(page), "lab-keyboard-approval.png")


def test_the_deny_shortcut_works_from_the_palette_too(lab, page):
    waiting_turn(page, lab, "deny-keys.ipynb", 'write "no" to no.txt')
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("Deny the pending agent request")
    page.locator(".lm-CommandPalette-item", has_text="Deny the pending agent request (write_file)").click()

    agent_cell(page).get_by_text("denied by keyboard shortcut").wait_for(timeout=WAIT_MS)
    assert not (lab.root / "no.txt").exists()
