"""`%agent undo` in a real kernel: a turn's file edits, deletions and variable bindings are taken back, the
turn leaves the transcript the model sees, turn by turn, and what cannot be undone is said plainly."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.kernel

APPROVE = "--approve edit_file,delete_file,write_file,run_python,run_shell"


def value_of(kernel, expression: str) -> str:
    return kernel.execute(f"print(repr({expression}))").text.strip()


def test_undo_restores_files_and_variables_and_the_model_no_longer_sees_the_turn(shared_kernel, script, workspace):
    (workspace / "notes.txt").write_text("budget: 300\n")
    (workspace / "old.csv").write_text("a,b\n1,2\n")
    shared_kernel.execute("x = [1, 2, 3]")
    script.add_text("Hello.")
    shared_kernel.execute("%%agent\nHello")
    script.add_tool_calls(
        ("edit_file", json.dumps({"path": "notes.txt", "old_text": "300", "new_text": "999"})),
        ("delete_file", json.dumps({"path": "old.csv"})),
        ("run_python", json.dumps({"code": "x = 'rebound'\ny = 42"})),
    )
    script.add_text("Done: edited, deleted, rebound.")
    turn = shared_kernel.execute(f"%%agent {APPROVE}\nTidy up")
    assert turn.status == "ok", turn.text
    assert (workspace / "notes.txt").read_text() == "budget: 999\n" and not (workspace / "old.csv").exists()

    undone = shared_kernel.execute("%agent undo")

    assert undone.status == "ok", undone.text
    assert (workspace / "notes.txt").read_text() == "budget: 300\n"
    assert (workspace / "old.csv").read_text() == "a,b\n1,2\n"
    assert value_of(shared_kernel, "x") == "[1, 2, 3]"
    assert "NameError" in shared_kernel.execute("y").text
    assert "Undid the last turn" in undone.text and "Tidy up" in undone.text
    script.add_text("Next answer.")
    shared_kernel.execute("%%agent\nWhat next?")
    sent = [m.get("content") for m in script.requests[-1]["messages"] if m["role"] != "system"]
    assert sent == ["Hello", "Hello.", "What next?"]


def test_undo_takes_back_turn_after_turn_the_latest_first(shared_kernel, script, workspace):
    for content in ("one", "two"):
        script.add_tool_calls(("write_file", json.dumps({"path": "log.txt", "content": content})))
        script.add_text(f"wrote {content}")
        shared_kernel.execute(f"%%agent {APPROVE}\nwrite {content}")
    assert (workspace / "log.txt").read_text() == "two"

    first = shared_kernel.execute("%agent undo")
    after_first = (workspace / "log.txt").read_text()
    second = shared_kernel.execute("%agent undo")
    third = shared_kernel.execute("%agent undo")

    assert after_first == "one" and "1 more turn can be undone" in first.text
    assert not (workspace / "log.txt").exists() and "removed (the turn created it)" in second.text
    assert third.status == "error" and "nothing to undo" in third.text and "Traceback" not in third.text


def test_undo_says_plainly_what_it_cannot_take_back(shared_kernel, script, workspace):
    shared_kernel.execute("import pandas as pd\ndf = pd.DataFrame({'a': [1], 'b': [2]})")
    script.add_tool_calls(
        ("run_shell", json.dumps({"command": "echo hi > shell.txt"})),
        ("run_python", json.dumps({"code": "df.drop(columns=['a'], inplace=True)"})),
    )
    script.add_text("done")
    shared_kernel.execute(f"%%agent {APPROVE}\nchange things")

    undone = shared_kernel.execute("%agent undo")

    assert "run_shell(command='echo hi > shell.txt')" in undone.text and "not undone" in undone.text
    assert "inplace=True" in undone.text
    assert value_of(shared_kernel, "list(df.columns)") == "['b']"  # the in-place change stays, as the report said


def test_undo_keeps_a_file_the_user_changed_since_and_says_why(shared_kernel, script, workspace):
    (workspace / "draft.md").write_text("v1")
    script.add_tool_calls(("write_file", json.dumps({"path": "draft.md", "content": "v2 by the agent"})))
    script.add_text("rewritten")
    shared_kernel.execute(f"%%agent {APPROVE}\nrewrite the draft")
    (workspace / "draft.md").write_text("v3 by the user")

    undone = shared_kernel.execute("%agent undo")

    assert undone.status == "ok"
    assert (workspace / "draft.md").read_text() == "v3 by the user"
    assert "changed after the turn" in undone.text


def test_undo_with_nothing_to_undo_says_so_in_one_line(shared_kernel):
    run = shared_kernel.execute("%agent undo")

    assert run.status == "error"
    assert "nothing to undo in session 'default'" in run.text
    assert len(run.text.strip().splitlines()) == 1 and "Traceback" not in run.text


def test_undo_is_a_ledger_event(shared_kernel, script, tmp_path):
    script.add_text("hi")
    shared_kernel.execute("%%agent\nhello")
    shared_kernel.execute("%agent undo")

    rows = shared_kernel.execute(
        "import sqlite3, json\n"
        f"db = sqlite3.connect({str(tmp_path / '.agent' / 'ledger.db')!r})\n"
        'print(db.execute("SELECT kind, count(*) FROM conversation_events GROUP BY kind").fetchall())\n'
        "print(db.execute('SELECT count(*) FROM conversation_messages').fetchall())"
    )

    assert "[('undo', 1)]" in rows.text
    assert "[(0,)]" in rows.text  # the turn left the kept transcript too
