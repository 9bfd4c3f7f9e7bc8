"""Headless runs (nbclient, as papermill and nbconvert use it): the saved notebook tells what happened."""

from __future__ import annotations

import json

import pytest
from kernel_harness import run_saved_notebook

pytestmark = pytest.mark.kernel


def test_saved_notebook_shows_the_tool_calls_and_the_final_answer(model_server, script, workspace, monkeypatch):
    (workspace / "data.csv").write_text("a,b\n1,2\n")
    script.add_tool_calls(("read_file", json.dumps({"path": "data.csv"})))
    script.add_text("The file has **one** data row.")
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    saved = run_saved_notebook(workspace, "%load_ext agent_magic", "%%agent\nHow many rows does data.csv have?")

    outputs = saved.cells[1].outputs
    plain = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert plain[0].startswith("🔧 read_file(path='data.csv') — ok in")
    assert plain[-2] == "The file has **one** data row."
    assert plain[-1].startswith("✓ gpt-4.1-mini · 2 steps · 1 tool call · 30 tokens · "), "the summary line ends it"
    assert all("text/plain" in o["data"] for o in outputs if o["output_type"] == "display_data")
