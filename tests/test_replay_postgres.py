"""Replay records on a shared PostgreSQL ledger (a real server started by these tests): a turn's calls are
recorded, found by their request key, exported per session and calibrate the estimate, with the same
portable SQL as on SQLite."""

from __future__ import annotations

import pytest
from scripted_model import ScriptedModel
from test_replay import run_recorded_turn

from agent_magic.ledger.recorder import LedgerRecorder
from agent_magic.ledger.replay_records import (
    ReplayRecorder,
    calibration_sample,
    find_recording,
    notebook_recordings,
    session_recordings,
)
from agent_magic.ledger.store import LedgerStore
from agent_magic.llm.recording import RequestFingerprint

pytestmark = pytest.mark.postgres
pytest.importorskip("psycopg", reason="the postgres extra is not installed")


def test_recordings_round_trip_through_a_postgresql_ledger(postgres_server, tmp_path, workspace):
    store = LedgerStore(tmp_path / "home", url=postgres_server.create_database())
    model = ScriptedModel()
    model.add_tool_calls(("peek", '{"path": "a"}'))
    model.add_text("It says: seen a.")
    subscribers = [LedgerRecorder(store, notebook="nb.ipynb"), ReplayRecorder(lambda: store)]

    events = run_recorded_turn(store, model, workspace, subscribers=subscribers)

    keys = [RequestFingerprint.of("m", messages, tools, None).key for messages, tools in model.requests]
    assert [find_recording(store, key).fingerprint.key for key in keys] == keys
    assert find_recording(store, keys[-1]).text == "It says: seen a."
    session = events[0].session_id
    assert [r.fingerprint.key for r in session_recordings(store, [session])] == keys
    assert [r.fingerprint.key for r in notebook_recordings(store, "nb.ipynb")] == keys
    chars, tokens, calls = calibration_sample(store, "m")
    assert (tokens, calls) == (20, 2) and chars > 0
    assert store.query("SELECT replayed FROM model_calls") == [(0,), (0,)]
    store.close()
