"""Test-suite timing: runs the suite (by default everything but the browser tests, as `make test-fast`)
and prints, per test file, its time and the kernels it started, then the totals: wall time, CPU time
of pytest and every process it waited for (kernels, servers), and kernel starts.

Kernel starts dominate a real-kernel test's time (a new process, then openai and pandas imported by its
first turn), so the count is the figure to watch: tests that only need the IPython glue share one kernel
per module (`shared_kernel` in tests/conftest.py), and loop, budget and ledger logic runs in memory.
Target: the non-browser suite at least twice as fast as before them (the baseline below, measured on this
project's 2-core machine while other work ran on it: compare figures taken under a similar load).

It runs the files one after another in one process, as the per-file times and the kernel count need
(kernels started by pytest-xdist workers would not be counted); `make test` spreads the files over two
workers, so its wall time is roughly the larger of the two workers' sums of these per-file times.

Run: .venv/bin/python benchmarks/bench_test_suite.py [-m "MARKERS"] [pytest arguments]
"""

from __future__ import annotations

import collections
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]
# `-m "not browser"` before the shared kernel and the in-memory tests: 504 tests then (tests added since,
# such as the MCP ones, add their own time).
BASELINE = {"wall s": 1088.0, "CPU s": 297.6, "kernel starts": 93}


class SuiteTimer:
    """A pytest plugin: each file's time (setup + call + teardown) and outcome counts, and the kernel
    launches made while each file's tests ran (nbclient's and nbval's kernels included)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.kernels: dict[str, int] = collections.defaultdict(int)
        self.outcomes: dict[str, int] = collections.defaultdict(int)
        self._file = "(collection)"

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Note which file is running, for the kernel count."""
        self._file = item.nodeid.split("::")[0]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Add each phase's time to its file; count each test's outcome (its call's, or its setup's when
        the setup failed or skipped it)."""
        self.seconds[report.nodeid.split("::")[0]] += report.duration
        if report.when == "call":
            self.outcomes[report.outcome] += 1
        elif report.when == "setup" and report.outcome != "passed":
            self.outcomes["error" if report.failed else report.outcome] += 1

    def count_launches(self) -> None:
        """Count every kernel launch: jupyter_client launches all kernels through this one method (a
        private one, so the count belongs in a benchmark, never in the product)."""
        launch = KernelManager._async_launch_kernel
        timer = self

        async def counting(manager: KernelManager, *args: Any, **kwargs: Any) -> Any:
            timer.kernels[timer._file] += 1
            return await launch(manager, *args, **kwargs)

        KernelManager._async_launch_kernel = counting  # type: ignore[method-assign]


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str]) -> int:
    arguments = argv or ["-m", "not browser"]
    timer = SuiteTimer()
    timer.count_launches()
    os.chdir(ROOT)  # the pyproject's testpaths and options apply
    started, cpu_before = time.monotonic(), cpu_seconds()
    status = pytest.main([*arguments, "-q", "-p", "no:cacheprovider", "--no-header"], plugins=[timer])
    wall, cpu = time.monotonic() - started, cpu_seconds() - cpu_before

    files = sorted(timer.seconds, key=lambda f: -timer.seconds[f])
    width = max((len(f) for f in files), default=10)
    print(f"\n{'test file':<{width}}  seconds  kernels")
    for name in files:
        print(f"{name:<{width}}  {timer.seconds[name]:7.1f}  {timer.kernels.get(name, 0):7d}")
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(timer.outcomes.items()))
    print(f"\ntests: {outcomes}")
    measured = {"wall s": wall, "CPU s": cpu, "kernel starts": sum(timer.kernels.values())}
    print(f"\n{'measure':<14} {'now':>8} {'baseline':>9} {'target':>8}")
    for name, value in measured.items():
        baseline = BASELINE[name]
        target = f"<= {baseline / 2:.0f}" if name == "wall s" else ""
        print(f"{name:<14} {value:8.0f} {baseline:9.0f} {target:>8}")
    return int(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
