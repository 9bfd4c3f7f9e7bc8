"""run_python leaves real cells, in a real JupyterLab driven in headless Chromium: the companion inserts the
code below the agent cell without running it, the cells survive saving with their tag and turn, the agent
cell's outputs carry its provenance, and running the agent cell again replaces its cells."""

from __future__ import annotations

import json

from test_lab_companion import LOAD, WAIT_MS, ready, run_cells, wait_until

CODE = "squares = [n * n for n in range(4)]"
AGENT_CELL = f"%%agent --model demo --approve run_python\nRun this:\n```python\n{CODE}\nsum(squares)\n```"


def saved_cells(lab, name: str, count: int) -> list[dict]:
    """The notebook's cells on disk once it has `count` of them (after Save)."""
    path = lab.root / name
    assert wait_until(lambda: len(json.loads(path.read_text())["cells"]) == count), path.read_text()[:500]
    return json.loads(path.read_text())["cells"]


def test_the_code_run_python_ran_is_inserted_below_the_agent_cell_and_survives_saving(lab, page):
    lab.write_notebook("code.ipynb", LOAD, AGENT_CELL, "print(squares)")
    ready(page, lab, "code.ipynb")
    cells = page.locator(".jp-Notebook .jp-Cell")

    run_cells(page, 2)

    assert wait_until(lambda: cells.count() == 4, timeout=WAIT_MS / 1000), "one code cell inserted"
    inserted = cells.nth(2)
    assert CODE in inserted.locator(".cm-content").inner_text()
    assert inserted.locator(".jp-InputPrompt").inner_text().strip() in ("[ ]:", "[ ]"), "inserted, not run"
    assert "print(squares)" in cells.nth(3).locator(".cm-content").inner_text(), "the user's cells stay below"

    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    saved = saved_cells(lab, "code.ipynb", 4)
    agent, code = saved[1], saved[2]
    assert code["cell_type"] == "code" and code["execution_count"] is None and code["outputs"] == []
    assert code["metadata"]["tags"] == ["agent-magic"]
    turn = code["metadata"]["agent_magic"]["turn_id"]
    assert code["metadata"]["agent_magic"]["agent_cell"] == agent["id"]
    assert "".join(code["source"]).startswith(f"%%agent_code --turn {turn} --cell {agent['id']}\n{CODE}")
    records = [o["metadata"]["agent_magic"] for o in agent["outputs"] if "agent_magic" in o.get("metadata", {})]
    assert [r["turn_id"] for r in records] == [turn], "the agent cell's output carries its provenance"
    assert records[0]["tools"][0]["name"] == "run_python" and records[0]["tools"][0]["decided_by"] == "pre-approval"


def test_running_the_agent_cell_again_replaces_the_cells_its_earlier_run_inserted(lab, page):
    lab.write_notebook("rerun.ipynb", LOAD, AGENT_CELL, "print(squares)")
    ready(page, lab, "rerun.ipynb")
    cells = page.locator(".jp-Notebook .jp-Cell")
    run_cells(page, 2)
    assert wait_until(lambda: cells.count() == 4, timeout=WAIT_MS / 1000)
    first = cells.nth(2).locator(".cm-content").inner_text().splitlines()[0]

    cells.nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")

    assert wait_until(lambda: cells.nth(2).locator(".cm-content").inner_text().splitlines()[0] != first, timeout=60)
    assert cells.count() == 4, "replaced, not piled up"
    assert CODE in cells.nth(2).locator(".cm-content").inner_text()
