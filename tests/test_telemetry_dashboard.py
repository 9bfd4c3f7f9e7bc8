"""The Grafana dashboard in docs/ queries only series agent_magic produces: the instruments of
`telemetry.metrics`, recorded through a real SDK MeterProvider, named the way an OpenTelemetry collector's
Prometheus exporter (or Prometheus's own OTLP receiver) names them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum

from agent_magic.telemetry.metrics import AgentMetrics

DASHBOARD = Path(__file__).parents[1] / "docs" / "grafana" / "agent_magic_dashboard.json"
UNIT_SUFFIXES = {"s": "_seconds"}  # units in braces are annotations: no suffix
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "sort_desc", "le", "without", "on", "ignoring",
}  # fmt: skip


def produced_series() -> tuple[set[str], set[str]]:
    """Prometheus series names and label names of every instrument, after recording one of each."""
    reader = InMemoryMetricReader()
    metrics = AgentMetrics(MeterProvider(metric_readers=[reader]).get_meter("test"))
    attributes = {"user.name": "u", "gen_ai.request.model": "m", "gen_ai.provider.name": "p"}
    chat = {**attributes, "gen_ai.operation.name": "chat"}
    metrics.model_call(chat, input_tokens=1, output_tokens=1, seconds=1, cost=0.1, error_type=None)
    metrics.model_call(chat, input_tokens=1, output_tokens=1, seconds=1, cost=None, error_type="APIError")
    metrics.tool_call({**attributes, "gen_ai.tool.name": "t"}, outcome="ok", decision="auto")
    metrics.turn({**attributes, "gen_ai.operation.name": "invoke_agent"}, seconds=1, state="completed", error_type=None)
    names, labels = set(), {"le"}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                base = metric.name.replace(".", "_") + UNIT_SUFFIXES.get(metric.unit, "")
                if isinstance(metric.data, Histogram):
                    names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
                elif isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    names.add(f"{base}_total")
                else:
                    names.add(base)
                for point in metric.data.data_points:
                    labels |= {key.replace(".", "_") for key in point.attributes}
    return names, labels


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_every_panel_has_a_title_and_a_query_on_the_chosen_prometheus():
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["targets"], panel
        assert all(t["expr"] and t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


@pytest.mark.parametrize("expr", expressions())
def test_every_query_names_only_series_and_labels_agent_magic_produces(expr):
    names, labels = produced_series()
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    used_metrics = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?=\{)", without_strings))
    used_metrics |= set(re.findall(r"label_values\((\w+)", without_strings))
    used_labels = set(re.findall(r"(\w+)\s*(?:=~|!=|=)\s*\"", without_strings))
    for group in re.findall(r"\bby \(([^)]*)\)", without_strings):
        used_labels |= {label.strip() for label in group.split(",")}
    used_labels |= set(re.findall(r"label_values\(\w+, (\w+)\)", without_strings))

    assert used_metrics and used_metrics <= names, used_metrics - names
    assert used_labels <= labels, used_labels - labels
    assert not (used_metrics & PROMQL_WORDS)
