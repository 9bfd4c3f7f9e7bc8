"""Approvals in headless runs (nbclient, as nbconvert, papermill and nbval use it: allow_stdin=False):
no one can click, so the headless policy decides, and the saved notebook says so in plain text."""

from __future__ import annotations

import pytest
from kernel_harness import run_saved_notebook

pytestmark = pytest.mark.kernel


def run_headless(workspace, *sources: str) -> list[str]:
    """Execute a notebook of these cells with nbclient; return each cell's text/plain outputs, joined."""
    texts = []
    for cell in run_saved_notebook(workspace, *sources, allow_errors=True).cells:
        parts = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs]
        parts += [f"{o['ename']}: {o['evalue']}" for o in cell.outputs if o["output_type"] == "error"]
        texts.append("\n".join(parts))
    return texts


def test_headless_run_denies_the_write_shows_why_and_the_model_is_told(workspace):
    texts = run_headless(workspace, "%load_ext agent_magic", '%%agent --model demo\nwrite "hello" to notes.txt')

    assert not (workspace / "notes.txt").exists()
    agent = texts[1]
    assert "approval needed in a headless run: write_file(path='notes.txt'" in agent
    assert "**denied** by headless policy — no one could approve it in a headless run" in agent
    # The demo model summarises the tool result it received: the structured denial.
    assert "did not succeed (`denied`)" in agent and "no one could approve it in a headless run" in agent


def test_headless_run_with_pre_approval_writes_but_never_outside_the_workspace(workspace):
    texts = run_headless(
        workspace,
        "%load_ext agent_magic",
        '%%agent --model demo --approve write_file\nwrite "hello" to notes.txt',
        '%%agent --model demo --approve write_file\nwrite "escape" to ../outside.txt',
    )

    assert (workspace / "notes.txt").read_text() == "hello\n"
    assert "**approved** by pre-approval" in texts[1]
    assert not (workspace.parent / "outside.txt").exists(), "approval never widens the workspace"
    assert "**approved** by pre-approval" in texts[2] and "outside_workspace" in texts[2]


def test_headless_error_policy_stops_the_notebook_with_one_line(workspace, monkeypatch):
    monkeypatch.setenv("AGENT_MAGIC_HEADLESS_APPROVAL", "error")
    texts = run_headless(workspace, "%load_ext agent_magic", '%%agent --model demo\nwrite "hello" to notes.txt')

    assert "AgentTurnFailed: write_file needs approval but this run is headless" in texts[1]
    assert not (workspace / "notes.txt").exists()
