"""Kernel side of the JupyterLab companion: the `agent_magic` comm target and the event publisher.

The frontend extension opens a comm to the target `agent_magic` once it sees agent_magic in use; the
kernel then mirrors every turn's activity to it (see `lab_protocol.py` for the schema) and takes `stop`,
`panel_request` (answered by `lab_panel.PanelFeed`) and `decide` (a keyboard approval, handed to the
waiting button prompt) requests back. With no frontend listening (terminal IPython, nbclient, Notebook 7 or VS Code without the
extension) no comm is ever opened and `handle()` only tracks the running turn: nothing is sent, nothing
is queried, nothing fails. Usage numbers are the ledger's session totals, read once per session and then
kept current from the events (`ledger/totals.py`), so the status bar shows the same numbers as `%agent
usage` whatever order the subscribers run in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    ReasoningDelta,
    TextDelta,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    Usage,
)
from agent_magic.ledger.totals import empty_totals
from agent_magic.ui import lab_protocol as protocol
from agent_magic.ui.lab_panel import PanelFeed

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from agent_magic.ledger.totals import SessionTally

# Reads one session's totals from the ledger (may raise when the ledger is unreadable).
TotalsReader = Callable[[str], dict[str, Any]]

log = logging.getLogger("agent_magic.lab")


class LabCommPublisher:
    """An `EventSubscriber` that publishes turn activity to every open `agent_magic` comm.

    It is given what it needs: `stop_turn()` (the frontend's Stop), `read_totals(session_id)` (the
    ledger's totals of a session) and `current_session()` (the id of the conversation cells use now).

    Example:
        >>> publisher = LabCommPublisher(stop_turn=runtime.stop_turn, read_totals=..., current_session=...)
        >>> runtime.subscribers.append(publisher)
        >>> comm_manager.register_target(COMM_TARGET, publisher.open)
    """

    def __init__(
        self,
        *,
        stop_turn: Callable[[], bool],
        read_totals: TotalsReader,
        current_session: Callable[[], str],
        panel: PanelFeed,
    ) -> None:
        self._stop_turn = stop_turn
        self._read_totals = read_totals
        self._current_session = current_session
        self._panel = panel
        self._seen_events = False
        self._tally: SessionTally | None = None
        self._comms: dict[str, Any] = {}
        self._running: dict[str, Any] | None = None
        self._approvals: dict[str, dict[str, Any]] = {}

    # -- the comm -------------------------------------------------------------------------------------

    def open(self, comm: Any, open_msg: dict[str, Any]) -> None:
        """Comm target callback: remember the frontend's comm and send it the current state."""
        self._comms[comm.comm_id] = comm
        comm.on_msg(self._on_msg)
        comm.on_close(lambda _msg: self._comms.pop(comm.comm_id, None))
        self._send_to(comm, self.state())

    def state(self) -> dict[str, Any]:
        """The snapshot a newly connected frontend needs."""
        return protocol.state_message(self._running, list(self._approvals.values()), self.usage())

    def usage(self) -> dict[str, Any]:
        """The current conversation's totals (zeros before this kernel's first turn)."""
        session_id = self._current_session()
        if not self._seen_events:  # don't create the ledger database just because a frontend connected
            return empty_totals(session_id)
        tally = self._tally_for(session_id)
        return tally.totals() if tally is not None else empty_totals(session_id, cost_known=False)

    def _tally_for(self, session_id: str) -> SessionTally | None:
        """The running totals of `session_id`, read from the ledger when it becomes the one shown."""
        if self._tally is None or self._tally.session_id != session_id:
            from agent_magic.ledger.totals import SessionTally

            try:
                self._tally = SessionTally(self._read_totals(session_id))
            except Exception:  # an unreadable ledger must not break the turn: the frontend shows unknown cost
                log.debug("reading the session totals failed", exc_info=True)
                self._tally = None
        return self._tally

    def _on_msg(self, msg: dict[str, Any]) -> None:
        content = msg.get("content", {})
        data = content.get("data")
        kind = protocol.incoming_type(data)
        if kind == protocol.STOP:
            self._stop_turn()
        elif kind == protocol.PANEL_REQUEST:
            comm = self._comms.get(content.get("comm_id"))
            if comm is not None:
                self._panel.request(data["scope"], data["request_id"], lambda reply: self._send_to(comm, reply))
        elif kind == protocol.DECIDE:
            from agent_magic.ui.approval_widget import PENDING_PROMPTS  # deferred: ipywidgets' side

            PENDING_PROMPTS.decide(data["call_id"], data["decision"])

    def broadcast(self, data: dict[str, Any]) -> None:
        """Send `data` to every open comm (none open: nothing happens)."""
        for comm in list(self._comms.values()):
            self._send_to(comm, data)

    def _send_to(self, comm: Any, data: dict[str, Any]) -> None:
        try:
            comm.send(data)
        except Exception:  # a broken channel must never break the turn; forget that frontend
            log.debug("dropping comm %s", getattr(comm, "comm_id", "?"), exc_info=True)
            self._comms.pop(getattr(comm, "comm_id", None), None)

    def close(self) -> None:
        """Close every comm (on %unload_ext), so frontends reconnect to the next publisher."""
        for comm in list(self._comms.values()):
            try:
                comm.close()
            except Exception:  # already gone: nothing to close
                log.debug("closing comm failed", exc_info=True)
        self._comms.clear()

    # -- events ---------------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Track the running turn and pending approvals; tell connected frontends what changed."""
        if isinstance(event, TextDelta | ReasoningDelta):
            return  # per token, and the frontend shows no text: the hottest path does nothing
        self._seen_events = True
        cell_id = self._running["cell_id"] if self._running else None
        if isinstance(event, TurnStarted):
            self._tally_for(event.session_id)  # before this turn's rows exist: the ledger's part is settled
            self._running = {"turn_id": event.turn_id, "cell_id": event.cell_id}
            self.broadcast(protocol.turn_started_message(event))
        elif isinstance(event, ApprovalRequested):
            message = protocol.approval_requested_message(event, cell_id)
            self._approvals[event.call.call_id] = message
            self.broadcast(message)
        elif isinstance(event, ApprovalDecided):
            self._approvals.pop(event.call.call_id, None)
        elif isinstance(event, TurnEnded):
            self._running = None
            for call_id in [k for k, v in self._approvals.items() if v["turn_id"] == event.turn_id]:
                del self._approvals[call_id]
        for message in self._panel.live(event, cell_id):  # the decision itself is one of these
            self.broadcast(message)
        if isinstance(event, TurnEnded):
            self.broadcast(protocol.turn_ended_message(event, cell_id))
        changed = self._tally is not None and self._tally.apply(event)
        if self._comms and (changed or isinstance(event, Usage | ToolFinished | ApprovalDecided | TurnEnded)):
            self.broadcast(protocol.usage_message(self.usage()))


def attach(shell: InteractiveShell, publisher: LabCommPublisher) -> bool:
    """Register the comm target of `publisher`, when running in a kernel (False: terminal IPython, where
    no frontend can connect)."""
    comm_manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
    if comm_manager is None:
        return False
    comm_manager.register_target(protocol.COMM_TARGET, publisher.open)
    return True


def detach(shell: InteractiveShell, publisher: LabCommPublisher | None) -> None:
    """Undo `attach`: close the comms and unregister the target."""
    if publisher is None:
        return
    publisher.close()
    comm_manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
    if comm_manager is not None:
        comm_manager.targets.pop(protocol.COMM_TARGET, None)
