"""A stand-in for IPython's `display` that records what a frontend would receive: every display and update,
and the cell's outputs as they stand after the updates (as JupyterLab applies them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    """One display message: `display_data` or `update_display_data`."""

    kind: str
    display_id: str
    data: dict[str, str]
    metadata: dict[str, Any] | None

    @property
    def size(self) -> int:
        """Bytes of the data and metadata as JSON (what the message carries beyond its envelope)."""
        return len(json.dumps({"data": self.data, "metadata": self.metadata or {}}).encode())


class _Handle:
    def __init__(self, recorder: DisplayRecorder, display_id: str) -> None:
        self._recorder = recorder
        self.display_id = display_id

    def update(self, obj: dict[str, str], *, raw: bool = False, metadata: dict[str, Any] | None = None) -> None:
        assert raw, "the renderer sends raw MIME bundles"
        self._recorder.messages.append(Message("update_display_data", self.display_id, dict(obj), metadata))


@dataclass
class DisplayRecorder:
    """Call it like `display(bundle, raw=True, display_id=True, metadata=...)`."""

    messages: list[Message] = field(default_factory=list)

    def __call__(
        self, obj: Any, *, raw: bool = False, display_id: bool | str | None = None, metadata: dict | None = None
    ) -> _Handle:
        name = f"d{len(self.messages)}"
        data = dict(obj) if raw else {"text/plain": repr(obj)}
        self.messages.append(Message("display_data", name, data, metadata))
        return _Handle(self, name)

    def outputs(self) -> list[Message]:
        """The outputs in the cell, in order, each as its latest message."""
        latest: dict[str, Message] = {}
        for message in self.messages:
            latest[message.display_id] = message
        return list(latest.values())

    def visible(self) -> list[Message]:
        """The outputs that show something (emptied ones left out)."""
        return [m for m in self.outputs() if any(m.data.values())]

    def texts(self) -> list[str]:
        """Each visible output's plain text (or its richest form when it has none)."""
        return [m.data.get("text/plain") or next(iter(m.data.values())) for m in self.visible()]

    @property
    def bytes_sent(self) -> int:
        return sum(message.size for message in self.messages)
