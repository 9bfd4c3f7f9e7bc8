"""Prices (shipped table, overrides, aliases, unknown models) and budget configuration parsing."""

from __future__ import annotations

import pytest

from agent_magic.llm.pricing import PriceTable, shipped_table
from agent_magic.policy.limits import Limits


def test_shipped_table_is_dated_and_prices_openai_models():
    assert shipped_table()["as_of"] >= "2026-01-01"
    assert PriceTable().cost("gpt-4.1-mini", 1_000_000, 0, 1_000_000) == pytest.approx(0.4 + 1.6)


def test_cached_tokens_are_billed_at_the_cached_rate_and_not_twice():
    assert PriceTable().cost("gpt-4.1-mini", 1_000_000, 1_000_000, 0) == pytest.approx(0.1)


def test_dated_snapshot_names_cost_what_the_alias_costs():
    table = PriceTable()
    assert table.price_for("gpt-4.1-mini-2025-04-14") == table.price_for("gpt-4.1-mini")


def test_unknown_model_has_no_price_not_zero():
    assert PriceTable().cost("llama3.1", 1000, 0, 1000) is None


def test_overrides_add_models_and_alias_deployments():
    table = PriceTable({"llama3.1": {"input": 0, "output": 0}, "my-deployment": "gpt-4.1-mini"})
    assert table.cost("llama3.1", 1000, 0, 1000) == 0
    assert table.price_for("my-deployment") == table.price_for("gpt-4.1-mini")


def test_malformed_prices_say_how_to_fix_them():
    with pytest.raises(ValueError, match="needs 'input' and 'output'"):
        PriceTable({"x": {"input": 1}})
    with pytest.raises(ValueError, match="not a priced model"):
        PriceTable({"x": "no-such-model"})


def test_budget_limits_parse_and_reject_unknown_keys():
    assert Limits.parse("session", {"cost": 2, "steps": 50}) == Limits(steps=50, cost=2)
    with pytest.raises(ValueError, match="per-turn steps are AgentMagic.max_steps"):
        Limits.parse("turn", {"steps": 3})
    with pytest.raises(ValueError, match="positive number"):
        Limits.parse("day", {"tokens": -1})
