"""Model prices: the shipped, dated price table (`prices.json`) layered under the user's overrides
(`AgentMagic.prices`), and the cost of one model call in dollars.

An unknown model has no price: its cost is `None` (NaN in pandas), never 0, so a sum never hides calls
nobody priced. Local models cost 0 only when the user says so.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICE_FILE = Path(__file__).with_name("prices.json")
RATE_KEYS = ("input", "cached_input", "output")
# OpenAI answers with dated snapshots ("gpt-4.1-mini-2025-04-14"); they cost what the alias costs.
_DATED_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")
# The offline demo model is a local script: it really costs nothing. A user override still wins (the
# cost-analysis notebook prices it to show non-zero dollars).
BUILTIN_PRICES: dict[str, dict[str, float]] = {"demo": {"input": 0.0, "cached_input": 0.0, "output": 0.0}}
PRICES_HELP = (
    'set AgentMagic.prices to {"model": {"input": 0.4, "cached_input": 0.1, "output": 1.6}} '
    '(dollars per million tokens) or {"model": "gpt-4.1-mini"} to reuse a listed price'
)


@dataclass(frozen=True)
class ModelPrice:
    """Dollars per million tokens: uncached input, cached input, output (reasoning is billed as output)."""

    input: float
    cached_input: float
    output: float

    def cost(self, input_tokens: int, cached_tokens: int, output_tokens: int) -> float:
        """Dollars for one call. `input_tokens` includes the cached ones, and `output_tokens` includes
        reasoning tokens, as OpenAI reports them, so neither is counted twice."""
        uncached = max(0, input_tokens - cached_tokens)
        return (uncached * self.input + cached_tokens * self.cached_input + output_tokens * self.output) / 1e6


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


class PriceTable:
    """Looks up a model's price: the user's overrides first, then the shipped table.

    Example:
        >>> table = PriceTable({"demo": {"input": 1.0, "output": 4.0}, "my-azure-deployment": "gpt-4.1-mini"})
        >>> table.price_for("demo").cost(1_000_000, 0, 0)
        1.0
        >>> table.price_for("gpt-4.1-mini-2025-04-14") == table.price_for("gpt-4.1-mini")
        True
        >>> table.price_for("llama3.1") is None
        True
        >>> PriceTable().cost("demo", 1000, 0, 1000)
        0.0
    """

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self.overrides = dict(overrides or {})
        validate_overrides(self.overrides)
        self._shipped = {**shipped_table()["models"], **BUILTIN_PRICES}

    @property
    def as_of(self) -> str:
        """The date of the shipped price list."""
        return str(shipped_table()["as_of"])

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of `model`, or None when nobody priced it."""
        return self._lookup(model, depth=0)

    def _lookup(self, model: str, *, depth: int) -> ModelPrice | None:
        for name in (model, _DATED_SNAPSHOT.sub("", model)):
            if name in self.overrides:
                value = self.overrides[name]
                if isinstance(value, str):  # an alias: "price this like that model"
                    return self._lookup(value, depth=depth + 1) if depth < 5 else None
                return _parse_rates(name, value)
            if name in self._shipped:
                return _parse_rates(name, self._shipped[name])
        return None

    def cost(self, model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
        """Dollars for one call of `model`, or None when its price is unknown."""
        price = self.price_for(model)
        return None if price is None else price.cost(input_tokens, cached_tokens, output_tokens)


def validate_overrides(overrides: dict[str, Any]) -> None:
    """Raise `ValueError` with a one-line fix when `AgentMagic.prices` is malformed."""
    shipped = {**shipped_table()["models"], **BUILTIN_PRICES}
    for model, value in overrides.items():
        if isinstance(value, str):
            if value not in overrides and value not in shipped:
                raise ValueError(f"price alias {model!r} → {value!r}: {value!r} is not a priced model; {PRICES_HELP}")
        else:
            _parse_rates(model, value)
