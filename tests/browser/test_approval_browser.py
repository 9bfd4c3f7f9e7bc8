"""Approve and Deny with a real mouse click in JupyterLab (headless Chromium), on the offline demo model.

Set AGENT_MAGIC_SCREENSHOT_DIR to keep a screenshot of the pending approval (docs/approval.png is one).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from jupyterlab_page import open_notebook, run_all_cells

LOAD = "%load_ext agent_magic"
WAIT_MS = 60_000


def wait_for_text(path: Path, timeout: float = 30.0) -> str:
    """The file's text once it has any (the kernel may still be writing when it first exists), or ""."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()):
            return text
        time.sleep(0.1)
    return ""


def pending_approval(page, lab, name: str, prompt: str):
    """Open a notebook asking the demo model for `prompt`, run it, and return the Approve button."""
    lab.write_notebook(name, LOAD, f"%%agent --model demo\n{prompt}")
    open_notebook(page, lab, name)
    run_all_cells(page)
    approve = page.locator("button.jupyter-button", has_text="Approve")
    approve.wait_for(state="visible", timeout=WAIT_MS)
    return approve


def test_clicking_approve_in_jupyterlab_writes_the_file(lab, page):
    started = time.monotonic()
    approve = pending_approval(page, lab, "approve.ipynb", 'write "hello from the browser" to approved.txt')
    shown = time.monotonic()
    assert page.get_by_text("wants to write").first.is_visible()
    if os.environ.get("AGENT_MAGIC_SCREENSHOT_DIR"):
        target = Path(os.environ["AGENT_MAGIC_SCREENSHOT_DIR"]) / "approval.png"
        page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=str(target))

    approve.click()

    assert wait_for_text(lab.root / "approved.txt") == "hello from the browser\n", "the approved write happened"
    page.get_by_text("approved by user click").wait_for(timeout=WAIT_MS)
    assert approve.is_disabled(), "buttons are disabled after the decision"
    print(f"\nbrowser approve: buttons after {shown - started:.1f} s, done after {time.monotonic() - started:.1f} s")


def test_clicking_deny_in_jupyterlab_writes_nothing_and_the_model_reads_the_reason(lab, page):
    started = time.monotonic()
    pending_approval(page, lab, "deny.ipynb", 'write "no" to denied.txt')
    page.get_by_placeholder("reason for denying").fill("not in this folder")

    page.locator("button.jupyter-button", has_text="Deny").click()

    page.get_by_text("denied by user click — not in this folder").wait_for(timeout=WAIT_MS)
    page.get_by_text("did not succeed").wait_for(timeout=WAIT_MS)  # the demo model's summary of the result
    assert not (lab.root / "denied.txt").exists()
    print(f"\nbrowser deny: done after {time.monotonic() - started:.1f} s")


@pytest.fixture(autouse=True)
def _shut_down_kernels(lab):
    """Each test's notebook kernel is shut down afterwards, so kernels do not pile up."""
    yield
    lab.shut_down_kernels()


HOSTILE_COMMAND = "echo harmless\n````\n<!--\nrm -rf ~/precious\n-->\necho $'\\x1b[2K'\u202e"
SCRIPTED_MODEL = f"""
import json
from agent_magic.llm.sse_server import LoopbackModelServer, ScriptedResponder
script = ScriptedResponder()
script.add_tool_calls(("run_shell", json.dumps({{"command": {HOSTILE_COMMAND!r}}})))
script.add_text("Denied, so nothing ran.")
server = LoopbackModelServer(script)
get_ipython().run_line_magic("config", f"AgentMagic.base_url = {{server.base_url!r}}")
get_ipython().run_line_magic("config", "AgentMagic.model = 'scripted'")
"""


def test_a_hostile_command_is_shown_whole_in_jupyterlab(lab, page):
    lab.write_notebook("hostile.ipynb", LOAD, SCRIPTED_MODEL, "%%agent\nclean up")
    open_notebook(page, lab, "hostile.ipynb")
    run_all_cells(page)
    box = page.locator("pre.agent-magic-approval")
    box.wait_for(state="visible", timeout=WAIT_MS)

    shown = box.inner_text()

    assert "rm -rf ~/precious" in shown and "-->" in shown, shown
    assert "⟨U+202E⟩" in shown and "\u202e" not in shown
    assert box.evaluate("el => getComputedStyle(el).whiteSpace") == "pre-wrap"
    page.locator("button.jupyter-button", has_text="Deny").click()
    page.get_by_text("denied by user click").wait_for(timeout=WAIT_MS)
