"""Prices from genai-prices for every provider: the provider read from the endpoint's base URL (so one
model name is priced per provider), tiered and cached-input prices, overrides winning, the demo free,
unknown models without a price, and the shipped table when genai-prices is absent or fails."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from agent_magic.llm.pricing import Catalog, CatalogPrice, ModelPrice, PriceTable, shipped_table

OPENAI = "https://api.openai.com/v1"
ANTHROPIC = "https://api.anthropic.com/v1"
GOOGLE = "https://generativelanguage.googleapis.com/v1beta/openai/"
M = 1_000_000


@pytest.fixture
def without_genai_prices(monkeypatch):
    """genai-prices cannot be imported (not installed, or broken by an upgrade)."""
    monkeypatch.setitem(sys.modules, "genai_prices", None)
    monkeypatch.setattr(Catalog, "_loaded", None)
    yield
    Catalog._loaded = None  # loaded again, for real, by the next test that prices


def test_openai_models_are_priced_from_genai_prices_with_their_cached_rate():
    table = PriceTable(base_url=OPENAI)

    assert isinstance(table.price_for("gpt-4.1-mini"), CatalogPrice)
    assert table.cost("gpt-4.1-mini", M, 0, M) == pytest.approx(0.4 + 1.6)
    assert table.cost("gpt-4.1-mini", M, M, 0) == pytest.approx(0.1), "cached input at its own rate, not twice"
    assert table.price_for("gpt-4.1-mini-2025-04-14") == table.price_for("gpt-4.1-mini")


def test_no_base_url_means_openais_prices():
    assert PriceTable().provider == "openai" and PriceTable().cost("gpt-4.1", M, 0, 0) == pytest.approx(2.0)


def test_anthropic_models_at_anthropic_with_the_tier_above_200k_prompt_tokens():
    table = PriceTable(base_url=ANTHROPIC)

    assert table.provider == "anthropic"
    assert table.cost("claude-sonnet-4-5", 100_000, 0, 10_000) == pytest.approx(0.3 + 0.15)
    assert table.cost("claude-sonnet-4-5", 300_000, 0, 0) == pytest.approx(300_000 * 6 / M), "the long-prompt tier"
    assert table.cost("claude-sonnet-4-5", 100_000, 100_000, 0) == pytest.approx(0.03), "cache reads at $0.30/M"


def test_google_models_at_googles_endpoint_with_tiers_and_cached_input():
    table = PriceTable(base_url=GOOGLE)

    assert table.provider == "google"
    assert table.cost("gemini-2.5-pro", 100_000, 0, 0) == pytest.approx(0.125)
    assert table.cost("gemini-2.5-pro", 300_000, 0, 0) == pytest.approx(300_000 * 2.5 / M), "the long-prompt tier"
    assert table.cost("gemini-2.5-flash", M, M, M) == pytest.approx(0.03 + 2.5)


def test_the_same_model_name_is_priced_per_provider():
    at_openai = PriceTable(base_url=OPENAI).cost("gpt-oss-120b", M, 0, M)
    at_cerebras = PriceTable(base_url="https://api.cerebras.ai/v1").cost("gpt-oss-120b", M, 0, M)

    assert at_openai == pytest.approx(0.039 + 0.18) and at_cerebras == pytest.approx(0.35 + 0.75)


def test_a_model_the_endpoints_provider_does_not_sell_has_no_price():
    table = PriceTable(base_url=ANTHROPIC)

    assert table.cost("gpt-4.1-mini", M, 0, M) is None
    assert "not in genai-prices" in table.source_for("gpt-4.1-mini") and "anthropic" in table.source_for("gpt-4.1-mini")


def test_openrouter_deepseek_mistral_and_azure_endpoints_are_recognised():
    openrouter = PriceTable(base_url="https://openrouter.ai/api/v1")
    assert openrouter.cost("anthropic/claude-sonnet-4.5", 100_000, 0, 0) == pytest.approx(0.3)
    # DeepSeek halves its prices off-peak (16:30-00:30 UTC): priced at a peak hour, then an off-peak one.
    deepseek = PriceTable(base_url="https://api.deepseek.com")
    assert deepseek.cost("deepseek-chat", M, 0, 0, at=dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)) == pytest.approx(0.27)
    assert deepseek.cost("deepseek-chat", M, 0, 0, at=dt.datetime(2026, 6, 1, 20, tzinfo=dt.UTC)) == pytest.approx(
        0.135
    )
    assert PriceTable(base_url="https://api.mistral.ai/v1").cost("mistral-large-latest", M, 0, 0) == pytest.approx(2)
    azure = PriceTable(base_url="https://my-resource.openai.azure.com/openai/v1")
    assert azure.provider == "azure" and azure.cost("gpt-4.1-mini", M, 0, 0) == pytest.approx(0.4)


def test_an_endpoint_genai_prices_does_not_know_is_priced_by_the_model_name():
    proxy = PriceTable(base_url="http://localhost:4000/v1")

    assert proxy.provider is None and proxy.cost("claude-sonnet-4-5", 100_000, 0, 0) == pytest.approx(0.3)
    assert "names no provider it knows, so the model name picks one" in proxy.source_for("claude-sonnet-4-5")


def test_a_model_nobody_prices_costs_none_never_zero():
    table = PriceTable(base_url="http://localhost:11434/v1")

    assert table.price_for("llama3.1") is None and table.cost("llama3.1", 1000, 0, 1000) is None
    assert table.source_for("llama3.1").startswith("llama3.1: no price, its cost is recorded as NaN")


def test_overrides_win_over_genai_prices_and_aliases_reach_any_provider():
    table = PriceTable({"gpt-4.1-mini": {"input": 1, "output": 2}, "my-claude": "claude-sonnet-4-5"}, base_url=OPENAI)

    assert table.price_for("gpt-4.1-mini") == ModelPrice(1.0, 1.0, 2.0)
    assert table.source_for("gpt-4.1-mini").startswith("gpt-4.1-mini: AgentMagic.prices:")
    assert table.cost("my-claude", 100_000, 0, 0) == pytest.approx(0.3)


def test_the_demo_model_is_free_whatever_the_endpoint_unless_overridden():
    assert PriceTable(base_url=ANTHROPIC).cost("demo", M, 0, M) == 0.0
    assert PriceTable({"demo": {"input": 2.0, "output": 8.0}}).cost("demo", M, 0, M) == 10.0


def test_as_of_names_the_genai_prices_release():
    assert PriceTable().as_of.startswith("genai-prices 0.")


def test_without_genai_prices_the_shipped_table_prices_openai_models(without_genai_prices):
    table = PriceTable(base_url=OPENAI)

    assert table.price_for("gpt-4.1-mini") == ModelPrice(0.4, 0.1, 1.6)
    assert table.cost("claude-sonnet-4-5", M, 0, 0) is None
    source = table.source_for("gpt-4.1-mini")
    assert (
        f"shipped table prices.json of {shipped_table()['as_of']} (genai-prices unavailable: ModuleNotFoundError"
        in source
    )
    assert table.as_of == f"{shipped_table()['as_of']} (shipped table)"


def test_when_genai_prices_fails_while_pricing_the_shipped_table_takes_over(monkeypatch):
    table = PriceTable(base_url=OPENAI)
    price = table.price_for("gpt-4.1-mini")

    def broken(*args, **kwargs):
        raise RuntimeError("price data is corrupt")

    monkeypatch.setattr(price._model_info, "calc_price", broken)

    assert table.cost("gpt-4.1-mini", M, 0, M) == pytest.approx(2.0)
    assert "(genai-prices unavailable: RuntimeError: price data is corrupt)" in table.source_for("gpt-4.1-mini")


def test_an_alias_to_a_model_no_source_prices_is_refused_when_set():
    with pytest.raises(ValueError, match="'no-such-model' is not a priced model"):
        PriceTable({"mine": "no-such-model"})


# -- in a kernel ----------------------------------------------------------------------------------------


@pytest.mark.kernel
def test_agent_config_says_which_source_prices_the_model(shared_kernel):
    shared_kernel.execute('%config AgentMagic.base_url = "https://api.anthropic.com/v1"')
    shared_kernel.execute('%config AgentMagic.model = "claude-sonnet-4-5"')

    shown = shared_kernel.execute("%agent config").text

    (line,) = [line for line in shown.splitlines() if line.startswith("price of model")]
    assert line.split(None, 3)[3].startswith(
        f"claude-sonnet-4-5: {Catalog.load().name} (anthropic, from base_url https://api.anthropic.com/v1): "
        "$3/input MTok (+tiers), $15/output MTok (+tiers)"
    )


@pytest.mark.kernel
def test_a_model_call_is_priced_from_genai_prices_in_the_ledger(shared_kernel, script):
    script.add_text("Hello.", usage=(1000, 200))

    assert shared_kernel.execute("%%agent --model gpt-4.1-mini\nsay hello").status == "ok"

    row = shared_kernel.execute("import agent_magic\nprint(agent_magic.usage()['cost_usd'].iloc[0])").text
    assert float(row) == pytest.approx((1000 * 0.4 + 200 * 1.6) / M)
