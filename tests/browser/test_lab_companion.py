"""The JupyterLab companion (labextension/) in a real JupyterLab, driven in headless Chromium.

Set AGENT_MAGIC_SCREENSHOT_DIR to keep one screenshot per feature (the README's docs/lab-*.png).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

WAIT_MS = 60_000
LOAD = "%load_ext agent_magic"
DEMO_PRICES = "%config AgentMagic.prices = {'demo': {'input': 2.0, 'output': 8.0}}"


def screenshot(locator, name: str) -> None:
    """Keep a screenshot for the docs when AGENT_MAGIC_SCREENSHOT_DIR is set."""
    folder = os.environ.get("AGENT_MAGIC_SCREENSHOT_DIR")
    if folder:
        locator.screenshot(path=str(Path(folder) / name))


def ready(page, lab, name: str) -> None:
    """Open a notebook in a workspace of its own (so tabs of earlier tests are not restored), wait until
    its kernel is connected and idle, and put away JupyterLab's news prompt."""
    workspace = Path(name).stem
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}?token={lab.token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=WAIT_MS)
    page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"\| Idle")).wait_for(timeout=WAIT_MS)
    no_news = page.locator(".Toastify__toast", has_text="Jupyter news").get_by_role("button", name="No", exact=True)
    if no_news.count():
        no_news.click()


def run_cells(page, count: int) -> None:
    """Run the first `count` cells, as Shift+Enter from the top would."""
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
    for _ in range(count):
        page.keyboard.press("Shift+Enter")


def waiting_turn(page, lab, name: str, prompt: str, *more_cells: str):
    """Open a notebook that asks the priced demo model for `prompt`, run it until the turn waits for
    approval, and return the Approve button."""
    lab.write_notebook(name, f"{LOAD}\n{DEMO_PRICES}", f"%%agent --model demo\n{prompt}", *more_cells)
    ready(page, lab, name)
    run_cells(page, 2)
    approve = page.locator("button.jupyter-button", has_text="Approve")
    approve.wait_for(state="visible", timeout=WAIT_MS)
    return approve


def in_viewport(locator) -> bool:
    box = locator.bounding_box()
    height = locator.page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


# The computed style of the text node holding `word` in the cell's editor (CodeMirror splits a line into
# nested token spans, so look at the innermost element around the word).
STYLE_OF_WORD = """([cell, word]) => {
  const walker = document.createTreeWalker(cell.querySelector('.cm-content'), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.textContent.includes(word)) {
      const style = getComputedStyle(node.parentElement);
      return {weight: style.fontWeight, style: style.fontStyle};
    }
  }
  return null;
}"""


def style_of(cell, word: str) -> dict:
    """Font weight and style of `word` as the editor shows it."""
    return cell.page.evaluate(STYLE_OF_WORD, [cell.element_handle(), word])


def test_status_bar_shows_the_cost_of_an_agent_cell_and_opens_the_usage_panel(lab, page):
    lab.write_notebook("cost.ipynb", f"{LOAD}\n{DEMO_PRICES}", "%%agent --model demo\nlist the files")
    ready(page, lab, "cost.ipynb")
    status = page.locator(".jp-AgentMagic-status")
    assert status.is_hidden(), "nothing to show before agent_magic is loaded"

    run_cells(page, 2)
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-InputPrompt", has_text="[2]").wait_for(timeout=WAIT_MS)

    # Once the turn is over: no spinner, non-zero tokens and dollars, e.g. "336 tok · $0.0009".
    assert wait_until(lambda: page.locator(".jp-AgentMagic-status.jp-AgentMagic-running").count() == 0)
    expect_cost = re.compile(r"^[1-9][\d.]*k? tok · \$0\.\d*[1-9]\d*$")
    assert wait_until(lambda: status.is_visible() and expect_cost.match(status.inner_text()) is not None), (
        status.inner_text()
    )
    status.click()
    panel = page.locator(".jp-AgentMagic-panel")
    panel.locator("tbody tr").first.wait_for(timeout=WAIT_MS)
    assert panel.locator("tbody tr").first.locator("td").first.inner_text() == "demo"
    assert "list_files" in panel.inner_text()
    total = re.search(r"\$0\.\d+", status.inner_text()).group()
    assert total in panel.inner_text(), "the panel and the status bar show the same dollars"
    screenshot(page.locator("#main"), "lab-status-bar.png")


