"""Terminal IPython: `%%agent` works at a plain prompt and prints the answer as plain text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

IPYTHON = [
    sys.executable,
    "-m",
    "IPython",
    "--simple-prompt",
    "--no-banner",
    "--colors=NoColor",
    "--HistoryManager.enabled=False",
]


def run_ipython(lines: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        IPYTHON, input=lines, capture_output=True, text=True, timeout=120, env={**os.environ, **env}, cwd=cwd
    )
    return done.stdout + done.stderr


@pytest.mark.kernel
def test_agent_cell_streams_plain_text_in_terminal_ipython(model_server, script, workspace):
    (workspace / "notes.txt").write_text("one\ntwo\n")
    script.add_tool_calls(("read_file", json.dumps({"path": "notes.txt"})))
    script.add_text("The file has **two** lines.")
    env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
    # At a simple prompt a cell magic ends with two blank lines, as for IPython's own cell magics.
    out = run_ipython("%load_ext agent_magic\n%%agent\nHow many lines in notes.txt?\n\n\n", env, workspace)
    assert "→ read_file(path='notes.txt')" in out
    assert "← read_file: ok in" in out
    assert "The file has **two** lines." in out
    assert "<div" not in out and "text/markdown" not in out, "plain text, no rich display markup"
    assert script.requests[1]["messages"][-1]["role"] == "tool"


@pytest.mark.kernel
def test_terminal_errors_are_one_line(model_server, script, workspace):
    script.add_error(401)
    env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
    out = run_ipython("%load_ext agent_magic\n%%agent\nhi\n\n\n", env, workspace)
    assert f"401 from {model_server.base_url}: check OPENAI_API_KEY" in out
    assert "Traceback" not in out
