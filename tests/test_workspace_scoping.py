"""Hostile paths: every file tool refuses what resolves outside the workspace, links and races included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tool_helpers import call_tool

from agent_magic.policy.workspace import (
    OutsideWorkspaceError,
    WorkspacePathError,
    open_beneath,
    resolve_in_workspace,
)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the workspace holding a file that must never be read, changed or deleted."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("top secret\n")
    return folder


HOSTILE_PATHS = [
    "../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "/etc/passwd",
    "~",
    "~/.bashrc",
    "/",
    "..",
    "./../outside",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_paths_leaving_the_workspace_are_refused(workspace, outside, path):
    with pytest.raises(OutsideWorkspaceError):
        resolve_in_workspace(workspace, path)


@pytest.mark.parametrize("tool", ["read_file", "delete_file", "list_files", "search_files"])
@pytest.mark.parametrize("path", ["../outside/secret.txt", str(Path("/etc/passwd")), "~/.bashrc"])
def test_file_tools_answer_outside_workspace(workspace, outside, tool, path):
    arguments = {"path": path, "query": "x"} if tool == "search_files" else {"path": path}
    result = call_tool(tool, workspace, **arguments)
    assert not result.ok and result.error_code == "outside_workspace"
    assert (outside / "secret.txt").read_text() == "top secret\n"


def test_write_and_edit_refuse_paths_outside(workspace, outside):
    target = "../outside/secret.txt"
    assert call_tool("write_file", workspace, path=target, content="pwned").error_code == "outside_workspace"
    edit = call_tool("edit_file", workspace, path=target, old_text="top", new_text="no")
    assert edit.error_code == "outside_workspace"
    assert call_tool("write_file", workspace, path="../outside/new.txt", content="x").error_code == "outside_workspace"
    assert (outside / "secret.txt").read_text() == "top secret\n"
    assert not (outside / "new.txt").exists()


def test_a_link_to_a_file_outside_is_refused(workspace, outside):
    (workspace / "innocent.txt").symlink_to(outside / "secret.txt")
    assert call_tool("read_file", workspace, path="innocent.txt").error_code == "outside_workspace"
    assert call_tool("write_file", workspace, path="innocent.txt", content="x").error_code == "outside_workspace"
    assert (outside / "secret.txt").read_text() == "top secret\n"


def test_a_link_to_a_folder_outside_is_refused(workspace, outside):
    (workspace / "data").symlink_to(outside, target_is_directory=True)
    assert call_tool("read_file", workspace, path="data/secret.txt").error_code == "outside_workspace"
    assert call_tool("delete_file", workspace, path="data/secret.txt").error_code == "outside_workspace"
    assert call_tool("write_file", workspace, path="data/new/x.txt", content="x").error_code == "outside_workspace"
    assert (outside / "secret.txt").exists() and not (outside / "new").exists()


def test_a_chain_of_links_ending_outside_is_refused(workspace, outside):
    (workspace / "b").symlink_to(outside / "secret.txt")
    (workspace / "a").symlink_to(workspace / "b")
    assert call_tool("read_file", workspace, path="a").error_code == "outside_workspace"


def test_a_link_that_stays_inside_is_followed(workspace):
    (workspace / "real.txt").write_text("inside\n")
    (workspace / "alias.txt").symlink_to("real.txt")
    result = call_tool("read_file", workspace, path="alias.txt")
    assert result.ok and result.data["text"] == "inside"


def test_absolute_paths_inside_the_workspace_are_fine(workspace):
    (workspace / "a.txt").write_text("hello\n")
    assert call_tool("read_file", workspace, path=str(workspace / "a.txt")).ok


def test_a_nul_byte_is_an_invalid_path_not_a_crash(workspace):
    with pytest.raises(WorkspacePathError):
        resolve_in_workspace(workspace, "a\0b")
    assert call_tool("read_file", workspace, path="a\u0000b").error_code == "outside_workspace"


def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(workspace, outside):
    (workspace / "sub").mkdir()
    (workspace / "sub" / "secret.txt").write_text("inside\n")
    checked = resolve_in_workspace(workspace, "sub/secret.txt")
    # The race: between the check and the open, the folder becomes a link to the outside.
    (workspace / "sub" / "secret.txt").unlink()
    (workspace / "sub").rmdir()
    (workspace / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutsideWorkspaceError):
        open_beneath(workspace, checked, os.O_RDONLY)
    with pytest.raises(OutsideWorkspaceError):
        open_beneath(workspace, checked, os.O_WRONLY | os.O_TRUNC)
    assert (outside / "secret.txt").read_text() == "top secret\n"


def test_a_file_swapped_for_a_link_after_the_check_is_not_followed(workspace, outside):
    (workspace / "notes.txt").write_text("mine\n")
    checked = resolve_in_workspace(workspace, "notes.txt")
    (workspace / "notes.txt").unlink()
    (workspace / "notes.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(OutsideWorkspaceError):
        open_beneath(workspace, checked, os.O_WRONLY | os.O_TRUNC)
    assert (outside / "secret.txt").read_text() == "top secret\n"


def test_deleting_through_a_link_to_the_outside_is_refused(workspace, outside):
    (workspace / "shortcut.txt").symlink_to(outside / "secret.txt")
    assert call_tool("delete_file", workspace, path="shortcut.txt").error_code == "outside_workspace"
    assert (outside / "secret.txt").exists()


def test_the_workspace_root_itself_is_not_a_file(workspace):
    assert call_tool("delete_file", workspace, path=".").error_code == "is_a_folder"
    assert call_tool("write_file", workspace, path=".", content="x").error_code == "is_a_folder"
