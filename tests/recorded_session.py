"""In-memory turns with a real ledger, for the budget and ledger tests: a `Session` on a `ScriptedModel`
whose events go, as they happen, to a real `LedgerRecorder` on a SQLite ledger in a temporary agent home,
the way a kernel's subscribers get them. No kernel and no HTTP server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from scripted_model import ScriptedModel

from agent_magic.contracts import Pricing, TurnSettings
from agent_magic.events import Event
from agent_magic.ledger.identity import current_notebook
from agent_magic.ledger.recorder import LedgerRecorder
from agent_magic.ledger.store import LedgerStore
from agent_magic.session import Session
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry

MODEL = "test-model"


class RecordedSession:
    """One conversation on `model` with the built-in tools in `workspace`, recorded in the ledger at `home`.

    The recorder files the session under the working directory, as a kernel that was not told its
    notebook does, so the `agent_magic.usage(home=...)` views see it by default. Guards (budgets) are
    added to `session.guards`.
    """

    def __init__(
        self,
        model: ScriptedModel,
        *,
        home: Path,
        workspace: Path,
        namespace: dict[str, Any] | None = None,
        pricing: Pricing | None = None,
    ) -> None:
        self.home = home
        self.store = LedgerStore(home)
        self.recorder = LedgerRecorder(self.store, notebook=current_notebook())
        self.session = Session(
            client_for=lambda name: model,
            tools=ToolRegistry(builtin_tools()),
            context=ToolContext(workspace, namespace or {}),
            pricing=pricing,
        )

    def turn(self, prompt: str, *, model: str = MODEL, **settings: Any) -> list[Event]:
        """Run one turn to its end; every event is recorded, and returned. The rows are written when it
        returns, so reads through another store (the views given `home=`) see them."""

        async def collect() -> list[Event]:
            events = []
            async for event in self.session.run_turn(prompt, TurnSettings(model=model, **settings)):
                self.recorder.handle(event)
                events.append(event)
            return events

        events = asyncio.run(collect())
        assert self.store.flush(), "the ledger's writer did not finish writing the turn's rows"
        return events
