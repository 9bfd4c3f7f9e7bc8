"""Model prices: what one model call cost in dollars, for every provider `genai-prices` knows.

Where a model's price comes from, first match wins:

1. `AgentMagic.prices`, the user's own prices and aliases (`{"my-deployment": "gpt-4.1-mini"}`);
2. built in: the offline demo model is a local script and costs $0;
3. the `genai-prices` catalogue (the price data pydantic-ai uses: dozens of providers, prices tiered by
   prompt length, cached-input prices), for the provider the endpoint's base URL names
   (api.openai.com → openai, api.anthropic.com → anthropic, generativelanguage.googleapis.com → google,
   openrouter.ai, api.deepseek.com, api.mistral.ai, Azure…), so one model name is priced per provider.
   An endpoint it does not recognise (a LiteLLM proxy, a local server) is priced by the model name alone;
4. the shipped table `prices.json` (OpenAI's list prices), only when genai-prices is not installed or
   fails.

A model none of these knows has no price: its cost is `None` (NaN in pandas), never 0, so a sum never
hides calls nobody priced. Local models cost 0 only when the user says so. genai-prices is imported on
first use (its import takes ~0.4 s, so `warm_up()` starts it in the background when a turn begins) and
its automatic price updates are never switched on: prices change only when the package is upgraded.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
import math
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("agent_magic.pricing")

PRICE_FILE = Path(__file__).with_name("prices.json")
RATE_KEYS = ("input", "cached_input", "output")
# What the openai SDK calls when no base URL is configured.
OPENAI_BASE_URL = "https://api.openai.com/v1"
# OpenAI answers with dated snapshots ("gpt-4.1-mini-2025-04-14"); they cost what the alias costs.
_DATED_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")
# The offline demo model is a local script: it really costs nothing. A user override still wins (the
# cost-analysis notebook prices it to show non-zero dollars).
BUILTIN_PRICES: dict[str, dict[str, float]] = {"demo": {"input": 0.0, "cached_input": 0.0, "output": 0.0}}
PRICES_HELP = (
    'set AgentMagic.prices to {"model": {"input": 0.4, "cached_input": 0.1, "output": 1.6}} '
    '(dollars per million tokens) or {"model": "gpt-4.1-mini"} to reuse a listed price'
)
MAX_ALIAS_DEPTH = 5


@dataclass(frozen=True)
class ModelPrice:
    """Dollars per million tokens: uncached input, cached input, output (reasoning is billed as output)."""

    input: float
    cached_input: float
    output: float

    def cost(self, input_tokens: int, cached_tokens: int, output_tokens: int, *, at: datetime | None = None) -> float:
        """Dollars for one call. `input_tokens` includes the cached ones, and `output_tokens` includes
        reasoning tokens, as OpenAI reports them, so neither is counted twice. A flat rate: `at` is ignored."""
        uncached = max(0, input_tokens - cached_tokens)
        return (uncached * self.input + cached_tokens * self.cached_input + output_tokens * self.output) / 1e6

    def describe(self) -> str:
        """The rates, in words."""
        return f"${self.input:g} input, ${self.cached_input:g} cached input, ${self.output:g} output per million tokens"


@dataclass(frozen=True)
class CatalogPrice:
    """A model's price in the genai-prices catalogue at one provider; tiers and cached input included.

    Two names of one model at one provider (an alias and its dated snapshot) are equal prices.
    """

    provider: str
    model: str
    rates: str = field(compare=False)
    _model_info: Any = field(compare=False, repr=False)
    _provider_info: Any = field(compare=False, repr=False)

    def cost(self, input_tokens: int, cached_tokens: int, output_tokens: int, *, at: datetime | None = None) -> float:
        """Dollars for one call (`input_tokens` includes the cached ones; a tier is chosen by it) made at
        `at` (default now): some providers price by the time of day (DeepSeek's off-peak hours)."""
        from genai_prices import Usage

        usage = Usage(input_tokens=input_tokens, cache_read_tokens=cached_tokens, output_tokens=output_tokens)
        calculation = self._model_info.calc_price(usage, self._provider_info, genai_request_timestamp=at)
        return float(calculation.total_price)

    def describe(self) -> str:
        """The rates as genai-prices lists them (`+tiers`: a higher rate above a prompt length)."""
        return self.rates


Price = ModelPrice | CatalogPrice


@dataclass(frozen=True)
class Quote:
    """A model's price (None: unknown) and where it came from, in words."""

    price: Price | None
    source: str


@functools.lru_cache(maxsize=1)
def shipped_table() -> dict[str, Any]:
    """The shipped price file as parsed JSON: `as_of` (its date), `source`, and `models`."""
    return json.loads(PRICE_FILE.read_text(encoding="utf-8"))


def _parse_rates(model: str, rates: Any) -> ModelPrice:
    if not isinstance(rates, dict) or not {"input", "output"} <= rates.keys() or not rates.keys() <= set(RATE_KEYS):
        raise ValueError(
            f"price for {model!r} needs 'input' and 'output' (and optionally 'cached_input'); {PRICES_HELP}"
        )
    values = {key: rates.get(key, rates["input"] if key == "cached_input" else None) for key in RATE_KEYS}
    for key, value in values.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0 or math.isnan(value):
            raise ValueError(f"price {key!r} for {model!r} must be a number ≥ 0 (dollars per million tokens)")
    return ModelPrice(**{key: float(value) for key, value in values.items()})


def _names(model: str) -> tuple[str, ...]:
    """The names a model may be listed under: itself, then its alias when it is a dated snapshot."""
    undated = _DATED_SNAPSHOT.sub("", model)
    return (model,) if undated == model else (model, undated)


# -- the genai-prices catalogue -------------------------------------------------------------------------


class Catalog:
    """The genai-prices data, loaded once per process; `error` says why it cannot be used."""

    _lock = threading.Lock()
    _loaded: Catalog | None = None

    def __init__(self, version: str | None, error: str | None) -> None:
        self.version = version
        self.error = error

    @classmethod
    def load(cls) -> Catalog:
        """Import genai-prices (once; ~0.4 s) or record why it cannot be imported."""
        with cls._lock:
            if cls._loaded is None:
                try:
                    import genai_prices  # noqa: F401  (the import is the check)

                    cls._loaded = cls(importlib.metadata.version("genai-prices"), None)
                except Exception as exc:  # absent, or broken by an incompatible upgrade: use the shipped table
                    log.warning("genai-prices cannot be used (%s); prices come from prices.json", exc)
                    cls._loaded = cls(None, f"{type(exc).__name__}: {exc}")
            return cls._loaded

    @property
    def name(self) -> str:
        """`genai-prices 0.2.3`."""
        return f"genai-prices {self.version}"

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def provider_for(base_url: str) -> str | None:
        """The provider genai-prices recognises in an API base URL, or None (a proxy, a local server)."""
        from genai_prices.data_snapshot import get_snapshot

        try:
            return get_snapshot().find_provider(None, None, base_url).id
        except LookupError:
            return None

    @staticmethod
    def price(model: str, provider: str | None) -> CatalogPrice | None:
        """`model`'s price at `provider` (None: the provider its name suggests), or None when unlisted."""
        from genai_prices import Usage, calc_price

        try:
            found = calc_price(Usage(input_tokens=0, output_tokens=0), model, provider_id=provider)
        except LookupError:
            return None
        return CatalogPrice(found.provider.id, found.model.id, str(found.model_price), found.model, found.provider)


_warming = threading.Event()


def warm_up() -> None:
    """Import genai-prices on a background thread, once, so the first priced call of a kernel does not
    wait ~0.4 s for it (the import lock makes a concurrent import wait for this one, never run twice)."""
    if Catalog._loaded is None and not _warming.is_set():
        _warming.set()
        threading.Thread(target=Catalog.load, name="agent-prices-import", daemon=True).start()


# -- the table ------------------------------------------------------------------------------------------


class PriceTable:
    """Looks up a model's price: overrides, the demo, genai-prices for the endpoint's provider, the
    shipped table (see the module docstring).

    `base_url` is the model endpoint (None: OpenAI's, as the openai SDK defaults); it picks the provider,
    so `gpt-oss-120b` costs what Cerebras charges at api.cerebras.ai and what OpenAI lists at api.openai.com.

    Example:
        >>> table = PriceTable({"my-azure-deployment": "gpt-4.1-mini"})
        >>> table.price_for("my-azure-deployment") == table.price_for("gpt-4.1-mini")
        True
        >>> round(PriceTable(base_url="https://api.anthropic.com/v1").cost("claude-sonnet-4-5", 10_000, 0, 1_000), 4)
        0.045
        >>> PriceTable().cost("llama3.1", 1000, 0, 1000) is None
        True
        >>> PriceTable().cost("demo", 1000, 0, 1000)
        0.0
    """

    def __init__(self, overrides: dict[str, Any] | None = None, *, base_url: str | None = None) -> None:
        self.overrides = dict(overrides or {})
        validate_overrides(self.overrides)
        self.base_url = base_url or OPENAI_BASE_URL
        self._quotes: dict[str, Quote] = {}
        self._failed: str | None = None  # why genai-prices failed while pricing, once it has

    @property
    def as_of(self) -> str:
        """Which price data is in use: the genai-prices release, or the shipped table's date."""
        catalog = Catalog.load()
        if catalog.error is None and self._failed is None:
            return catalog.name
        return f"{shipped_table()['as_of']} (shipped table)"

    @property
    def provider(self) -> str | None:
        """The provider genai-prices recognises in `base_url`, or None."""
        return Catalog.provider_for(self.base_url) if Catalog.load().error is None else None

    def price_for(self, model: str) -> Price | None:
        """The price of `model`, or None when nobody priced it."""
        return self.quote(model).price

    def source_for(self, model: str) -> str:
        """Where `model`'s price comes from, and the rates, in one line (for `%agent config`)."""
        quote = self.quote(model)
        if quote.price is None:
            return f"{model}: no price, its cost is recorded as NaN ({quote.source}); {PRICES_HELP}"
        return f"{model}: {quote.source}: {quote.price.describe()}"

    def quote(self, model: str) -> Quote:
        """The price of `model` and its source (cached per model)."""
        quote = self._quotes.get(model)
        if quote is None:
            quote = self._quotes[model] = self._lookup(model, depth=0)
        return quote

    def cost(
        self, model: str, input_tokens: int, cached_tokens: int, output_tokens: int, *, at: datetime | None = None
    ) -> float | None:
        """Dollars for one call of `model` made at `at` (default now), or None when its price is unknown."""
        price = self.price_for(model)
        if price is None:
            return None
        try:
            return price.cost(input_tokens, cached_tokens, output_tokens, at=at)
        except Exception as exc:  # genai-prices failing on this usage: price from the shipped table instead
            self._catalog_failed(exc)
            return self.cost(model, input_tokens, cached_tokens, output_tokens, at=at)

    def _lookup(self, model: str, *, depth: int) -> Quote:
        """`model`'s quote; an alias target (depth > 0) not sold by the endpoint's provider is priced as
        the provider its name suggests sells it (`{"my-model": "claude-sonnet-4-5"}` on a proxy)."""
        for name in _names(model):
            if name in self.overrides:
                value = self.overrides[name]
                if isinstance(value, str):  # an alias: "price this like that model"
                    if depth >= MAX_ALIAS_DEPTH:
                        return Quote(None, f"AgentMagic.prices aliases more than {MAX_ALIAS_DEPTH} deep")
                    target = self._lookup(value, depth=depth + 1)
                    return Quote(target.price, f"AgentMagic.prices alias of {value!r}, {target.source}")
                return Quote(_parse_rates(name, value), "AgentMagic.prices")
        if model in BUILTIN_PRICES:
            return Quote(_parse_rates(model, BUILTIN_PRICES[model]), "built in (the offline demo model is free)")
        catalog = Catalog.load()
        if catalog.error is None and self._failed is None:
            try:
                quote = self._catalog_quote(catalog, model)
                if quote.price is None and depth > 0 and Catalog.provider_for(self.base_url) is not None:
                    quote = self._catalog_quote(catalog, model, guess=True)
                return quote
            except Exception as exc:  # a broken catalogue must not lose the price: use the shipped table
                self._catalog_failed(exc)
        return self._table_quote(model)

    def _catalog_quote(self, catalog: Catalog, model: str, *, guess: bool = False) -> Quote:
        provider = None if guess else Catalog.provider_for(self.base_url)
        if provider is not None:
            found = Catalog.price(model, provider)
            where = f"{provider}, from base_url {self.base_url}"
            return Quote(found, f"{catalog.name} ({where})" if found else f"not in {catalog.name} for {where}")
        found = Catalog.price(model, None)
        guessed = (
            "the model name picks the provider"
            if guess
            else f"base_url {self.base_url} names no provider it knows, so the model name picks one"
        )
        if found is None:
            return Quote(None, f"not in {catalog.name}; {guessed}")
        return Quote(found, f"{catalog.name} ({found.provider}: {guessed})")

    def _table_quote(self, model: str) -> Quote:
        why = self._failed or Catalog.load().error
        source = f"shipped table prices.json of {shipped_table()['as_of']} (genai-prices unavailable: {why})"
        for name in _names(model):
            if name in shipped_table()["models"]:
                return Quote(_parse_rates(name, shipped_table()["models"][name]), source)
        return Quote(None, f"not in the {source}")

    def _catalog_failed(self, exc: Exception) -> None:
        log.warning("genai-prices failed (%s: %s); prices come from prices.json", type(exc).__name__, exc)
        self._failed = f"{type(exc).__name__}: {exc}"
        self._quotes.clear()


def validate_overrides(overrides: dict[str, Any]) -> None:
    """Raise `ValueError` with a one-line fix when `AgentMagic.prices` is malformed."""
    for model, value in overrides.items():
        if not isinstance(value, str):
            _parse_rates(model, value)
        elif not _is_listed(value, overrides):
            raise ValueError(f"price alias {model!r} → {value!r}: {value!r} is not a priced model; {PRICES_HELP}")


def _is_listed(model: str, overrides: dict[str, Any]) -> bool:
    """True when some source prices `model` (the catalogue by model name, whatever the endpoint)."""
    if any(name in overrides or name in BUILTIN_PRICES or name in shipped_table()["models"] for name in _names(model)):
        return True
    catalog = Catalog.load()
    return catalog.error is None and Catalog.price(model, None) is not None
