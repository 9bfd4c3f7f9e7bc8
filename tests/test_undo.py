"""Undo's parts, with the real tools on real files: copies taken before a change (capped, private,
deleted when no longer needed), restores byte for byte that refuse to clobber newer work, and namespace
bindings put back by reference."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tool_helpers import call_tool

from agent_magic.events import FileChange, NamespaceChange, ToolCall
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry
from agent_magic.undo.bindings import NamespaceSnapshot, restore_bindings
from agent_magic.undo.files import FileSnapshots, restore_file
from agent_magic.undo.journal import Checkpoint, discard
from agent_magic.undo.restore import IN_PLACE_CAVEAT, undo_checkpoint


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def context(workspace: Path, home: Path, *, cap: int = 1_000_000, namespace: dict | None = None) -> ToolContext:
    return ToolContext(workspace, namespace or {}, snapshots=FileSnapshots(home, max_file_bytes=cap))


def only_change(result) -> FileChange:
    assert result.ok, result
    (change,) = result.changes
    return change


def test_an_overwritten_file_is_restored_byte_for_byte(workspace, home):
    original = bytes(range(256)) * 10 + b"\r\n\xff trailing"
    (workspace / "data.bin").write_bytes(original)
    os.chmod(workspace / "data.bin", 0o640)

    change = only_change(call_tool("write_file", context(workspace, home), path="data.bin", content="new text"))
    restored, line = restore_file(change, change)

    assert restored, line
    assert (workspace / "data.bin").read_bytes() == original
    assert stat.S_IMODE((workspace / "data.bin").stat().st_mode) == 0o640


def test_an_edited_file_is_restored_and_its_copy_is_private(workspace, home):
    (workspace / "notes.txt").write_text("alpha\nbeta\n")

    change = only_change(
        call_tool("edit_file", context(workspace, home), path="notes.txt", old_text="beta", new_text="gamma")
    )

    assert stat.S_IMODE(Path(change.snapshot).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(change.snapshot).parent.stat().st_mode) == 0o700
    assert restore_file(change, change)[0]
    assert (workspace / "notes.txt").read_text() == "alpha\nbeta\n"


def test_a_deleted_file_comes_back(workspace, home):
    (workspace / "sub").mkdir()
    (workspace / "sub" / "keep.csv").write_text("a,b\n1,2\n")

    change = only_change(call_tool("delete_file", context(workspace, home), path="sub/../sub/keep.csv"))
    restored, line = restore_file(change, change)

    assert change.path == "sub/keep.csv" and change.digest_after is None
    assert restored and "the turn deleted it" in line
    assert (workspace / "sub" / "keep.csv").read_text() == "a,b\n1,2\n"


def test_a_file_the_turn_created_is_removed(workspace, home):
    change = only_change(call_tool("write_file", context(workspace, home), path="new/out.txt", content="x"))
    restored, line = restore_file(change, change)

    assert not change.existed and change.snapshot is None
    assert restored and "created" in line
    assert not (workspace / "new" / "out.txt").exists()


def test_a_file_changed_after_the_turn_is_not_clobbered(workspace, home):
    (workspace / "report.md").write_text("v1")
    change = only_change(call_tool("write_file", context(workspace, home), path="report.md", content="v2 by agent"))
    (workspace / "report.md").write_text("v3 by the user")

    restored, line = restore_file(change, change)

    assert not restored and "changed after the turn" in line
    assert (workspace / "report.md").read_text() == "v3 by the user"


def test_a_file_above_the_cap_is_not_copied_and_says_why(workspace, home):
    (workspace / "big.txt").write_text("x" * 5_000)

    change = only_change(call_tool("write_file", context(workspace, home, cap=1_000), path="big.txt", content="y"))
    restored, line = restore_file(change, change)

    assert change.snapshot is None and "above the undo copy limit" in change.refusal
    assert "AgentMagic.undo_max_file_bytes" in change.refusal
    assert not restored and "no copy was kept" in line
    assert not home.exists() or not any((home / "undo").glob("*.bin"))


def test_a_copy_whose_bytes_changed_in_the_home_is_not_trusted(workspace, home):
    (workspace / "a.txt").write_text("original")
    change = only_change(call_tool("write_file", context(workspace, home), path="a.txt", content="changed"))
    Path(change.snapshot).write_text("tampered")

    restored, line = restore_file(change, change)

    assert not restored and "was changed" in line
    assert (workspace / "a.txt").read_text() == "changed"


def test_a_restore_does_not_write_through_a_hard_link(workspace, home, tmp_path):
    (workspace / "a.txt").write_text("original")
    change = only_change(call_tool("write_file", context(workspace, home), path="a.txt", content="changed"))
    outside = tmp_path / "outside.txt"
    (workspace / "a.txt").unlink()
    outside.write_text("changed")
    os.link(outside, workspace / "a.txt")

    restored, line = restore_file(change, change)

    assert not restored and "hard link" in line
    assert outside.read_text() == "changed"


def test_a_call_that_changed_nothing_reports_nothing_and_keeps_no_copy(workspace, home):
    (workspace / "a.txt").write_text("same")

    failed = call_tool("edit_file", context(workspace, home), path="a.txt", old_text="absent", new_text="x")
    rewritten = call_tool("write_file", context(workspace, home), path="a.txt", content="same")

    assert not failed.ok and failed.changes == ()
    assert rewritten.ok and rewritten.changes == ()
    assert not any((home / "undo").glob("*.bin"))


def test_without_snapshots_the_tools_keep_nothing(workspace, home):
    result = call_tool("write_file", ToolContext(workspace), path="a.txt", content="x")

    assert result.ok and result.changes == ()
    assert not home.exists()


def test_changes_never_reach_the_model(workspace, home):
    (workspace / "a.txt").write_text("secret plan")

    result = call_tool("write_file", context(workspace, home), path="a.txt", content="x")

    assert result.changes and "snapshot" not in result.to_json() and "digest" not in result.to_json()


def test_run_python_reports_the_names_it_bound_rebound_and_deleted(workspace, home):
    namespace = {"x": [1], "gone": "bye", "kept": 7}
    before_x = namespace["x"]

    result = call_tool(
        "run_python", context(workspace, home, namespace=namespace), code="x = [2]\ny = 3\ndel gone\nkept += 0"
    )

    (change,) = result.changes
    assert isinstance(change, NamespaceChange)
    assert change.before.objects == {"x": before_x, "gone": "bye"}
    assert change.before.objects["x"] is before_x  # a reference, not a copy
    assert set(change.after.objects) == {"x", "y"}
    assert repr(change.before) == "Bindings(gone, x)"  # logs show names, never values


def test_bindings_are_put_back_and_new_names_removed(workspace, home):
    namespace = {"x": 1, "gone": "bye"}
    snapshot = NamespaceSnapshot(namespace)
    namespace.update(x=2, y=3)
    del namespace["gone"]

    restored, refused = restore_bindings([snapshot.change()], namespace)

    assert namespace == {"x": 1, "gone": "bye"}
    assert len(restored) == 3 and not refused


def test_a_name_bound_again_after_the_turn_is_left_alone(workspace, home):
    namespace = {"x": 1}
    snapshot = NamespaceSnapshot(namespace)
    namespace["x"] = 2
    change = snapshot.change()
    namespace["x"] = "the user's own value"

    restored, refused = restore_bindings([change], namespace)

    assert namespace["x"] == "the user's own value"
    assert not restored and "bound again after the turn" in refused[0]


def test_two_changes_in_one_turn_restore_the_state_before_the_first(workspace, home):
    ctx = context(workspace, home, namespace={"x": 0})
    (workspace / "a.txt").write_text("first")
    one = call_tool("write_file", ctx, path="a.txt", content="second")
    two = call_tool("edit_file", ctx, path="a.txt", old_text="second", new_text="third")
    three = call_tool("run_python", ctx, code="x = 1")
    four = call_tool("run_python", ctx, code="x = 2")
    checkpoint = Checkpoint("s", "t", "p", changes=[*one.changes, *two.changes, *three.changes, *four.changes])

    report = undo_checkpoint(checkpoint, ctx.namespace, ToolRegistry(builtin_tools()))

    assert (workspace / "a.txt").read_text() == "first"
    assert ctx.namespace["x"] == 0
    assert len(report.restored) == 2 and not report.refused


def test_the_report_says_plainly_what_undo_cannot_take_back(workspace, home):
    calls = [
        ToolCall("1", "run_shell", '{"command": "touch /tmp/elsewhere"}'),
        ToolCall("2", "run_python", '{"code": "df.drop(columns=[\\"a\\"], inplace=True)"}'),
        ToolCall("3", "write_file", '{"path": "a.txt", "content": "x"}'),
        ToolCall("4", "read_file", '{"path": "a.txt"}'),
    ]

    report = undo_checkpoint(Checkpoint("s", "t", "p", calls=calls), {}, ToolRegistry(builtin_tools()))

    assert report.not_undone[0].startswith("`run_shell(command='touch /tmp/elsewhere')`: not undone")
    assert "outside the workspace" in report.not_undone[0]
    assert report.not_undone[1] == IN_PLACE_CAVEAT and "inplace=True" in IN_PLACE_CAVEAT
    assert len(report.not_undone) == 2  # file tools are covered; read-only tools change nothing


def test_discarding_a_checkpoint_deletes_its_copies(workspace, home):
    (workspace / "a.txt").write_text("original")
    result = call_tool("write_file", context(workspace, home), path="a.txt", content="x")

    discard(Checkpoint("s", "t", "p", changes=list(result.changes)))

    assert not Path(result.changes[0].snapshot).exists()


def test_copies_left_by_a_dead_kernel_are_removed_after_a_week(workspace, home):
    stale = home / "undo" / "stale.bin"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    os.utime(stale, (0, 0))
    (workspace / "a.txt").write_text("original")

    call_tool("write_file", context(workspace, home), path="a.txt", content="x")

    assert not stale.exists()


def test_a_file_rewritten_many_times_in_one_turn_keeps_one_copy(workspace, home):
    from agent_magic.events import ChangesRecorded, TurnStarted
    from agent_magic.undo.journal import UndoJournal

    (workspace / "a.txt").write_text("original")
    journal = UndoJournal(depth=lambda: 20)
    journal.handle(TurnStarted("s", "t", prompt="p", model="m", trace_id="x"))
    ctx = context(workspace, home)
    for version in range(5):
        result = call_tool("write_file", ctx, path="a.txt", content=f"version {version}")
        journal.handle(ChangesRecorded("s", "t", call=ToolCall("c", "write_file", "{}"), changes=result.changes))

    checkpoint = journal.pop("s")
    report = undo_checkpoint(checkpoint, {}, ToolRegistry(builtin_tools()))

    assert len(list((home / "undo").glob("*.bin"))) == 1
    assert (workspace / "a.txt").read_text() == "original" and not report.refused
