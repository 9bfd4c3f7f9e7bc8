"""The file tools in a temporary workspace: listing, paging, searching, writing, editing, deleting."""

from __future__ import annotations

from tool_helpers import call_tool

from agent_magic.tools.context import ToolContext


def test_list_files_lists_sizes_and_respects_pattern_and_depth(workspace):
    (workspace / "a.csv").write_text("x,y\n")
    (workspace / "b.txt").write_text("hello")
    (workspace / "sub" / "deeper").mkdir(parents=True)
    (workspace / "sub" / "c.csv").write_text("1")
    (workspace / ".hidden").write_text("no")

    shallow = call_tool("list_files", workspace).data["entries"]
    assert {"path": "a.csv", "type": "file", "size": 4} in shallow
    assert {"path": "sub/", "type": "dir"} in shallow
    assert not any(e["path"].startswith(".hidden") for e in shallow)
    assert not any(e["path"] == "sub/c.csv" for e in shallow)

    csvs = call_tool("list_files", workspace, pattern="*.csv", depth=2).data["entries"]
    assert [e["path"] for e in csvs] == ["a.csv", "sub/c.csv"]


def test_list_files_shows_links_without_following_them(workspace, tmp_path):
    (tmp_path / "big.bin").write_bytes(b"x" * 1000)
    (workspace / "link").symlink_to(tmp_path / "big.bin")
    entries = call_tool("list_files", workspace).data["entries"]
    assert {"path": "link", "type": "link"} in entries


def test_read_file_pages_with_offset_and_limit(workspace):
    (workspace / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 501)))
    first = call_tool("read_file", workspace, path="long.txt", limit=100).data
    assert first["range"] == "lines 1-100 of 500" and first["next_offset"] == 100
    assert first["text"].splitlines()[0] == "line 1"
    last = call_tool("read_file", workspace, path="long.txt", offset=450, limit=100).data
    assert last["range"] == "lines 451-500 of 500" and last["next_offset"] is None


def test_read_file_pages_instead_of_being_truncated(workspace):
    (workspace / "wide.txt").write_text("".join(f"{i:05d} " + "x" * 200 + "\n" for i in range(2000)))
    ctx = ToolContext(workspace, max_output_chars=5_000)
    page = call_tool("read_file", ctx, path="wide.txt", limit=2000).data
    assert page["next_offset"] is not None and page["next_offset"] < 2000
    assert len(page["text"]) <= 5_000
    follow = call_tool("read_file", ctx, path="wide.txt", offset=page["next_offset"]).data
    assert follow["text"].startswith(f"{page['next_offset']:05d}")


def test_read_file_cuts_one_enormous_line(workspace):
    (workspace / "min.json").write_text("[" + "1," * 50_000 + "1]\n")
    text = call_tool("read_file", workspace, path="min.json").data["text"]
    assert "more bytes on this line" in text and len(text) < 3_000


def test_read_file_reports_missing_and_binary_files(workspace):
    assert call_tool("read_file", workspace, path="nope.txt").error_code == "not_found"
    (workspace / "img.bin").write_bytes(b"\xff\xfe\x00\x81" * 10)
    assert call_tool("read_file", workspace, path="img.bin").error_code == "not_text"
    (workspace / "folder").mkdir()
    assert call_tool("read_file", workspace, path="folder").error_code == "is_a_folder"


def test_search_files_finds_lines_and_skips_binary_hidden_and_links(workspace, tmp_path):
    (workspace / "a.py").write_text("import os\n# TODO: fix\nprint('todo')\n")
    (workspace / "b.txt").write_text("nothing here\n")
    (workspace / "blob.bin").write_bytes(b"TODO\x00\x01")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "x").write_text("TODO")
    (tmp_path / "outside.txt").write_text("TODO outside")
    (workspace / "link.txt").symlink_to(tmp_path / "outside.txt")

    data = call_tool("search_files", workspace, query="todo").data
    assert [(m["path"], m["line"]) for m in data["matches"]] == [("a.py", 2), ("a.py", 3)]
    sensitive = call_tool("search_files", workspace, query="TODO", case_sensitive=True).data
    assert [m["line"] for m in sensitive["matches"]] == [2]


