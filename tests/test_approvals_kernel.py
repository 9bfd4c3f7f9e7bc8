"""Approvals in a real kernel, driven over the Jupyter protocol the way a frontend does: the Approve /
Deny / Always / Stop buttons arrive as comm_open messages and are clicked with comm_msg on the shell
channel while the cell is still running; stdin answers arrive as input_reply; headless runs send
allow_stdin=False. The tests share one kernel, reset before each (`shared_kernel`).
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.kernel

ADD_TOUCH_TOOL = """
import time
from agent_magic.tools.registry import make_tool
def touch(path: str) -> str:
    '''Create a file in the working directory.'''
    with open(path, 'w') as f:
        f.write('made')
    return 'made'
rt = get_ipython().magics_manager.registry['AgentMagics'].runtime
rt.session.tools.add(make_tool(touch, destructive=True))
"""


def ask_to_touch(script, *paths: str) -> None:
    for path in paths:
        script.add_tool_calls(("touch", json.dumps({"path": path})))
    script.add_text("All done.")


class Clicker:
    """Clicks the button labelled `label` once the approval box is open (typing `reason` first, if any)."""

    def __init__(self, label: str, reason: str = "") -> None:
        self.label, self.reason = label, reason
        self.text_comm: str | None = None
        self.button_comm: str | None = None
        self.clicks = 0

    def __call__(self, msg, kernel) -> None:
        if msg["header"]["msg_type"] != "comm_open":
            return
        state = msg["content"]["data"]["state"]
        comm_id = msg["content"]["comm_id"]
        model = state.get("_model_name")
        if model == "TextModel":
            self.text_comm = comm_id
        elif model == "ButtonModel" and state.get("description", "").startswith(self.label):
            self.button_comm = comm_id
        elif model == "VBoxModel" and self.button_comm:  # the box comes last: every control exists now
            if self.reason and self.text_comm:
                update = {"method": "update", "state": {"value": self.reason}, "buffer_paths": []}
                kernel.send_comm(self.text_comm, update)
            kernel.send_comm(self.button_comm, {"method": "custom", "content": {"event": "click"}})
            self.clicks += 1


def tool_result(script) -> dict:
    content = next(m for m in reversed(script.requests[-1]["messages"]) if m["role"] == "tool")["content"]
    return json.loads(content[content.index("{") : content.rindex("}") + 1])


@pytest.fixture
def touch_kernel(shared_kernel):
    """The module's shared kernel, reset for this test, with the `touch` tool."""
    assert shared_kernel.execute(ADD_TOUCH_TOOL).status == "ok"
    return shared_kernel


def test_clicking_approve_runs_the_tool_and_the_cell_finishes(touch_kernel, script, workspace):
    ask_to_touch(script, "a.txt")
    clicker = Clicker("Approve")

    run = touch_kernel.execute("%%agent\nmake a.txt", allow_stdin=True, on_message=clicker, timeout=30)

    assert run.status == "ok", run.text
    assert clicker.clicks == 1
    assert (workspace / "a.txt").read_text() == "made"
    assert "Approval needed: touch wants to act on a.txt (new file)" in run.text
    assert "**approved** by user click" in run.text and "All done." in run.text
    assert tool_result(script)["ok"] is True


def test_clicking_deny_with_a_reason_tells_the_model_and_runs_nothing(touch_kernel, script, workspace):
    ask_to_touch(script, "b.txt")
    clicker = Clicker("Deny", reason="use the scratch folder")

    run = touch_kernel.execute("%%agent\nmake b.txt", allow_stdin=True, on_message=clicker, timeout=30)

    assert run.status == "ok", run.text
    assert not (workspace / "b.txt").exists()
    assert "**denied** by user click — use the scratch folder" in run.text
    result = tool_result(script)
    assert result["error_code"] == "denied" and "use the scratch folder" in result["error_message"]


def test_always_allow_asks_once_per_session(touch_kernel, script, workspace):
    ask_to_touch(script, "1.txt", "2.txt")
    clicker = Clicker("Always allow touch")

    run = touch_kernel.execute("%%agent\nmake two files", allow_stdin=True, on_message=clicker, timeout=30)

    assert run.status == "ok", run.text
    assert clicker.clicks == 1
    assert (workspace / "1.txt").exists() and (workspace / "2.txt").exists()
    assert "**approved** by session allow" in run.text


def test_stop_ends_the_turn_and_the_next_cell_continues(touch_kernel, script, workspace):
    script.add_tool_calls(("touch", json.dumps({"path": "s.txt"})))

    run = touch_kernel.execute("%%agent\nmake s.txt", allow_stdin=True, on_message=Clicker("Stop"), timeout=30)

    assert run.status == "ok", run.text  # Stop is the user's choice, not an error
    assert not (workspace / "s.txt").exists()
    assert "stopped by user" in run.text
    script.add_text("Fine.")
    after = touch_kernel.execute("%%agent\nnever mind")
    assert after.status == "ok", after.text
    assert [m["role"] for m in script.requests[-1]["messages"]][1:] == ["user", "assistant", "tool", "user"]


