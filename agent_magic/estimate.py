"""`%%agent --estimate`: what the next model call would send, in tokens and dollars, with nothing sent.

Token counts must work offline, and no tokenizer file may be fetched at run time, so tokens are estimated
from the request's size in characters of JSON: the characters per token of the model are calibrated on
the model's recorded calls in the ledger (the request size replay records beside the tokens the server
reported), else 4. The dollar range runs from the input alone to the input plus
`AgentMagic.estimate_output_tokens` of output, at the price table's rates; a model without a price says
"no price", never $0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_magic.events import ModelRequest
from agent_magic.llm.recording import canonical_json

if TYPE_CHECKING:
    from agent_magic.contracts import Pricing
    from agent_magic.ledger.store import LedgerStore

DEFAULT_CHARS_PER_TOKEN = 4.0  # a common rule of thumb for English text and JSON with BPE tokenizers


@dataclass(frozen=True)
class Calibration:
    """Characters of request JSON per input token for `model`, measured on `calls` recorded calls (0: none
    were recorded, and `chars_per_token` is the default)."""

    model: str
    chars_per_token: float
    calls: int

    def basis(self) -> str:
        """Where the ratio comes from, in words."""
        if not self.calls:
            return (
                f"{self.chars_per_token:.1f} characters per token (a rule of thumb: no recorded call of {self.model})"
            )
        plural = "s" if self.calls != 1 else ""
        return (
            f"{self.chars_per_token:.2f} characters per token, calibrated on {self.calls} recorded "
            f"call{plural} of {self.model} in the ledger"
        )


def calibrate(store: LedgerStore, model: str) -> Calibration:
    """The calibration of `model` from the ledger's replay records."""
    from agent_magic.ledger.replay_records import calibration_sample

    chars, tokens, calls = calibration_sample(store, model)
    if not calls or not tokens:
        return Calibration(model, DEFAULT_CHARS_PER_TOKEN, 0)
    return Calibration(model, chars / tokens, calls)


@dataclass(frozen=True)
class Estimate:
    """The estimated input of one model call, part by part, and what it may cost."""

    model: str
    parts: list[tuple[str, int]]  # (what, tokens)
    calibration: Calibration
    output_tokens: int
    dollars: tuple[float, float] | None  # (the input alone, the input and the assumed output); None: no price

    @property
    def input_tokens(self) -> int:
        """The whole request, in tokens."""
        return sum(tokens for _, tokens in self.parts)

    def render(self) -> str:
        """The estimate as a few lines of plain text."""
        width = max(len(label) for label, _ in self.parts)
        lines = [f"Estimate of the next call to {self.model} (nothing was sent):"]
        lines += [f"  {label:<{width}}  {tokens:>9,} tokens" for label, tokens in self.parts]
        lines.append(f"  {'input':<{width}}  {self.input_tokens:>9,} tokens")
        dollars = self.dollars
        if dollars is None:
            lines.append(f"  cost: no price for {self.model} (set AgentMagic.prices to price it)")
        else:
            low, high = dollars
            lines.append(
                f"  cost: ${low:.4f} for the input … ${high:.4f} with up to {self.output_tokens:,} output tokens"
            )
        lines.append(
            f"An estimate, not a count: {self.calibration.basis()}. A turn that calls tools makes more calls, "
            "each sending the conversation again."
        )
        return "\n".join(lines)


def _tokens(chars: int, calibration: Calibration) -> int:
    return math.ceil(chars / calibration.chars_per_token) if chars else 0


def estimate(request: ModelRequest, calibration: Calibration, pricing: Pricing, output_tokens: int) -> Estimate:
    """The estimate of sending `request` (system prompt first, the new prompt last) to the calibration's
    model, priced by `pricing` (the session's `Pricing`)."""
    system, *history, prompt = request.messages
    parts = [
        ("system prompt", len(canonical_json(system))),
        (f"tools ({len(request.tools)})", len(canonical_json(request.tools)) if request.tools else 0),
        (f"history ({len(history)} messages)", sum(len(canonical_json(message)) for message in history)),
        ("new prompt", len(canonical_json(prompt))),
    ]
    if request.response_format is not None:
        parts.append(("answer format (--schema)", len(canonical_json(request.response_format))))
    measured = [(label, _tokens(chars, calibration)) for label, chars in parts]
    model, input_tokens = calibration.model, sum(tokens for _, tokens in measured)
    low, high = pricing(model, input_tokens, 0, 0), pricing(model, input_tokens, 0, output_tokens)
    dollars = None if low is None or high is None else (low, high)
    return Estimate(model, measured, calibration, output_tokens, dollars)
