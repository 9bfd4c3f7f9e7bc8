"""File tools against hostile workspaces: FIFOs, device nodes, gigabyte lines, hard links to files outside,
catastrophic regular expressions, and tools that never return (the thread supply must survive them)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
import tracemalloc

import pytest
from tool_helpers import call_tool

from agent_magic.events import ToolCall
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool
from agent_magic.tools.runner import execute
from agent_magic.tools.threads import MAX_LIVE_THREADS, live_tool_threads


def test_reading_a_fifo_fails_at_once_instead_of_blocking(workspace):
    os.mkfifo(workspace / "pipe")
    result = call_tool("read_file", workspace, path="pipe", runner_timeout=5)
    assert result.error_code == "not_a_regular_file"


def test_writing_or_editing_a_fifo_is_refused(workspace):
    os.mkfifo(workspace / "pipe")
    assert call_tool("write_file", workspace, path="pipe", content="x", runner_timeout=5).error_code == (
        "not_a_regular_file"
    )
    assert call_tool("edit_file", workspace, path="pipe", old_text="a", new_text="b", runner_timeout=5).error_code == (
        "not_a_regular_file"
    )


def test_search_skips_fifos(workspace):
    os.mkfifo(workspace / "pipe.txt")
    (workspace / "real.txt").write_text("needle\n")
    result = call_tool("search_files", workspace, query="needle", runner_timeout=5)
    assert result.ok and [m["path"] for m in result.data["matches"]] == ["real.txt"]


@pytest.mark.skipif(os.getuid() != 0, reason="creating a device node needs root")
def test_a_device_node_is_not_read(workspace):
    os.mknod(workspace / "zero", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero: endless
    assert call_tool("read_file", workspace, path="zero", runner_timeout=5).error_code == "not_a_regular_file"
    assert call_tool("search_files", workspace, query="x", runner_timeout=5).data["files_searched"] == 0


def test_a_gigabyte_line_is_read_in_bounded_memory(workspace):
    with open(workspace / "huge.txt", "wb") as handle:
        handle.write(b"a" * 10_000)
        handle.truncate(1024**3)  # a sparse gigabyte, no newline in it
    tracemalloc.start()
    try:
        result = call_tool("read_file", workspace, path="huge.txt", runner_timeout=120)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.ok and "more bytes on this line" in result.data["text"]
    assert "at least 1" in result.data["range"] and result.data["total_lines_known"] is False
    assert peak < 64 * 1024**2, f"peak {peak / 1024**2:.0f} MB"


def test_paging_still_counts_every_line_of_an_ordinary_file(workspace):
    (workspace / "rows.txt").write_text("".join(f"row {i}\r\n" for i in range(100_000)))
    page = call_tool("read_file", workspace, path="rows.txt", offset=99_998, limit=10).data
    assert page["range"] == "lines 99999-100000 of 100000" and page["text"] == "row 99998\nrow 99999"


def test_a_hard_link_to_a_file_outside_is_never_written(workspace, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    os.link(outside, workspace / "inside.txt")
    write = call_tool("write_file", workspace, path="inside.txt", content="overwritten")
    edit = call_tool("edit_file", workspace, path="inside.txt", old_text="precious", new_text="gone")
    assert write.error_code == "hard_linked" and edit.error_code == "hard_linked"
    assert "Delete it first" in write.error_message
    assert outside.read_text() == "precious\n"


def test_deleting_a_hard_link_removes_only_that_name_then_a_fresh_file_can_be_written(workspace, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    os.link(outside, workspace / "inside.txt")
    assert call_tool("delete_file", workspace, path="inside.txt").ok
    assert call_tool("write_file", workspace, path="inside.txt", content="new").ok
    assert outside.read_text() == "precious\n" and (workspace / "inside.txt").read_text() == "new"


def test_a_catastrophic_regex_runs_in_linear_time(workspace):
    (workspace / "a.txt").write_text(("a" * 30_000 + "!\n") * 20)
    started = time.monotonic()
    result = call_tool("search_files", workspace, query="(a+)+$", regex=True, runner_timeout=60)
    assert result.ok and result.data["matches"] == []
    assert time.monotonic() - started < 30  # backtracking would take longer than the universe


def test_a_regex_re2_cannot_run_is_refused_with_the_reason(workspace):
    result = call_tool("search_files", workspace, query=r"(?<=a)b|(x)\1", regex=True)
    assert result.error_code == "invalid_arguments" and "RE2" in result.error_message


def test_case_insensitive_and_literal_search(workspace):
    (workspace / "a.txt").write_text("Alpha (beta)\nGAMMA\n")
    assert len(call_tool("search_files", workspace, query="alpha (B").data["matches"]) == 1
    assert call_tool("search_files", workspace, query="alpha", case_sensitive=True).data["matches"] == []
    assert len(call_tool("search_files", workspace, query="^gam+a$", regex=True).data["matches"]) == 1


def test_tools_stuck_past_their_timeout_do_not_starve_later_calls(workspace):
    release = threading.Event()

    def stuck() -> str:
        """Never returns until the test ends."""
        release.wait()
        return "late"

    registry = ToolRegistry([*builtin_tools(), make_tool(stuck)])
    context = ToolContext(workspace)
    (workspace / "a.txt").write_text("hello\n")

    async def scenario() -> list:
        stuck_calls = [execute(ToolCall(f"s{i}", "stuck", "{}"), registry, context, timeout=0.2) for i in range(40)]
        stuck_results = await asyncio.gather(*stuck_calls)
        read = await execute(ToolCall("r", "read_file", json.dumps({"path": "a.txt"})), registry, context, timeout=5)
        return [*stuck_results, read]

    try:
        results = asyncio.run(scenario())
        assert all(r.error_code == "timeout" for r in results[:-1])
        assert results[-1].ok and results[-1].data["text"] == "hello"
        assert live_tool_threads() >= 40 and MAX_LIVE_THREADS > 40
    finally:
        release.set()