def test_interrupt_while_waiting_for_a_click_cancels_the_turn(touch_kernel, script, workspace):
    script.add_tool_calls(("touch", json.dumps({"path": "i.txt"})))
    started: list[float] = []

    def interrupt_when_buttons_show(msg, kernel):
        if msg["header"]["msg_type"] == "comm_open" and not started:
            started.append(time.monotonic())
            kernel.manager.interrupt_kernel()

    run = touch_kernel.execute(
        "%%agent\nmake i.txt", allow_stdin=True, on_message=interrupt_when_buttons_show, timeout=30
    )

    assert started and run.status == "error"
    assert "interrupted" in run.text and not (workspace / "i.txt").exists()
    script.add_text("Back.")
    assert touch_kernel.execute("%%agent\ncontinue").status == "ok"


def test_stdin_fallback_answers_y_n_a(touch_kernel, script, workspace):
    touch_kernel.execute("%config AgentMagic.approval_prompt = 'stdin'")
    ask_to_touch(script, "y.txt", "n.txt")
    answers = iter(["y", "n not this one"])
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    run = touch_kernel.execute("%%agent\nmake files", allow_stdin=True, on_input=answer, timeout=30)

    assert run.status == "ok", run.text
    assert prompts and "y(es) / n(o)" in prompts[0]
    assert (workspace / "y.txt").exists() and not (workspace / "n.txt").exists()
    assert "**denied** by stdin — not this one" in run.text


def test_headless_run_denies_with_a_visible_line_and_tells_the_model(touch_kernel, script, workspace):
    ask_to_touch(script, "h.txt")

    run = touch_kernel.execute("%%agent\nmake h.txt", allow_stdin=False, timeout=30)

    assert run.status == "ok", run.text
    assert not (workspace / "h.txt").exists()
    assert "approval needed in a headless run: touch(path='h.txt')" in run.text
    assert "**denied** by headless policy" in run.text
    assert "no one could approve it in a headless run" in tool_result(script)["error_message"]
    assert run.count("comm_open") == 0, "no buttons in a headless run"


def test_headless_error_policy_fails_the_cell_in_one_line(touch_kernel, script, workspace):
    touch_kernel.execute("%config AgentMagic.headless_approval = 'error'")
    script.add_tool_calls(("touch", json.dumps({"path": "e.txt"})))

    run = touch_kernel.execute("%%agent\nmake e.txt", timeout=30)

    assert run.status == "error"
    assert "needs approval but this run is headless" in run.text and "--approve touch" in run.text
    assert len(run.error["traceback"]) == 1
    assert not (workspace / "e.txt").exists()


def test_approve_option_pre_approves_for_that_cell_only(touch_kernel, script, workspace):
    ask_to_touch(script, "p.txt")
    run = touch_kernel.execute("%%agent --approve touch\nmake p.txt", timeout=30)
    assert run.status == "ok", run.text
    assert (workspace / "p.txt").exists() and "**approved** by pre-approval" in run.text

    ask_to_touch(script, "q.txt")
    touch_kernel.execute("%%agent\nmake q.txt", timeout=30)
    assert not (workspace / "q.txt").exists(), "the next cell is not pre-approved"


def test_approve_all_warns_and_unknown_names_are_a_one_line_error(touch_kernel, script, workspace):
    ask_to_touch(script, "all.txt")
    run = touch_kernel.execute("%%agent --approve all\nmake all.txt", timeout=30)
    assert "--approve all: every tool call in this cell runs without asking" in run.text
    assert (workspace / "all.txt").exists()

    bad = touch_kernel.execute("%%agent --approve tuoch\nmake x.txt")
    assert bad.status == "error" and "no tool named 'tuoch'" in bad.text and "Traceback" not in bad.text


def test_deny_rule_from_config_beats_pre_approval(touch_kernel, script, workspace):
    touch_kernel.execute('%config AgentMagic.permissions = {"deny": ["touch:secret*"]}')
    ask_to_touch(script, "secret.txt")

    run = touch_kernel.execute("%%agent --approve touch\nmake secret.txt", timeout=30)

    assert not (workspace / "secret.txt").exists()
    assert "**denied** by rule — denied by the rule 'touch:secret*'" in run.text


def test_malformed_rules_are_refused_at_config_time(touch_kernel):
    run = touch_kernel.execute('%config AgentMagic.permissions = {"deny": "touch"}')
    assert "must be a list of rule strings" in run.text
