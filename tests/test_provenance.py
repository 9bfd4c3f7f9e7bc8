"""Provenance: the record built from a turn's events, attached by the notebook renderer to the turn's final
output, valid in a saved notebook, and read back as a DataFrame; and `%%agent --estimate`'s arithmetic."""

from __future__ import annotations

import asyncio
import json
import math

import nbformat
import pytest
from scripted_model import ScriptedModel

import agent_magic
from agent_magic.contracts import ApprovalDecision, TurnSettings
from agent_magic.estimate import Calibration, calibrate, estimate
from agent_magic.events import DecidedBy, Decision, ModelRequest, ToolCall
from agent_magic.ledger.store import LedgerStore
from agent_magic.llm.pricing import PriceTable
from agent_magic.notebook_provenance import ProvenanceCollector, provenance
from agent_magic.session import Session
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool
from agent_magic.ui.notebook import NotebookRenderer


class ApproveAll:
    """An approver that says yes to every destructive call, as a click would."""

    def gates(self, call: ToolCall, destructive: bool) -> bool:
        return destructive

    async def __call__(self, call: ToolCall, subject: str | None) -> ApprovalDecision:
        return ApprovalDecision(Decision.APPROVED, DecidedBy.CLICK)


def provenance_of_turn(model: ScriptedModel, workspace, *, pricing=None, output=None) -> dict:
    def peek(path: str) -> str:
        """Read a file."""
        return "seen"

    def save(path: str, text: str) -> str:
        """Write a file."""
        return "saved"

    tools = ToolRegistry([make_tool(peek), make_tool(save, destructive=True)])
    session = Session(client_for=lambda name: model, tools=tools, context=ToolContext(workspace), pricing=pricing)
    collector = ProvenanceCollector(output=output)

    async def run():
        async for event in session.run_turn("do it", TurnSettings(model="gpt-4.1-mini"), approver=ApproveAll()):
            collector.handle(event)

    asyncio.run(run())
    return collector.record()


def test_the_record_says_who_answered_with_what_tokens_cost_and_tools(workspace, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-very-secret-123")
    model = ScriptedModel()
    model.add_tool_calls(("peek", '{"path": "a.csv"}'), ("save", '{"path": "b.txt", "text": "tok-very-secret-123"}'))
    model.add_text("Done.")
    record = provenance_of_turn(model, workspace, pricing=lambda *args: 0.25, output={"name": "answer"})

    assert record["v"] == 1 and record["version"] == agent_magic.__version__
    assert record["state"] == "completed" and record["steps"] == 2
    assert record["model"] == {"requested": "gpt-4.1-mini", "answered": []}
    assert record["tokens"] == {"input": 20, "cached": 0, "output": 10, "reasoning": 0}
    assert (record["cost_usd"], record["cost_complete"], record["replayed"]) == (0.5, True, 0)
    peek, save = record["tools"]
    assert (peek["name"], peek["status"], peek["decision"]) == ("peek", "ok", "auto")
    assert (save["decision"], save["decided_by"]) == ("approved", "user click")
    assert save["arguments"] == {"path": "b.txt", "text": "***"}, "secrets are masked"
    assert record["output"] == {"name": "answer"}
    assert "Done." not in json.dumps(record), "no answers or tool results in the record"


def test_an_unpriced_model_has_no_cost_rather_than_zero(workspace):
    model = ScriptedModel()
    model.add_text("Hi.")
    record = provenance_of_turn(model, workspace, pricing=lambda *args: None)
    assert record["cost_usd"] is None and record["cost_complete"] is False


def test_long_arguments_are_cut_so_the_record_stays_small(workspace):
    model = ScriptedModel()
    model.add_tool_calls(("peek", json.dumps({"path": "x" * 5000})))
    model.add_text("ok")
    (call,) = provenance_of_turn(model, workspace)["tools"]
    assert len(call["arguments"]["path"]) < 400 and call["arguments"]["path"].endswith("(5,000 chars)")


# -- in the notebook -------------------------------------------------------------------------------------


class Shown:
    """Stands in for IPython's display: records each output and its updates."""

    def __init__(self) -> None:
        self.outputs: list[dict] = []

    def __call__(self, bundle, raw=True, display_id=False, metadata=None):
        output = {"data": bundle, "metadata": metadata or {}}
        self.outputs.append(output)
        shown = self

        class Handle:
            def update(self, bundle, raw=True, metadata=None):
                output["data"] = bundle
                if metadata is not None:
                    output["metadata"] = metadata

        return Handle() if display_id else shown


def test_the_renderer_attaches_the_turn_metadata_to_the_final_output():
    from agent_magic.events import AssistantMessage, TextDelta, TurnEnded, TurnState

    shown = Shown()
    renderer = NotebookRenderer(show=shown, turn_metadata=lambda: {"turn_id": "t1"})
    ids = {"session_id": "s", "turn_id": "t1"}
    for event in (
        TextDelta(**ids, text="Hello"),
        AssistantMessage(**ids, text="Hello", tool_calls=(), finish_reason="stop"),
        TurnEnded(**ids, state=TurnState.COMPLETED),
    ):
        renderer.handle(event)
    renderer.close()

    (answer,) = shown.outputs
    assert answer["metadata"] == {"agent_magic": {"turn_id": "t1"}}
    assert answer["data"] == {"text/markdown": "Hello", "text/plain": "Hello"}


def test_a_turn_that_showed_nothing_still_leaves_its_metadata():
    shown = Shown()
    NotebookRenderer(show=shown, turn_metadata=lambda: {"turn_id": "t1"}).close()
    assert shown.outputs == [{"data": {"text/plain": ""}, "metadata": {"agent_magic": {"turn_id": "t1"}}}]


def notebook_with(*records: dict) -> dict:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext agent_magic")]
    for number, record in enumerate(records, start=2):
        cell = nbformat.v4.new_code_cell("%%agent\nhi", execution_count=number)
        cell.outputs = [
            nbformat.v4.new_output("display_data", data={"text/plain": "🔧 peek"}),
            nbformat.v4.new_output("display_data", data={"text/plain": "Hi."}, metadata={"agent_magic": record}),
        ]
        notebook.cells.append(cell)
    return notebook


def test_a_notebook_holding_records_is_valid_nbformat(workspace):
    model = ScriptedModel()
    model.add_tool_calls(("peek", '{"path": "a"}'))
    model.add_text("ok")
    notebook = notebook_with(provenance_of_turn(model, workspace))
    nbformat.validate(notebook)
    assert nbformat.reads(nbformat.writes(notebook), as_version=4) == notebook


def test_provenance_reads_one_row_per_turn_from_a_saved_notebook(workspace, tmp_path):
    first, second = ScriptedModel(), ScriptedModel()
    first.add_tool_calls(("peek", '{"path": "a"}'))
    first.add_text("ok")
    second.add_text("Hi.")
    records = [provenance_of_turn(first, workspace, pricing=lambda *a: 0.5), provenance_of_turn(second, workspace)]
    path = tmp_path / "analysis.ipynb"
    nbformat.write(nbformat.from_dict(notebook_with(*records)), path)

    frame = agent_magic.provenance(path)

    assert list(frame["cell"]) == [1, 2] and list(frame["execution_count"]) == [2, 3]
    assert list(frame["turn"]) == [r["turn_id"] for r in records]
    assert list(frame["tool_calls"]) == [1, 0] and frame["tools"][0] == ["peek"]
    assert frame["cost_usd"][0] == 1.0 and math.isnan(frame["cost_usd"][1])
    assert str(frame["started"].dt.tz) == "UTC"


def test_provenance_of_a_file_that_is_not_a_notebook_is_one_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"rows": []}')
    with pytest.raises(ValueError, match=r"data.json is not a Jupyter notebook \(no list of cells\)"):
        provenance(path)


