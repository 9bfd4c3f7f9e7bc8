"""The CI recipe of docs/reproducibility.md, for real: a notebook run with papermill on the demo model,
its replay file exported, then the notebook replayed on a fresh ledger with no key and no endpoint (papermill
and nbclient), giving the same answers and variables; a changed prompt fails the run in one line."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import agent_magic

pytestmark = pytest.mark.kernel

QUESTION = "%%agent -o answer\nWhich columns of df have missing values?"


def write_analysis(folder: Path, question: str = QUESTION) -> Path:
    notebook = new_notebook(
        cells=[
            new_code_cell("%load_ext agent_magic\n%config AgentMagic.model = 'demo'"),
            new_code_cell("import pandas as pd\ndf = pd.DataFrame({'region': ['north', None], 'units': [3, None]})"),
            new_code_cell(question),
            new_code_cell("%%agent --approve run_python\nRun this:\n```python\ndf['filled'] = df.units.fillna(0)\n```"),
            new_code_cell("print(repr(answer))\nprint(df.filled.tolist())"),
            new_code_cell("%agent replay export analysis.agent-replay.jsonl"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    path = folder / "analysis.ipynb"
    nbformat.write(notebook, path)
    return path


def printed(notebook) -> str:
    return "".join(o.get("text", "") for o in notebook.cells[4].outputs if o.output_type == "stream")


@pytest.fixture
def recorded(workspace, tmp_path, monkeypatch) -> Path:
    """The analysis run live on the demo model with papermill, its replay file next to it."""
    monkeypatch.setenv("AGENT_MAGIC_HOME", str(tmp_path / "dev-ledger"))
    source = write_analysis(workspace)
    papermill.execute_notebook(str(source), str(workspace / "recorded.ipynb"), cwd=str(workspace), progress_bar=False)
    return workspace


def on_a_fresh_clone(monkeypatch, tmp_path: Path) -> None:
    """CI: a ledger of its own, strict replay, no key and no endpoint."""
    monkeypatch.setenv("AGENT_MAGIC_HOME", str(tmp_path / "ci-ledger"))
    monkeypatch.setenv("AGENT_MAGIC_REPLAY", "strict")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")


def test_papermill_replays_the_notebook_with_no_key_giving_the_same_answers(recorded, monkeypatch, tmp_path):
    replay_file = recorded / "analysis.agent-replay.jsonl"
    exported = replay_file.read_bytes()
    on_a_fresh_clone(monkeypatch, tmp_path)

    papermill.execute_notebook(
        str(recorded / "analysis.ipynb"), str(recorded / "replayed.ipynb"), cwd=str(recorded), progress_bar=False
    )

    live = nbformat.read(recorded / "recorded.ipynb", as_version=4)
    replayed = nbformat.read(recorded / "replayed.ipynb", as_version=4)
    assert printed(replayed) == printed(live) and "[3.0, 0.0]" in printed(replayed)
    nbformat.validate(replayed)
    turns = agent_magic.provenance(recorded / "replayed.ipynb")
    assert len(turns) == 2
    assert (turns["replayed_calls"] == turns["steps"]).all(), "every model call was answered from the recording"
    assert (turns["cost_usd"] == 0).all()
    assert list(agent_magic.provenance(recorded / "recorded.ipynb")["replayed_calls"]) == [0, 0]
    assert replay_file.read_bytes() == exported, "exporting a replayed run writes the same file"


def test_nbclient_replays_the_notebook_the_same_way(recorded, monkeypatch, tmp_path):
    on_a_fresh_clone(monkeypatch, tmp_path)
    notebook = nbformat.read(recorded / "analysis.ipynb", as_version=4)

    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(recorded)}}
    ).execute()

    assert printed(notebook) == printed(nbformat.read(recorded / "recorded.ipynb", as_version=4))


def test_a_changed_prompt_fails_the_ci_run_in_one_line_naming_the_cell_and_the_reason(recorded, monkeypatch, tmp_path):
    write_analysis(recorded, QUESTION.replace("Which columns", "Which rows"))
    on_a_fresh_clone(monkeypatch, tmp_path)

    with pytest.raises(papermill.PapermillExecutionError) as caught:
        papermill.execute_notebook(
            str(recorded / "analysis.ipynb"), str(recorded / "failed.ipynb"), cwd=str(recorded), progress_bar=False
        )

    assert caught.value.ename == "AgentTurnFailed"
    assert "«Which rows of df have missing values?»: prompt changed; nothing was sent" in caught.value.evalue
