"""The one result shape every tool call returns to the model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced: `ok` and `data`, or an `error_code` with a message.

    `retryable` tells the model whether calling again (e.g. with other arguments) could help. `changes`
    says what the call changed (`events.FileChange`, `events.NamespaceChange`), so the session can report
    it for undo; it is never shown to the model.
    """

    ok: bool
    data: Any = None
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = False
    changes: tuple[Any, ...] = ()

    @classmethod
    def success(cls, data: Any) -> ToolResult:
        """A successful result carrying `data` (anything JSON can encode; other objects become repr)."""
        return cls(ok=True, data=data)

    @classmethod
    def failure(cls, error_code: str, message: str, *, retryable: bool = False) -> ToolResult:
        """A failed result: `error_code` is a stable identifier, `message` a short explanation."""
        return cls(ok=False, error_code=error_code, error_message=message, retryable=retryable)

    def to_json(self) -> str:
        """The result as JSON text: dataclasses inside `data` as objects, other non-JSON values by their repr;
        `changes` left out (never shown to the model).

        Encoded as it stands, without `asdict`'s deep copy of the data (which cost more than the encoding
        on every file read, and fails on objects that cannot be copied).
        """
        shown = {
            "ok": self.ok,
            "data": self.data,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "retryable": self.retryable,
        }
        return json.dumps(shown, ensure_ascii=False, default=_shown)


def _shown(value: Any) -> Any:
    """How JSON shows a value it cannot encode: a dataclass as its fields, anything else by its repr."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return repr(value)