# -- the estimate ----------------------------------------------------------------------------------------


REQUEST = ModelRequest(
    messages=[
        {"role": "system", "content": "s" * 400},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "p" * 80},
    ],
    tools=[{"type": "function", "function": {"name": "peek", "description": "d" * 200}}],
)


def test_the_estimate_splits_the_request_into_its_parts():
    result = estimate(REQUEST, Calibration("gpt-4.1-mini", 4.0, 0), PriceTable().cost, 1000)
    parts = dict(result.parts)
    assert list(parts) == ["system prompt", "tools (1)", "history (2 messages)", "new prompt"]
    assert parts["system prompt"] > parts["new prompt"] > 0
    assert result.input_tokens == sum(parts.values())


def test_the_dollar_range_runs_from_the_input_alone_to_the_input_and_the_assumed_output():
    prices = PriceTable({"gpt-4.1-mini": {"input": 0.4, "output": 1.6}})
    result = estimate(REQUEST, Calibration("gpt-4.1-mini", 4.0, 0), prices.cost, 1000)
    low, high = result.dollars
    assert low == pytest.approx(result.input_tokens * 0.4 / 1e6)
    assert high == pytest.approx(low + 1000 * 1.6 / 1e6)
    assert f"${low:.4f} for the input … ${high:.4f} with up to 1,000 output tokens" in result.render()


def test_an_unpriced_model_says_no_price_never_zero_dollars():
    text = estimate(REQUEST, Calibration("llama3.1", 4.0, 0), PriceTable().cost, 1000).render()
    assert "no price for llama3.1" in text and "$0" not in text


def test_the_estimate_says_it_is_one_and_on_what_basis():
    def no_price(*args):
        return None

    text = estimate(REQUEST, Calibration("m", 3.21, 12), no_price, 10).render()
    assert "An estimate, not a count: 3.21 characters per token, calibrated on 12 recorded calls of m" in text
    assert "rule of thumb" in estimate(REQUEST, Calibration("m", 4.0, 0), no_price, 10).render()


def test_an_empty_ledger_calibrates_to_the_default(tmp_path):
    assert calibrate(LedgerStore(tmp_path), "m") == Calibration("m", 4.0, 0)
