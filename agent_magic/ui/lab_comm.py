"""Kernel side of the JupyterLab companion: the `agent_magic` comm target and the event publisher.

The frontend extension opens a comm to the target `agent_magic` once it sees agent_magic in use; the
kernel then mirrors every turn's activity to it (see `lab_protocol.py` for the schema) and takes `stop`
requests back. With no frontend listening (terminal IPython, nbclient, Notebook 7 or VS Code without the
extension) no comm is ever opened and `handle()` only tracks the running turn: nothing is sent, nothing
is queried, nothing fails. Usage numbers are the ledger's `session_totals()`, so the status bar shows
the same numbers as `%agent usage`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    TextDelta,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    Usage,
)
from agent_magic.ui import lab_protocol as protocol

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from agent_magic.runtime import AgentRuntime

log = logging.getLogger("agent_magic.lab")


class LabCommPublisher:
    """An `EventSubscriber` that publishes turn activity to every open `agent_magic` comm.

    Example:
        >>> publisher = LabCommPublisher(runtime)
        >>> runtime.subscribers.append(publisher)
        >>> comm_manager.register_target(COMM_TARGET, publisher.open)
    """

    def __init__(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime
        self._seen_events = False
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
        """The current conversation's totals from the ledger (zeros before this kernel's first turn)."""
        session_id = self.runtime.session.session_id
        if not self._seen_events:  # don't create the ledger database just because a frontend connected
            return protocol.empty_usage(session_id)
        from agent_magic.ledger.summary import session_totals

        try:
            return session_totals(session_id)
        except Exception:  # an unreadable ledger must not break the turn: the frontend shows unknown cost
            log.debug("session_totals failed", exc_info=True)
            return protocol.empty_usage(session_id, cost_known=False)

    def _on_msg(self, msg: dict[str, Any]) -> None:
        kind = protocol.incoming_type(msg.get("content", {}).get("data"))
        if kind == protocol.STOP:
            self.runtime.stop_turn()

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
        if isinstance(event, TextDelta):
            return  # per token, and the frontend shows no text: the hottest path does nothing
        self._seen_events = True
        cell_id = self._running["cell_id"] if self._running else None
        if isinstance(event, TurnStarted):
            self._running = {"turn_id": event.turn_id, "cell_id": event.cell_id}
            self.broadcast(protocol.turn_started_message(event))
        elif isinstance(event, ApprovalRequested):
            message = protocol.approval_requested_message(event, cell_id)
            self._approvals[event.call.call_id] = message
            self.broadcast(message)
        elif isinstance(event, ApprovalDecided):
            self._approvals.pop(event.call.call_id, None)
            self.broadcast(protocol.approval_decided_message(event, cell_id))
        elif isinstance(event, TurnEnded):
            self._running = None
            for call_id in [k for k, v in self._approvals.items() if v["turn_id"] == event.turn_id]:
                del self._approvals[call_id]
            self.broadcast(protocol.turn_ended_message(event, cell_id))
        if self._comms and isinstance(event, Usage | ToolFinished | ApprovalDecided | TurnEnded):
            self.broadcast(protocol.usage_message(self.usage()))


def attach(shell: InteractiveShell, runtime: AgentRuntime) -> LabCommPublisher | None:
    """Subscribe a publisher to `runtime` and register the comm target, when running in a kernel."""
    kernel = getattr(shell, "kernel", None)
    comm_manager = getattr(kernel, "comm_manager", None)
    if comm_manager is None:
        return None  # terminal IPython: no frontend can connect
    publisher = LabCommPublisher(runtime)
    runtime.subscribers.append(publisher)
    comm_manager.register_target(protocol.COMM_TARGET, publisher.open)
    return publisher


def detach(shell: InteractiveShell, publisher: LabCommPublisher | None) -> None:
    """Undo `attach`: close the comms and unregister the target."""
    if publisher is None:
        return
    publisher.close()
    comm_manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
    if comm_manager is not None:
        comm_manager.targets.pop(protocol.COMM_TARGET, None)
