"""The named conversations' record in the ledger, driven through a real runtime and a real SQLite ledger (a
real PostgreSQL one for a team; the model scripted in memory): kept as the model saw it, switched
atomically on compaction, read back whole, repaired when its kernel stopped mid-turn, listed, and never
shown to another user."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from scripted_model import ScriptedModel

import agent_magic
from agent_magic.config import AgentMagic
from agent_magic.errors import AgentUsageError
from agent_magic.events import MessageAdded, MessageOrigin
from agent_magic.runtime import AgentRuntime


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


def make_runtime(tmp_path: Path, model: ScriptedModel, workspace: Path, ledger_url: str = "") -> AgentRuntime:
    config = AgentMagic(home=str(tmp_path / ".agent"), model="m", workspace=str(workspace), ledger_url=ledger_url)
    runtime = AgentRuntime(config, {"__session__": "analysis.ipynb"})
    runtime.client_for = lambda name: model  # the model is scripted; everything else is real
    return runtime


def restart(stopped: AgentRuntime, tmp_path: Path, model: ScriptedModel, workspace: Path) -> AgentRuntime:
    """A new kernel's runtime on the same ledger, once the rows the stopped kernel wrote have landed (its
    writer thread commits them in bursts, off the event loop)."""
    assert stopped.ledger.store.flush()
    return make_runtime(tmp_path, model, workspace, stopped.config.ledger_url)


def compact(runtime: AgentRuntime) -> None:
    async def run() -> list:
        return [event async for event in runtime.session.compact(runtime.turn_settings())]

    runtime.publish(asyncio.run(run()))


def turn(runtime: AgentRuntime, prompt: str) -> None:
    async def run() -> None:
        session = runtime.session
        async for event in session.run_turn(prompt, runtime.turn_settings()):
            runtime.publish([event])

    asyncio.run(run())


def kept(runtime: AgentRuntime, session_id: str) -> list[dict]:
    return list(runtime.archive.load(session_id).history.messages)


def test_the_kept_transcript_is_what_the_model_saw(tmp_path, model, workspace, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_TOKEN", "tok-1234567890")
    (workspace / "creds.txt").write_text("token=tok-1234567890")
    model.add_tool_calls(("read_file", json.dumps({"path": "creds.txt"})))
    model.add_text("It holds a token.")
    runtime = make_runtime(tmp_path, model, workspace)

    turn(runtime, "my token is tok-1234567890; what is in creds.txt?")

    sent = model.requests[-1][0][1:]  # what the model saw, without the system prompt
    assert kept(runtime, runtime.session.session_id) == [*sent, {"role": "assistant", "content": "It holds a token."}]
    assert "tok-1234567890" in sent[0]["content"]  # the user's own prompt: sent as typed, kept as typed
    assert "tok-1234567890" not in sent[2]["content"]  # a tool result: masked before sending, kept masked


def test_a_compaction_switches_the_kept_transcript_to_the_compacted_one(tmp_path, model, workspace):
    runtime = make_runtime(tmp_path, model, workspace)
    runtime.config.compaction_keep_turns = 1
    for number in range(3):
        model.add_text(f"answer {number} " + "with details " * 40)
        turn(runtime, f"question {number}")
    model.add_text("summary of the first two")

    compact(runtime)

    session_id = runtime.session.session_id
    assert kept(runtime, session_id) == runtime.session.messages
    epochs = runtime.ledger.store.query(
        "SELECT DISTINCT epoch FROM conversation_messages WHERE session_id = ?", (session_id,)
    )
    assert epochs == [(1,)]  # the old epoch is gone once the new one is in place


def test_a_conversation_whose_kernel_stopped_mid_turn_resumes_with_its_calls_answered(tmp_path, model, workspace):
    runtime = make_runtime(tmp_path, model, workspace)
    runtime.conversations.use("crashy")
    model.add_text("first answer")
    turn(runtime, "first")
    session = runtime.session
    # The kernel died after the model asked for a tool and before the tool's result joined the transcript.
    call = {"id": "call_9", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}
    runtime.publish(
        [
            MessageAdded(
                session.session_id,
                "t2",
                message={"role": "user", "content": "second"},
                position=2,
                origin=MessageOrigin.PROMPT,
            ),
            MessageAdded(
                session.session_id,
                "t2",
                message={"role": "assistant", "content": None, "tool_calls": [call]},
                position=3,
                origin=MessageOrigin.ANSWER,
            ),
        ]
    )

    restarted = restart(runtime, tmp_path, model, workspace)
    resumed = restarted.conversations.use("crashy").conversation.session

    assert resumed.messages[-1]["role"] == "tool" and resumed.messages[-1]["tool_call_id"] == "call_9"
    assert "the kernel stopped before this call finished" in resumed.messages[-1]["content"]
    assert kept(restarted, resumed.session_id)[-1] == resumed.messages[-1]  # the repair is kept too
    assert resumed.message_turns[-1] == "t2"  # it belongs to the unfinished turn, so compaction keeps them together


def test_sessions_table_puts_new_ones_first_and_marks_the_current_one(tmp_path, model, workspace):
    runtime = make_runtime(tmp_path, model, workspace)
    model.add_text("a", usage=(30, 10))
    turn(runtime, "hello")
    runtime.conversations.use("fresh")

    rows = runtime.conversations.table()

    assert [(r["name"], r["current"], r["turns"], r["tokens"]) for r in rows] == [
        ("fresh", True, 0, 0),
        ("default", False, 1, 40),
    ]


def test_the_default_conversation_is_not_resumed_by_switching_to_it(tmp_path, model, workspace):
    runtime = make_runtime(tmp_path, model, workspace)
    model.add_text("a")
    turn(runtime, "hello")

    restarted = restart(runtime, tmp_path, model, workspace)
    switched = restarted.conversations.use("default")

    assert switched.conversation.session.messages == []
    with pytest.raises(AgentUsageError, match="no earlier session named 'other'"):
        restarted.conversations.resume("other")


def test_another_users_conversations_of_the_same_notebook_are_neither_resumed_nor_listed(
    tmp_path, model, workspace, monkeypatch
):
    # On a shared ledger every JupyterHub user's notebook may have the same path (/home/jovyan/...).
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    runtime = make_runtime(tmp_path, model, workspace)
    runtime.conversations.use("eda")
    model.add_text("ana's answer")
    turn(runtime, "ana's question")

    monkeypatch.setenv("JUPYTERHUB_USER", "ben")
    restarted = restart(runtime, tmp_path, model, workspace)

    assert "eda" not in [row["name"] for row in restarted.conversations.table()]
    with pytest.raises(AgentUsageError, match="no earlier session named 'eda'"):
        restarted.conversations.resume("eda")
    assert restarted.conversations.use("eda").conversation.session.messages == []


def test_the_sessions_table_is_read_from_a_ledger_without_a_running_extension(tmp_path, model, workspace, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis.ipynb")  # the notebook the runtime above is told it runs in
    runtime = make_runtime(tmp_path, model, workspace)
    runtime.conversations.use("eda")
    model.add_text("an answer", usage=(30, 10))
    turn(runtime, "a question")
    assert runtime.ledger.store.flush()

    table = agent_magic.sessions(home=str(tmp_path / ".agent"))

    assert table[["name", "turns", "tokens"]].to_dict("records") == [{"name": "eda", "turns": 1, "tokens": 40}]


@pytest.mark.postgres
def test_a_compacted_conversation_is_resumed_from_a_team_ledger(tmp_path, model, workspace, postgres_server):
    runtime = make_runtime(tmp_path, model, workspace, postgres_server.create_database())
    runtime.conversations.use("eda")
    runtime.config.compaction_keep_turns = 1
    model.add_tool_calls(("list_files", "{}"))
    model.add_text("answer 0 " + "with details " * 40)
    turn(runtime, "question 0")
    for number in (1, 2):
        model.add_text(f"answer {number} " + "with details " * 40)
        turn(runtime, f"question {number}")
    model.add_text("summary of the first two")
    compact(runtime)

    restarted = restart(runtime, tmp_path, model, workspace)
    resumed = restarted.conversations.use("eda").conversation.session

    assert restarted.ledger.store.remote
    assert resumed.messages == runtime.session.messages
    assert resumed.messages[-1] == {"role": "assistant", "content": "answer 2 " + "with details " * 40}
    assert [row["name"] for row in restarted.conversations.table() if row["turns"]] == ["eda"]


@pytest.mark.postgres
def test_on_a_team_ledger_users_never_see_each_others_conversations(
    tmp_path, model, workspace, postgres_server, monkeypatch
):
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    runtime = make_runtime(tmp_path, model, workspace, postgres_server.create_database())
    runtime.conversations.use("eda")
    model.add_text("ana's answer")
    turn(runtime, "ana's question")

    monkeypatch.setenv("JUPYTERHUB_USER", "ben")
    restarted = restart(runtime, tmp_path, model, workspace)

    assert restarted.ledger.store.remote  # the same PostgreSQL database, not a file of its own
    assert "eda" not in [row["name"] for row in restarted.conversations.table()]
    with pytest.raises(AgentUsageError, match="no earlier session named 'eda'"):
        restarted.conversations.resume("eda")
