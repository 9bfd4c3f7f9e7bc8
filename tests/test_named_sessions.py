"""Named sessions in real kernels: conversations kept apart by name, continued after a restart from the
ledger (the default one only when asked), forked, listed, with one-line errors for bad names."""

from __future__ import annotations

import json

import pytest
from kernel_harness import RealKernel

pytestmark = pytest.mark.kernel


def user_messages(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


@pytest.fixture
def second_kernel(kernel, kernel_env, workspace):
    """Start another kernel on the same ledger and workspace, as after a restart (the first one is closed)."""

    def restart() -> RealKernel:
        kernel.close()
        restarted = RealKernel(env=kernel_env, cwd=workspace)  # the same home: a restart
        loaded = restarted.execute("%load_ext agent_magic")
        assert loaded.status == "ok", loaded.text
        started.append(restarted)
        return restarted

    started: list[RealKernel] = []
    yield restart
    for restarted in started:
        restarted.close()


def test_two_named_sessions_are_kept_apart(shared_kernel, script):
    for answer in ("A1", "B1", "A2", "B2"):
        script.add_text(answer)

    shared_kernel.execute("%%agent --session alpha\nfirst for alpha")
    shared_kernel.execute("%%agent --session beta\nfirst for beta")
    shared_kernel.execute("%%agent --session alpha\nsecond for alpha")
    run = shared_kernel.execute("%%agent --session beta\nsecond for beta")

    assert run.status == "ok", run.text
    assert user_messages(script.requests[2]) == ["first for alpha", "second for alpha"]
    assert user_messages(script.requests[3]) == ["first for beta", "second for beta"]


def test_cells_without_a_session_option_use_the_session_switched_to(shared_kernel, script):
    script.add_text("one")
    script.add_text("two")
    shared_kernel.execute("%%agent --session eda\nlook at the data")
    switched = shared_kernel.execute("%agent session default")
    shared_kernel.execute("%%agent\nunrelated question")

    assert "session 'default'" in switched.text
    assert user_messages(script.requests[1]) == ["unrelated question"]


def test_a_named_session_continues_in_a_new_kernel(kernel, script, second_kernel):
    script.add_text("The mean of x is 4.2.")
    kernel.execute("%%agent --session stats\nWhat is the mean of x?")
    script.add_text("I said 4.2.")

    restarted = second_kernel()
    run = restarted.execute("%%agent --session stats\nWhat did you say it was?")

    assert run.status == "ok", run.text
    sent = [m for m in script.requests[-1]["messages"] if m["role"] != "system"]
    assert [m["content"] for m in sent] == [
        "What is the mean of x?",
        "The mean of x is 4.2.",
        "What did you say it was?",
    ]


def test_the_default_session_starts_fresh_after_a_restart_until_resumed(kernel, script, second_kernel):
    script.add_text("Noted: the budget is 300.")
    kernel.execute("%%agent\nRemember: the budget is 300.")
    script.add_text("fresh answer")
    script.add_text("resumed answer")

    restarted = second_kernel()
    fresh = restarted.execute("%%agent\nWhat is the budget?")
    resumed = restarted.execute("%agent resume")
    again = restarted.execute("%%agent\nWhat is the budget?")

    assert fresh.status == "ok" and again.status == "ok", again.text
    assert user_messages(script.requests[1]) == ["What is the budget?"]
    assert "resumed from the ledger" in resumed.text
    assert user_messages(script.requests[2]) == ["Remember: the budget is 300.", "What is the budget?"]


def test_a_resumed_session_keeps_its_spending_for_the_session_budget(kernel, script, second_kernel):
    script.add_text("a long answer", usage=(900, 100))
    kernel.execute("%%agent --session costly\nfirst")

    restarted = second_kernel()
    restarted.execute('%config AgentMagic.session_budget = {"tokens": 500}')
    run = restarted.execute("%%agent --session costly\nsecond")

    assert len(script.requests) == 1, "the budget stopped the turn before any request"
    assert "session" in run.text and "500" in run.text


def test_fork_copies_the_conversation_and_leaves_the_original_as_it_was(shared_kernel, script):
    for answer in ("base answer", "fork answer", "main answer"):
        script.add_text(answer)
    shared_kernel.execute("%%agent --session main\nshared start")

    forked = shared_kernel.execute("%agent fork experiment")
    shared_kernel.execute("%%agent\ntry another direction")
    shared_kernel.execute("%%agent --session main\ncontinue the first direction")

    assert forked.status == "ok" and "forked" in forked.text, forked.text
    assert user_messages(script.requests[1]) == ["shared start", "try another direction"]
    assert user_messages(script.requests[2]) == ["shared start", "continue the first direction"]


def test_sessions_lists_each_conversation_with_turns_tokens_and_cost(shared_kernel, script):
    script.add_text("x", usage=(100, 20))
    script.add_text("y", usage=(50, 10))
    shared_kernel.execute("%%agent --session alpha\none")
    shared_kernel.execute("%%agent --session beta\ntwo")

    listed = shared_kernel.execute("%agent sessions")
    frame = shared_kernel.execute(
        "import agent_magic\n"
        "f = agent_magic.sessions()\n"
        "print(f[['name', 'current', 'turns', 'tokens']].to_dict('records'))"
    )

    assert listed.status == "ok", listed.text
    assert "alpha" in listed.text and "beta" in listed.text
    records = eval(frame.text.strip())  # the printed list of dicts
    assert {"name": "beta", "current": True, "turns": 1, "tokens": 60} in records
    assert {"name": "alpha", "current": False, "turns": 1, "tokens": 120} in records


def test_a_session_name_that_is_not_valid_is_refused_in_one_line(shared_kernel, script):
    run = shared_kernel.execute("%%agent --session '../etc'\nhello")

    assert run.status == "error"
    assert "not a valid session name" in run.text
    assert "Traceback" not in run.text and not script.requests


def test_resuming_a_name_the_ledger_does_not_have_says_so_in_one_line(shared_kernel):
    run = shared_kernel.execute("%agent resume nothing-here")

    assert run.status == "error"
    assert "no earlier session named 'nothing-here'" in run.text
    assert "Traceback" not in run.text


def test_forking_onto_an_existing_name_is_refused(shared_kernel, script):
    script.add_text("x")
    shared_kernel.execute("%%agent --session taken\nhello")
    shared_kernel.execute("%agent session default")

    run = shared_kernel.execute("%agent fork taken")

    assert run.status == "error"
    assert "exists already" in run.text


def test_history_names_the_current_session(shared_kernel, script):
    script.add_tool_calls(("list_variables", json.dumps({})))
    script.add_text("nothing defined")
    shared_kernel.execute("%%agent --session eda\nwhat variables are there?")

    run = shared_kernel.execute("%agent history")

    assert "Session 'eda'" in run.text
    assert "list_variables" in run.text
