"""Real OpenTelemetry receivers for the telemetry tests, started by the tests on loopback ports.

- Arize Phoenix (PyPI `arize-phoenix`): an LLM-tracing backend teams run; it ingests OTLP over HTTP
  and gRPC and answers REST queries for the spans it stored.
- Rotel (PyPI `rotel`): a lightweight OpenTelemetry collector (Rust); it receives OTLP metrics and,
  with its debug log on, prints what it received in the OpenTelemetry Collector's "detailed" format,
  which `RotelCollector.metrics()` reads back.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """A loopback port free right now (bound, then released: nothing listens on it until someone does)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Any, *, timeout: float, interval: float = 0.25, what: str = "condition") -> Any:
    """Poll `check()` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class _Process:
    def __init__(self, args: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def check_alive(self, name: str) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"{name} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class PhoenixServer:
    """`phoenix serve` in a temporary working directory (its SQLite database), HTTP and gRPC on loopback."""

    def __init__(self, workdir: Path) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": str(workdir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.http_port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            # Offline and quiet: no usage telemetry, no downloads, no remote docs or sandboxes.
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
            "PHOENIX_ALLOWED_SANDBOX_PROVIDERS": "NONE",
            "PHOENIX_ENABLE_MCP_SERVER": "false",
        }
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        phoenix = Path(sys.executable).with_name("phoenix")
        self._process = _Process([str(phoenix), "serve"], env=env, log_path=workdir / "phoenix.log")

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def wait_ready(self, timeout: float = 240) -> None:
        def healthy() -> bool:
            self._process.check_alive("phoenix")
            try:
                with urllib.request.urlopen(f"{self.http_endpoint}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(healthy, timeout=timeout, interval=0.5, what="Phoenix to start")

    def _get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self.http_endpoint}{path}", timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # the project does not exist (yet): nothing was stored in it
                return {"data": [], "next_cursor": None}
            raise

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span stored in `project` (REST API, all pages)."""
        spans, cursor = [], None
        while True:
            page = self._get(f"/v1/projects/{project}/spans?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            spans += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return spans

    def trace(self, project: str, trace_id: str, *, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """The spans of one trace, once at least `count` of them arrived."""

        def arrived() -> list[dict[str, Any]]:
            found = [s for s in self.spans(project) if s["context"]["trace_id"] == trace_id]
            return found if len(found) >= count else []

        return wait_until(arrived, timeout=timeout, what=f"{count} spans of trace {trace_id} in {project}")

    def stop(self) -> None:
        self._process.stop()


@dataclass
class DataPoint:
    """One metric data point as the collector printed it."""

    attributes: dict[str, str]
    value: float | None = None  # sums and gauges
    count: int | None = None  # histograms
    sum: float | None = None


@dataclass
class Metric:
    name: str
    unit: str
    data_type: str
    points: list[DataPoint] = field(default_factory=list)


_ATTRIBUTE = re.compile(r"^\s+-> ([^:]+): (\w+)\((.*)\)$")


class RotelCollector:
    """`rotel-agent start` receiving OTLP on loopback, its debug log of metrics in a file."""

    def __init__(self, workdir: Path) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        agent = resources.files("rotel") / "rotel-agent"
        args = [
            str(agent),
            "start",
            "--otlp-http-endpoint",
            f"127.0.0.1:{self.http_port}",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{self.grpc_port}",
            "--exporter",
            "blackhole",
            "--debug-log",
            "metrics",
            "--debug-log-verbosity",
            "detailed",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ROTEL_", "OTEL_"))}
        self._process = _Process(args, env={**env, "NO_COLOR": "1"}, log_path=workdir / "rotel.log")

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def wait_ready(self, timeout: float = 30) -> None:
        def listening() -> bool:
            self._process.check_alive("rotel")
            try:
                socket.create_connection(("127.0.0.1", self.http_port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(listening, timeout=timeout, what="rotel to listen")

    def metrics(self) -> list[Metric]:
        """Every metric in every export received so far, in order (cumulative exports repeat them)."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", self._process.log_path.read_text(errors="replace"))
        metrics: list[Metric] = []
        metric: Metric | None = None
        point: DataPoint | None = None
        section = ""
        for line in text.splitlines():
            if line.startswith("Metric #"):
                metric, point, section = None, None, "descriptor"
                continue
            if section == "descriptor" and (found := _ATTRIBUTE_FIELD.match(line)):
                key, value = found.groups()
                if key == "Name":
                    metric = Metric(name=value, unit="", data_type="")
                    metrics.append(metric)
                elif metric is not None and key == "Unit":
                    metric.unit = value
                elif metric is not None and key == "DataType":
                    metric.data_type = value
                continue
            if metric is None:
                continue
            if re.match(r"^(Histogram|Number)DataPoints #", line):
                point = DataPoint(attributes={})
                metric.points.append(point)
                section = "point"
            elif point is not None and (found := _ATTRIBUTE.match(line)) and section == "point":
                point.attributes[found.group(1)] = found.group(3)
            elif point is not None and (found := re.match(r"^(Value|Count|Sum): (\S+)$", line)):
                key, value = found.groups()
                if key == "Value":
                    point.value = float(value)
                elif key == "Count":
                    point.count = int(value)
                else:
                    point.sum = float(value)
            elif line.startswith(("ResourceMetrics #", "ScopeMetrics #")):
                metric, point, section = None, None, ""
        return metrics

    def latest(self, name: str, **attributes: str) -> list[DataPoint]:
        """The data points of the last export of metric `name` whose attributes include `attributes`."""
        found = [m for m in self.metrics() if m.name == name]
        if not found:
            return []
        return [p for p in found[-1].points if all(p.attributes.get(k) == v for k, v in attributes.items())]

    def stop(self) -> None:
        self._process.stop()


_ATTRIBUTE_FIELD = re.compile(r"^\s+-> (Name|Description|Unit|DataType|IsMonotonic|AggregationTemporality): ?(.*)$")
