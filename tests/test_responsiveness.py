"""The kernel keeps answering while tools work: `kernel_info` on the control channel and interrupts get
through whatever a tool is doing (parsing a long shell command, a regex search over a large file, a
stuck read). Latencies are recorded (`benchmarks/bench_responsiveness.py` prints them), not asserted."""

from __future__ import annotations

import json
import threading
import time

import pytest
from jupyter_client.session import Session

pytestmark = pytest.mark.kernel

LONG_COMMAND = "; ".join(f"echo step{i} > /dev/null" for i in range(700))  # ~19 KB for the guard to parse
HOSTILE_REGEX = "(a+)+$"


class ControlPinger:
    """Sends kernel_info requests on the control channel from its own client, every `every` seconds."""

    def __init__(self, kernel, every: float = 0.1) -> None:
        # A Session of its own: a shared one would number messages from two threads, and a duplicated
        # message id would make the cell's execute_reply look like the ping's.
        self.client = kernel.manager.client(session=Session(key=kernel.manager.session.key))
        self.client.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
        self.every = every
        self.latencies: list[float] = []
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.client.session.msg("kernel_info_request")
            sent = time.monotonic()
            self.client.control_channel.send(msg)
            try:
                while True:
                    reply = self.client.control_channel.get_msg(timeout=30)
                    if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                        break
                self.latencies.append(time.monotonic() - sent)
            except Exception:
                self.unanswered += 1
            self._stop.wait(self.every)

    def __enter__(self) -> ControlPinger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.client.stop_channels()


def run_with_pings(kernel, code: str, record_property, name: str, **kw):
    with ControlPinger(kernel) as pinger:
        run = kernel.execute(code, timeout=120, **kw)
    assert pinger.unanswered == 0 and pinger.latencies, "every kernel_info request was answered"
    record_property(f"{name}_kernel_info_max_s", round(max(pinger.latencies), 3))
    record_property(f"{name}_kernel_info_count", len(pinger.latencies))
    return run


def test_kernel_info_is_answered_while_the_guard_parses_a_long_command(shared_kernel, script, record_property):
    script.add_tool_calls(("run_shell", json.dumps({"command": LONG_COMMAND})))
    script.add_text("Ran.")
    run = run_with_pings(shared_kernel, "%%agent --approve run_shell\ngo", record_property, "guard")
    assert run.status == "ok" and "Ran." in run.text


def test_kernel_info_is_answered_during_a_hostile_regex_search(shared_kernel, script, workspace, record_property):
    (workspace / "big.txt").write_text(("a" * 50_000 + "!\n") * 90)  # ~4.5 MB of near-misses
    script.add_tool_calls(("search_files", json.dumps({"query": HOSTILE_REGEX, "regex": True})))
    script.add_text("Searched.")
    run = run_with_pings(shared_kernel, "%%agent\nsearch", record_property, "regex")
    assert run.status == "ok" and "Searched." in run.text


def test_an_interrupt_ends_a_turn_whose_tool_is_stuck_in_a_read(kernel, script, workspace, record_property):
    kernel.execute(
        "import os, agent_magic\n"
        "@agent_magic.tool\n"
        "def read_pipe(path: str) -> str:\n"
        "    '''Read a FIFO (blocks until a writer comes).'''\n"
        "    with open(path) as handle:\n"
        "        return handle.read()\n"
    )
    import os

    os.mkfifo(workspace / "pipe")
    script.add_tool_calls(("read_pipe", json.dumps({"path": str(workspace / "pipe")})))
    sent: list[float] = []
    idle: list[float] = []

    def interrupt_once_running(msg, k) -> None:
        data = msg["content"].get("data", {})
        if not sent and "running…" in data.get("text/plain", ""):
            sent.append(time.monotonic())
            k.manager.interrupt_kernel()
        if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle.append(time.monotonic())

    run = run_with_pings(kernel, "%%agent\nread it", record_property, "stuck", on_message=interrupt_once_running)
    assert run.status == "error" and "interrupted" in run.text
    record_property("stuck_interrupt_s", round(idle[-1] - sent[0], 3))
    after = kernel.execute("print('alive')")
    assert after.text.strip() == "alive"
    with open(workspace / "pipe", "w") as writer:  # release the stuck thread
        writer.write("x")
