"""Fault-injection summary: runs the fault suite (tests/test_faults.py, real kernels against the loopback
server) and prints which faults the agent survived, with the times the tests measured.

1. One row per injected fault: survived (the test's assertions on cell output, transcript and ledger
   held) or not, and the test's wall time.
2. The measured times: the wait a server's Retry-After asked for vs the wait observed, and the latency
   from a kernel interrupt to the cell ending, while streaming, waiting for approval, waiting in a retry
   backoff, and running a shell or a Python tool (target <= 0.5 s); how long a stalled answer (30 s
   silence, stream_idle_timeout 1 s) and an endless stream (1 MB cap) took to end.

Run: .venv/bin/python benchmarks/fault_summary.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[1] / "tests" / "test_faults.py"
INTERRUPT_TARGET_S = 0.5


class Collector:
    """A pytest plugin that keeps each test's outcome, duration and recorded properties."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Called for setup, call and teardown of each test: a failure in any phase is a failure."""
        row = self.rows.setdefault(report.nodeid, {"passed": True, "seconds": 0.0, "properties": {}})
        row["seconds"] += report.duration
        row["passed"] = row["passed"] and not report.failed
        row["properties"].update(dict(report.user_properties))


def fault_name(nodeid: str) -> str:
    """`tests/test_faults.py::test_429_twice_then_success` -> `429 twice then success`."""
    return nodeid.split("::")[-1].removeprefix("test_").replace("_", " ")


def main() -> int:
    collector = Collector()
    pytest.main(
        [str(SUITE), "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts=", "--timeout=300"],
        plugins=[collector],
    )
    rows = collector.rows
    width = max(len(fault_name(n)) for n in rows) if rows else 10
    print(f"\n{'fault':<{width}}  survived  seconds")
    for nodeid, row in rows.items():
        print(f"{fault_name(nodeid):<{width}}  {'yes' if row['passed'] else 'NO':<8}  {row['seconds']:7.2f}")
    survived = sum(row["passed"] for row in rows.values())
    print(f"\nfaults survived / tried: {survived} / {len(rows)}")

    measured = {k: v for row in rows.values() for k, v in row["properties"].items()}
    print("\nmeasured                                      seconds")
    if "retry_after_asked_s" in measured:
        print(f"Retry-After asked                             {measured['retry_after_asked_s']:7.3f}")
        print(f"Retry-After waited (notice to next answer)    {measured['retry_after_waited_s']:7.3f}")
    for key, label in [
        ("interrupt_streaming_s", "interrupt -> cell ended, streaming"),
        ("interrupt_approval_s", "interrupt -> cell ended, approval wait"),
        ("interrupt_backoff_s", "interrupt -> cell ended, retry backoff"),
        ("interrupt_shell_s", "interrupt -> cell ended, shell tool"),
        ("interrupt_python_s", "interrupt -> cell ended, Python tool"),
        ("stop_button_backoff_s", "Lab Stop -> cell ended, retry backoff"),
    ]:
        if key in measured:
            verdict = "ok" if measured[key] <= INTERRUPT_TARGET_S else f"over the {INTERRUPT_TARGET_S} s target"
            print(f"{label:<44}  {measured[key]:7.3f}  {verdict}")
    for key, label in [
        ("stall_abandoned_after_s", "stalled answer (limit 1 s) -> restarted, ended"),
        ("endless_stream_stopped_s", "endless stream -> stopped at 1 MB"),
    ]:
        if key in measured:
            print(f"{label:<44}  {measured[key]:7.3f}")
    return 0 if rows and survived == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
