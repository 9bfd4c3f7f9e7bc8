"""Replay in memory and on disk: request fingerprints, records and replay files, the recorder fed by a
turn's events, the replay model's hits and misses (with their reasons), and the kernel's library. The
round trip through real kernels is in test_repro_kernel.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from scripted_model import ScriptedModel

from agent_magic.config import AgentMagic
from agent_magic.contracts import TurnSettings
from agent_magic.errors import AgentUsageError, ReplayFileError, ReplayMiss
from agent_magic.events import AssistantMessage, ToolCall, TurnEnded, TurnState, Usage
from agent_magic.ledger.kernel_ledger import KernelLedger
from agent_magic.ledger.recorder import LedgerRecorder
from agent_magic.ledger.replay_file import read_replay_file, write_replay_file
from agent_magic.ledger.replay_records import ReplayRecorder, calibration_sample, find_recording
from agent_magic.ledger.store import LedgerStore
from agent_magic.llm.model import ModelResponse, TextPiece
from agent_magic.llm.recording import Recording, RequestFingerprint
from agent_magic.llm.replay import ReplayModel, explain_miss
from agent_magic.llm.stream import ReportedUsage
from agent_magic.replay import ReplayLibrary
from agent_magic.session import Session
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool

SYSTEM = {"role": "system", "content": "be brief"}
TOOLS = [{"type": "function", "function": {"name": "peek", "parameters": {"type": "object"}}}]


def fingerprint(*messages: dict, model: str = "m", tools: list | None = None, response_format=None):
    return RequestFingerprint.of(model, [SYSTEM, *messages], TOOLS if tools is None else tools, response_format)


def recording(fp: RequestFingerprint, text: str = "Hello there.", calls=()) -> Recording:
    return Recording(fp, text, tuple(calls), "tool_calls" if calls else "stop", ReportedUsage(30, 5), "m-2026-01-01")


class Book:
    """Recordings in memory (the `Recordings` protocol)."""

    def __init__(self, *recordings: Recording) -> None:
        self.by_key = {r.fingerprint.key: r for r in recordings}

    def find(self, fp):
        return self.by_key.get(fp.key)

    def candidates(self):
        return [r.fingerprint for r in self.by_key.values()]


def collect(model, messages, tools=TOOLS, **options):
    async def run():
        return [item async for item in model.stream(messages, tools, **options)]

    return asyncio.run(run())


# -- fingerprints and records ---------------------------------------------------------------------------


def test_a_fingerprint_does_not_depend_on_key_order():
    a = RequestFingerprint.of("m", [{"role": "user", "content": "x"}], TOOLS, None)
    b = RequestFingerprint.of("m", [{"content": "x", "role": "user"}], TOOLS, None)
    assert a.key == b.key and a.messages == b.messages


def test_model_tools_format_and_every_message_are_part_of_the_key():
    base = fingerprint({"role": "user", "content": "x"})
    others = [
        fingerprint({"role": "user", "content": "y"}),
        fingerprint({"role": "user", "content": "x"}, model="other"),
        fingerprint({"role": "user", "content": "x"}, tools=[]),
        fingerprint({"role": "user", "content": "x"}, response_format={"type": "json_object"}),
    ]
    assert len({base.key, *(o.key for o in others)}) == 5


def test_a_record_survives_its_json_form():
    original = recording(fingerprint({"role": "user", "content": "x"}), "", [ToolCall("c1", "peek", '{"a": 1}')])
    assert Recording.from_json(json.loads(json.dumps(original.to_json()))) == original


def test_a_record_whose_key_does_not_match_its_request_is_refused():
    data = recording(fingerprint({"role": "user", "content": "x"})).to_json()
    data["messages"][1] = "0" * 32
    with pytest.raises(ValueError, match="does not match the request"):
        Recording.from_json(data)


# -- replay files ---------------------------------------------------------------------------------------------


def test_a_replay_file_round_trips_its_recordings(tmp_path):
    recordings = [recording(fingerprint({"role": "user", "content": f"q{i}"}), f"a{i}") for i in range(3)]
    path = tmp_path / "nb.agent-replay.jsonl"
    assert write_replay_file(path, recordings) == 3
    assert read_replay_file(path) == recordings
    assert path.read_text().splitlines()[0] == '{"format": "agent_magic.replay", "v": 1}'


def test_exporting_twice_writes_the_same_bytes(tmp_path):
    recordings = [recording(fingerprint({"role": "user", "content": "q"}))]
    write_replay_file(tmp_path / "a.agent-replay.jsonl", recordings)
    write_replay_file(tmp_path / "b.agent-replay.jsonl", recordings)
    assert (tmp_path / "a.agent-replay.jsonl").read_bytes() == (tmp_path / "b.agent-replay.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ('{"format": "something else"}\n', "line 1: not an agent_magic replay file"),
        ('{"format": "agent_magic.replay", "v": 9}\n', "format version 9 is newer"),
        ('{"format": "agent_magic.replay", "v": 1}\n{"key": \n', "line 2: not JSON"),
        ('{"format": "agent_magic.replay", "v": 1}\n{"key": "x"}\n', "line 2: not a replay record"),
    ],
)
def test_a_damaged_replay_file_is_one_line_naming_the_file_and_the_line(tmp_path, content, message):
    path = tmp_path / "nb.agent-replay.jsonl"
    path.write_text(content)
    with pytest.raises(ReplayFileError) as caught:
        read_replay_file(path)
    text = str(caught.value)
    assert str(path) in text and message in text and "\n" not in text
    assert text.endswith("export it again with %agent replay export, or delete it") or "upgrade" in text


# -- the replay model -------------------------------------------------------------------------------------------


def test_a_hit_streams_the_recorded_answer_flagged_replayed():
    messages = [SYSTEM, {"role": "user", "content": "hi"}]
    fp = RequestFingerprint.of("m", messages, TOOLS, None)
    calls = [ToolCall("call_7", "peek", '{"path": "a"}')]
    model = ReplayModel("m", Book(recording(fp, "Let me look. ", calls)), live=None)

    items = collect(model, messages)

    assert "".join(i.text for i in items if isinstance(i, TextPiece)) == "Let me look. "
    response = items[-1]
    assert isinstance(response, ModelResponse) and response.replayed
    assert response.tool_calls == tuple(calls) and response.finish_reason == "tool_calls"
    assert (response.usage, response.response_model) == (ReportedUsage(30, 5), "m-2026-01-01")


def test_a_strict_miss_names_the_cell_by_its_prompt_and_the_reason_and_sends_nothing():
    recorded = [SYSTEM, {"role": "user", "content": "Which columns of df have missing values?"}]
    book = Book(recording(RequestFingerprint.of("m", recorded, TOOLS, None)))
    asked = [SYSTEM, {"role": "user", "content": "Which rows of df have missing values?"}]

    with pytest.raises(ReplayMiss) as caught:
        collect(ReplayModel("m", book, live=None), asked)

    message = str(caught.value)
    assert message.startswith("replay (strict): no recording of this model call in the cell «Which rows of df")
    assert ": prompt changed; nothing was sent" in message


def test_an_auto_miss_asks_the_live_model():
    live = ScriptedModel()
    live.add_text("live answer")
    items = collect(ReplayModel("m", Book(), live=lambda: live), [SYSTEM, {"role": "user", "content": "hi"}])
    assert items[-1].text == "live answer" and not items[-1].replayed


def test_an_auto_miss_without_a_model_endpoint_is_one_line_with_the_reason():
    def no_endpoint():
        raise AgentUsageError("No model endpoint is configured")

    with pytest.raises(AgentUsageError, match=r"nothing is recorded .*; No model endpoint is configured"):
        collect(ReplayModel("m", Book(), live=no_endpoint), [SYSTEM, {"role": "user", "content": "hi"}])


def conversation(result: str) -> list[dict]:
    call = {"id": "c1", "type": "function", "function": {"name": "peek", "arguments": "{}"}}
    return [
        SYSTEM,
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": result},
    ]


@pytest.mark.parametrize(
    ("recorded", "asked", "reason"),
    [
        (conversation("a"), conversation("b"), "tool result differs (peek)"),
        (
            [SYSTEM, {"role": "user", "content": "x"}],
            [{"role": "system", "content": "be verbose"}, {"role": "user", "content": "x"}],
            "the system prompt changed",
        ),
        (conversation("a")[:2], conversation("a"), "tool result differs (peek)"),
        (
            [{"role": "system", "content": "answer in JSON"}, {"role": "user", "content": "one"}],
            [
                SYSTEM,
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "{}"},
                {"role": "user", "content": "two"},
            ],
            "prompt changed",
        ),
        (
            [*conversation("a"), {"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}],
            [*conversation("a"), {"role": "assistant", "content": "OK!"}, {"role": "user", "content": "more"}],
            "an earlier answer of the conversation differs",
        ),
        (
            [
                SYSTEM,
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "1"},
                {"role": "user", "content": "two"},
            ],
            [
                SYSTEM,
                {"role": "user", "content": "uno"},
                {"role": "assistant", "content": "1"},
                {"role": "user", "content": "two"},
            ],
            "an earlier prompt of the conversation changed",
        ),
    ],
)
def test_a_miss_says_where_the_conversation_left_its_recording(recorded, asked, reason):
    candidate = RequestFingerprint.of("m", recorded, TOOLS, None)
    asked_fp = RequestFingerprint.of("m", asked, TOOLS, None)
    assert explain_miss(asked_fp, asked, [candidate]).startswith(reason)


def test_a_miss_on_the_same_conversation_names_the_model_tools_or_format_that_changed():
    messages = [SYSTEM, {"role": "user", "content": "x"}]
    recorded = RequestFingerprint.of("gpt-4.1", messages, TOOLS, None)
    assert explain_miss(RequestFingerprint.of("gpt-5", messages, TOOLS, None), messages, [recorded]) == (
        "the model changed (recorded with gpt-4.1)"
    )
    assert explain_miss(RequestFingerprint.of("gpt-4.1", messages, [], None), messages, [recorded]) == (
        "the tools on offer changed"
    )
    changed_format = RequestFingerprint.of("gpt-4.1", messages, TOOLS, {"type": "json_object"})
    assert explain_miss(changed_format, messages, [recorded]) == "the answer format (--schema) changed"


# -- recording from a turn's events ------------------------------------------------------------------------


def run_recorded_turn(store: LedgerStore, model, workspace: Path, *, subscribers: list | None = None) -> list:
    def peek(path: str) -> str:
        """Read a file."""
        return "seen " + path

    session = Session(
        client_for=lambda name: model,
        tools=ToolRegistry([make_tool(peek)]),
        context=ToolContext(workspace),
        pricing=lambda *args: 1.0,
    )
    subscribers = subscribers or [LedgerRecorder(store, notebook="nb.ipynb"), ReplayRecorder(lambda: store)]

    async def run():
        events = []
        async for event in session.run_turn("peek at a", TurnSettings(model="m")):
            for subscriber in subscribers:
                subscriber.handle(event)
            events.append(event)
        return events

    return asyncio.run(run())


def test_every_answered_model_call_is_recorded_under_its_request_key(tmp_path, workspace):
    store = LedgerStore(tmp_path / "home")
    model = ScriptedModel()
    model.add_tool_calls(("peek", '{"path": "a"}'))
    model.add_text("It says: seen a.")

    run_recorded_turn(store, model, workspace)

    for messages, tools in model.requests:
        found = find_recording(store, RequestFingerprint.of("m", messages, tools, None).key)
        assert found is not None
    last = model.requests[-1]
    assert find_recording(store, RequestFingerprint.of("m", *last, None).key).text == "It says: seen a."
    chars, tokens, calls = calibration_sample(store, "m")
    assert calls == 2 and tokens == 20 and chars > 0


def test_a_replayed_call_is_free_and_marked_in_the_events_and_the_ledger(tmp_path, workspace):
    store = LedgerStore(tmp_path / "home")
    live = ScriptedModel()
    live.add_tool_calls(("peek", '{"path": "a"}'))
    live.add_text("It says: seen a.")
    first = run_recorded_turn(store, live, workspace)

    library = Book(*(find_recording(store, RequestFingerprint.of("m", m, t, None).key) for m, t in live.requests))
    replayed = run_recorded_turn(store, ReplayModel("m", library, live=None), workspace)

    def answers(events):
        return [
            (e.text, [(c.call_id, c.name, c.arguments) for c in e.tool_calls])
            for e in events
            if isinstance(e, AssistantMessage)
        ]

    assert answers(replayed) == answers(first)
    assert all(e.replayed for e in replayed if isinstance(e, AssistantMessage))
    usages = [e for e in replayed if isinstance(e, Usage)]
    assert [(u.cost_usd, u.replayed) for u in usages] == [(0.0, True), (0.0, True)]
    rows = store.query("SELECT replayed, cost_usd FROM model_calls ORDER BY id")
    assert rows == [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.0)]
    assert calibration_sample(store, "m")[2] == 2, "replayed calls do not calibrate the estimate"
    assert isinstance(replayed[-1], TurnEnded) and replayed[-1].state is TurnState.COMPLETED


# -- the kernel's library ---------------------------------------------------------------------------------


def library_at(folder: Path, **settings) -> ReplayLibrary:
    config = AgentMagic(home=str(folder / ".agent"), **settings)
    ledger = KernelLedger(config, {"__session__": str(folder / "analysis.ipynb")})
    return ReplayLibrary(config, ledger)


def test_replay_files_next_to_the_notebook_answer_before_the_ledger(tmp_path):
    fp = fingerprint({"role": "user", "content": "q"})
    write_replay_file(tmp_path / "analysis.agent-replay.jsonl", [recording(fp, "from the file")])
    library = library_at(tmp_path, replay="strict")
    assert library.find(fp).text == "from the file"
    assert library.default_export_path() == tmp_path / "analysis.agent-replay.jsonl"


def test_a_replay_file_changed_on_disk_is_read_again(tmp_path):
    fp = fingerprint({"role": "user", "content": "q"})
    path = tmp_path / "analysis.agent-replay.jsonl"
    write_replay_file(path, [recording(fp, "old")])
    library = library_at(tmp_path)
    assert library.find(fp).text == "old"
    write_replay_file(path, [recording(fp, "new answer")])
    assert library.find(fp).text == "new answer"


def test_replay_off_gives_the_live_model_itself(tmp_path):
    live = ScriptedModel()
    assert library_at(tmp_path).model_for("m", lambda name: live) is live


def test_the_replay_setting_reads_the_environment(monkeypatch):
    for value, mode in [("1", "auto"), ("strict", "strict"), ("0", "off"), ("", "off"), ("AUTO", "auto")]:
        monkeypatch.setenv("AGENT_MAGIC_REPLAY", value)
        assert AgentMagic().replay == mode


def test_a_bad_replay_environment_value_is_one_line(monkeypatch):
    monkeypatch.setenv("AGENT_MAGIC_REPLAY", "sometimes")
    with pytest.raises(Exception, match="AGENT_MAGIC_REPLAY must be 1 .*not 'sometimes'"):
        AgentMagic().replay  # noqa: B018


def test_an_export_keeps_what_the_file_had_and_never_writes_an_empty_file(tmp_path, workspace):
    library = library_at(tmp_path)
    path = tmp_path / "analysis.agent-replay.jsonl"
    earlier = recording(fingerprint({"role": "user", "content": "an earlier cell"}), "earlier")
    write_replay_file(path, [earlier])
    assert library.export().written == 0 and read_replay_file(path) == [earlier], "nothing recorded yet"

    model = ScriptedModel()
    model.add_text("new answer")
    store = library.ledger.store
    run_recorded_turn(store, model, workspace, subscribers=[LedgerRecorder(store, notebook="nb"), library])
    done = library.export()

    assert (done.path, done.written, done.kept) == (path, 1, 1)
    assert [r.text for r in read_replay_file(path)] == ["earlier", "new answer"]
    assert library.export(replace=True).kept == 0 and [r.text for r in read_replay_file(path)] == ["new answer"]


def test_a_compacted_conversation_replays_whole_summaries_included(tmp_path, workspace):
    from scripted_model import Reply

    from agent_magic.conversation.compaction import COMPACTION_PROMPT, CompactionPolicy, Compactor
    from agent_magic.events import SummaryWritten
    from agent_magic.llm.context_windows import ContextWindows

    def answering(request) -> Reply:
        messages, _tools = request
        if messages[0]["content"].startswith(COMPACTION_PROMPT.splitlines()[0]):
            return Reply(text="summary: the user asked many questions", usage=None)
        return Reply(text="A long answer with all the details. " * 40, usage=None)

    def conversation(model, store: LedgerStore) -> list:
        compactor = Compactor(ContextWindows({"m": 2_000}), CompactionPolicy(threshold=0.8, keep_turns=2))
        session = Session(
            client_for=lambda name: model, tools=ToolRegistry([]), context=ToolContext(workspace), compactor=compactor
        )
        recorder = ReplayRecorder(lambda: store)

        async def run():
            events = []
            for number in range(6):
                async for event in session.run_turn(f"question {number}", TurnSettings(model="m")):
                    recorder.handle(event)
                    events.append(event)
            return events

        return asyncio.run(run())

    store = LedgerStore(tmp_path / "home")
    live = ScriptedModel(otherwise=answering)
    first = conversation(live, store)
    assert any(isinstance(e, SummaryWritten) for e in first), "the conversation was compacted"

    library = Book(*(find_recording(store, RequestFingerprint.of("m", m, t, None).key) for m, t in live.requests))
    replayed = conversation(ReplayModel("m", library, live=None), LedgerStore(tmp_path / "other"))

    def answers(events):
        return [(type(e).__name__, e.text) for e in events if isinstance(e, AssistantMessage | SummaryWritten)]

    assert answers(replayed) == answers(first)
    assert all(e.replayed for e in replayed if isinstance(e, AssistantMessage | SummaryWritten))
    assert all(e.state is TurnState.COMPLETED for e in replayed if isinstance(e, TurnEnded))