def test_approval_notification_appears_for_a_cell_out_of_view_and_scrolls_to_it(lab, page):
    fillers = [f"# filler cell {i}\nx = {i}\n\n" for i in range(40)]
    approve = waiting_turn(page, lab, "notify.ipynb", 'write "hi" to notes.txt', *fillers)
    toast = page.locator(".Toastify__toast", has_text="Agent is waiting for approval")
    assert toast.count() == 0, "no notification while the waiting cell is on screen"

    page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer").evaluate(
        "node => node.scrollTo(0, 3 * node.clientHeight)"
    )

    scroll_button = toast.get_by_role("button", name="Scroll to cell")
    scroll_button.wait_for(timeout=WAIT_MS)
    assert "notify.ipynb [cell 2]" in toast.inner_text()
    assert not in_viewport(approve)
    if os.environ.get("AGENT_MAGIC_SCREENSHOT_DIR"):
        time.sleep(1)  # let the toast finish sliding in (for the picture only)
    screenshot(page.locator("#main"), "lab-approval-notification.png")

    scroll_button.click()

    assert wait_until(lambda: in_viewport(approve)), "the waiting cell was scrolled into view"
    approve.click()
    assert wait_until(lambda: (lab.root / "notes.txt").exists())
    toast.wait_for(state="detached", timeout=WAIT_MS)


def test_approval_notification_appears_when_another_tab_is_active(lab, page):
    approve = waiting_turn(page, lab, "tabs.ipynb", 'write "tab" to tab.txt')

    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+L")  # a new Launcher tab covers the notebook
    page.locator(".jp-Launcher").wait_for(timeout=WAIT_MS)

    toast = page.locator(".Toastify__toast", has_text="Agent is waiting for approval in tabs.ipynb [cell 2]")
    toast.get_by_role("button", name="Scroll to cell").click(timeout=WAIT_MS)
    approve.wait_for(state="visible", timeout=WAIT_MS)  # the notebook is the active tab again
    approve.click()
    toast.wait_for(state="detached", timeout=WAIT_MS)
    assert wait_until(lambda: (lab.root / "tab.txt").exists())


def test_agent_cells_are_highlighted_as_markdown(lab, page):
    lab.write_notebook("highlight.ipynb", "%%agent\n# Plan\nUse **bold** words", "# Plan\nx = 1")
    ready(page, lab, "highlight.ipynb")
    cells = page.locator(".jp-Notebook .jp-Cell")

    heading = style_of(cells.nth(0), "Plan")
    comment = style_of(cells.nth(1), "Plan")
    assert int(heading["weight"]) >= 600 and heading["style"] == "normal", heading  # a Markdown heading
    assert comment["style"] == "italic", comment  # the same text in Python is a comment
    assert int(style_of(cells.nth(0), "bold")["weight"]) >= 600
    if os.environ.get("AGENT_MAGIC_SCREENSHOT_DIR"):  # the toolbar and the two cells, not the empty page
        top, bottom = page.locator(".jp-NotebookPanel-toolbar").bounding_box(), cells.nth(1).bounding_box()
        clip = {
            "x": top["x"],
            "y": top["y"],
            "width": top["width"],
            "height": bottom["y"] + bottom["height"] + 8 - top["y"],
        }
        page.screenshot(path=str(Path(os.environ["AGENT_MAGIC_SCREENSHOT_DIR"]) / "lab-highlight.png"), clip=clip)


def test_insert_agent_cell_from_the_toolbar_and_the_commands_in_the_palette(lab, page):
    lab.write_notebook("commands.ipynb", "x = 1")
    ready(page, lab, "commands.ipynb")
    page.locator(".jp-NotebookPanel-toolbar [data-jp-item-name='agent-magic-insert-cell'] button").click()
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".cm-content:focus").wait_for(timeout=WAIT_MS)
    page.keyboard.type("# Question")

    cells = page.locator(".jp-Notebook .jp-Cell")
    assert cells.count() == 2
    assert cells.nth(1).locator(".cm-content").inner_text() == "%%agent\n# Question"
    assert int(style_of(cells.nth(1), "Question")["weight"]) >= 600, "highlighted while typing"

    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("agent")
    palette = page.locator(".lm-CommandPalette-content")
    for label in ("Insert agent cell", "Stop agent turn", "Show agent usage"):
        assert palette.get_by_text(label).count() == 1, label


def test_stop_agent_turn_from_the_toolbar_ends_a_waiting_turn_without_an_error(lab, page):
    waiting_turn(page, lab, "stop.ipynb", 'write "never" to stopped.txt')
    stop = page.locator(".jp-NotebookPanel-toolbar [data-jp-item-name='agent-magic-stop-turn'] button")
    assert page.locator(".jp-AgentMagic-status.jp-AgentMagic-running").count() == 1, "the spinner turns"

    stop.click()

    agent_cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
    agent_cell.locator(".jp-InputPrompt", has_text="[2]").wait_for(timeout=WAIT_MS)  # the cell finished
    assert "stopped by user (Stop agent turn)" in agent_cell.inner_text()
    assert "Error" not in agent_cell.inner_text(), agent_cell.inner_text()
    assert agent_cell.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert page.locator(".jp-AgentMagic-status.jp-AgentMagic-running").count() == 0
    assert stop.is_disabled(), "nothing left to stop"
    assert not (lab.root / "stopped.txt").exists()