def test_search_files_regex_glob_and_cap(workspace):
    (workspace / "many.txt").write_text("".join(f"row {i}\n" for i in range(1000)))
    (workspace / "skip.md").write_text("row 1\n")
    capped = call_tool("search_files", workspace, query=r"row \d+", regex=True, glob="*.txt", max_results=10).data
    assert len(capped["matches"]) == 10 and capped["more_not_shown"] is True
    bad = call_tool("search_files", workspace, query="(", regex=True)
    assert bad.error_code == "invalid_arguments" and bad.retryable


def test_write_file_creates_parents_and_overwrites(workspace):
    made = call_tool("write_file", workspace, path="out/deep/notes.txt", content="one\ntwo\n")
    assert made.ok and made.data["created"] is True
    assert (workspace / "out" / "deep" / "notes.txt").read_text() == "one\ntwo\n"
    again = call_tool("write_file", workspace, path="out/deep/notes.txt", content="three\n")
    assert again.data["created"] is False
    assert (workspace / "out" / "deep" / "notes.txt").read_text() == "three\n"


def test_edit_file_replaces_one_unique_string(workspace):
    (workspace / "cfg.py").write_text("a = 1\nb = 2\nc = 3\n")
    result = call_tool("edit_file", workspace, path="cfg.py", old_text="b = 2", new_text="b = 20")
    assert result.ok and result.data["line"] == 2
    assert (workspace / "cfg.py").read_text() == "a = 1\nb = 20\nc = 3\n"


def test_edit_file_fails_clearly_when_absent_or_ambiguous(workspace):
    (workspace / "cfg.py").write_text("x = 1\nx = 1\n")
    absent = call_tool("edit_file", workspace, path="cfg.py", old_text="y = 2", new_text="z")
    assert absent.error_code == "text_not_found" and "does not occur" in absent.error_message
    ambiguous = call_tool("edit_file", workspace, path="cfg.py", old_text="x = 1", new_text="z")
    assert ambiguous.error_code == "ambiguous_edit" and "2 times" in ambiguous.error_message
    assert (workspace / "cfg.py").read_text() == "x = 1\nx = 1\n"


def test_edit_file_keeps_windows_line_endings(workspace):
    (workspace / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    assert call_tool("edit_file", workspace, path="w.txt", old_text="two", new_text="2").ok
    assert (workspace / "w.txt").read_bytes() == b"one\r\n2\r\n"


def test_delete_file_deletes_one_file_never_a_folder(workspace):
    (workspace / "gone.txt").write_text("x")
    (workspace / "keep").mkdir()
    assert call_tool("delete_file", workspace, path="gone.txt").ok
    assert not (workspace / "gone.txt").exists()
    assert call_tool("delete_file", workspace, path="keep").error_code == "is_a_folder"
    assert (workspace / "keep").is_dir()
    assert call_tool("delete_file", workspace, path="gone.txt").error_code == "not_found"


def test_file_tools_declare_themselves_read_only_or_destructive():
    from agent_magic.tools.builtins import builtin_tools

    declared = {t.name: t.destructive for t in builtin_tools()}
    assert declared == {
        "list_files": False,
        "read_file": False,
        "search_files": False,
        "inspect_variable": False,
        "list_variables": False,
        "write_file": True,
        "edit_file": True,
        "delete_file": True,
        "run_shell": True,
        "run_python": True,
    }


def test_read_file_shows_each_kind_of_line_as_it_is_in_order(workspace):
    lines = ["plain", "windows\r", "ünïcödé ✓", "x" * 10_000, "after the long one", "last without newline"]
    (workspace / "mixed.txt").write_bytes("\n".join(lines).encode())
    page = call_tool("read_file", workspace, path="mixed.txt").data
    cut = "x" * 2_000 + " [… 8000 more bytes on this line]"
    expected = ["plain", "windows", "ünïcödé ✓", cut, "after the long one", "last without newline"]
    assert page["text"] == "\n".join(expected) and page["range"] == "lines 1-6 of 6"


def test_a_page_ends_with_the_line_that_starts_before_its_budget_runs_out(workspace):
    # Each line takes 208 characters of the page (newline included); the budget is half the output cap.
    (workspace / "wide.txt").write_text("".join(f"{i:05d} " + "x" * 201 + "\n" for i in range(100)))
    page = call_tool("read_file", ToolContext(workspace, max_output_chars=5_000), path="wide.txt").data
    assert page["next_offset"] == 13 and page["text"].splitlines()[-1].startswith("00012")
