"""Budgets in memory: the real `BudgetGuard` on a session driven by a scripted model, its spending recorded
by the real ledger. The `%config` and `--max-cost` wiring is checked in real kernels (test_ledger.py,
test_faults.py)."""

from __future__ import annotations

import pytest
from recorded_session import MODEL, RecordedSession
from scripted_model import Reply, ScriptedModel

import agent_magic
from agent_magic.contracts import Totals
from agent_magic.events import ToolCallStarted, TurnEnded, TurnState
from agent_magic.ledger.spend import SharedSpend
from agent_magic.llm.pricing import PriceTable
from agent_magic.policy.budget import BudgetGuard, start_of_today
from agent_magic.policy.limits import SCOPES, Limits

PRICE = {MODEL: {"input": 1.0, "cached_input": 0.5, "output": 2.0}}  # dollars per million tokens


class Budgets:
    """The budgets and prices of one conversation, changed between turns as `%config` changes them."""

    def __init__(self, **budgets: dict[str, float]) -> None:
        self.budgets = budgets
        self.prices = PriceTable()

    def guard(self, ledger: RecordedSession) -> BudgetGuard:
        """The guard reading these budgets; the day's spending across sessions comes from `ledger`."""
        recorder = ledger.recorder
        spend = SharedSpend(lambda: ledger.store, user=recorder.user, host=recorder.host)
        return BudgetGuard(
            lambda: {scope: Limits.parse(scope, self.budgets.get(scope, {})) for scope in SCOPES},
            lambda model: self.prices.price_for(model) is not None,
            spend.check,
        )

    def cost(self, model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
        return self.prices.cost(model, input_tokens, cached_tokens, output_tokens)


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


def budgeted(model, budgets: Budgets, tmp_path, workspace) -> RecordedSession:
    ledger = RecordedSession(model, home=tmp_path / ".agent", workspace=workspace, pricing=budgets.cost)
    ledger.session.guards.append(budgets.guard(ledger))
    return ledger


def ended(events) -> TurnEnded:
    end = events[-1]
    assert isinstance(end, TurnEnded)
    return end


def test_session_step_budget_stops_a_tool_loop_and_the_next_turn_continues(model, tmp_path, workspace):
    for _ in range(2):  # a third model call would be refused before it is made
        model.add_tool_calls(("list_files", "{}"))
    budgets = Budgets(session={"steps": 2})
    ledger = budgeted(model, budgets, tmp_path, workspace)

    end = ended(ledger.turn("keep listing"))

    assert end.state is TurnState.LIMIT_REACHED
    assert end.message.startswith("stopped: session budget of 2 model calls reached, 2 made")
    assert "raise it with AgentMagic.session_budget" in end.message
    budgets.budgets = {}
    model.add_text("fine")
    assert ended(ledger.turn("still there?")).state is TurnState.COMPLETED
    roles = [m["role"] for m in model.requests[-1][0]]
    assert roles.count("tool") == 2, "every tool call of the stopped turn had its result"


def test_turn_tool_call_budget_counts_calls_of_one_step(model, tmp_path, workspace):
    model.add_tool_calls(("list_files", "{}"), ("list_files", '{"pattern": "*.csv"}'))
    ledger = budgeted(model, Budgets(turn={"tool_calls": 1}), tmp_path, workspace)

    events = ledger.turn("list twice")

    assert ended(events).message.startswith("stopped: turn budget of 1 tool calls reached, 1 run")
    assert not [e for e in events if isinstance(e, ToolCallStarted)]
    assert len(agent_magic.tool_calls(home=str(ledger.home))) == 0, "nothing ran: the check precedes the step"


def test_max_cost_stops_the_turn_with_the_spent_dollars(model, tmp_path, workspace):
    model.replies.append(Reply(tool_calls=(("list_files", "{}"),), usage=(400_000, 100_000)))
    budgets = Budgets()
    budgets.prices = PriceTable(PRICE)
    ledger = budgeted(model, budgets, tmp_path, workspace)

    end = ended(ledger.turn("list", max_cost=0.50, max_steps=20))

    assert end.message.startswith("stopped: turn budget $0.50 reached, $0.60 spent")


def test_a_dollar_budget_on_an_unpriced_model_stops_before_any_call(model, tmp_path, workspace):
    ledger = budgeted(model, Budgets(session={"cost": 2.0}), tmp_path, workspace)

    end = ended(ledger.turn("hello"))

    assert end.state is TurnState.LIMIT_REACHED
    assert f"model {MODEL!r} has no price; add one with %config AgentMagic.prices" in end.message
    assert model.requests == [], "no model call was made"


def test_session_dollar_budget_counts_the_priced_calls(model, tmp_path, workspace):
    model.replies.append(Reply(tool_calls=(("list_files", "{}"),), usage=(1_000_000, 600_000)))
    budgets = Budgets(session={"cost": 2.0})
    budgets.prices = PriceTable(PRICE)
    ledger = budgeted(model, budgets, tmp_path, workspace)

    end = ended(ledger.turn("list"))

    assert end.message.startswith("stopped: session budget $2.00 reached, $2.20 spent")


def test_the_day_budget_counts_what_every_session_recorded_today(model, tmp_path, workspace):
    model.add_text("before", usage=(70, 40))
    earlier = budgeted(model, Budgets(), tmp_path, workspace)
    earlier.turn("hello")
    later = budgeted(model, Budgets(day={"tokens": 100}), tmp_path, workspace)

    end = ended(later.turn("again"))

    assert later.store.totals(since=start_of_today()) == Totals(model_calls=1, tokens=110, unpriced_calls=1)
    assert end.message.startswith("stopped: daily budget of 100 tokens reached, 110 used")
    assert len(model.requests) == 1, "the later session made no model call"
