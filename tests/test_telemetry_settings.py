"""Telemetry settings without a receiver: the standard variables we honour, the one-line errors for the
ones we cannot, the provider of an endpoint, and the once-only report of an unreachable collector."""

from __future__ import annotations

import pytest

from agent_magic.config import AgentMagic
from agent_magic.errors import AgentUsageError
from agent_magic.runtime import AgentRuntime
from agent_magic.telemetry import MISSING_SDK
from agent_magic.telemetry.genai import endpoint_attributes
from agent_magic.telemetry.providers import ExportHealth
from agent_magic.telemetry.settings import ExportSettings


def test_traces_and_metrics_default_to_otlp_over_http_on_the_local_collector():
    settings = ExportSettings.from_env({})

    assert (settings.traces.protocol, settings.traces.endpoint) == ("http/protobuf", "http://localhost:4318")
    assert settings.metrics.enabled


def test_the_signal_specific_protocol_and_endpoint_win_over_the_general_ones():
    settings = ExportSettings.from_env(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4317",
        }
    )

    assert (settings.traces.protocol, settings.traces.endpoint) == ("grpc", "http://tempo:4317")
    assert (settings.metrics.protocol, settings.metrics.endpoint) == ("http/protobuf", "http://collector:4318")


def test_a_signal_whose_exporter_is_none_is_not_exported():
    settings = ExportSettings.from_env({"OTEL_METRICS_EXPORTER": "none"})

    assert settings.traces.enabled and not settings.metrics.enabled


def test_credentials_in_an_endpoint_url_never_reach_a_message():
    settings = ExportSettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://team:s3cr3t-token@collector:4318"})

    assert settings.describe() == "https://collector:4318 (http/protobuf)"


@pytest.mark.parametrize(
    ("variable", "value", "fix"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "use http/protobuf or grpc"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "use otlp or none"),
        ("OTEL_METRICS_EXPORTER", "prometheus", "use otlp or none"),
    ],
)
def test_a_value_the_exporters_cannot_honour_is_refused_with_the_fix(variable, value, fix):
    with pytest.raises(ValueError, match=fix) as refused:
        ExportSettings.from_env({variable: value})

    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("base_url", "provider", "address", "port"),
    [
        (None, "openai", "api.openai.com", 443),
        ("https://my-res.openai.azure.com/openai/v1", "azure.ai.openai", "my-res.openai.azure.com", 443),
        ("http://localhost:11434/v1", "openai_compatible", "localhost", 11434),
        ("https://api.groq.com/openai/v1", "groq", "api.groq.com", 443),
    ],
)
def test_the_provider_and_server_of_an_endpoint(base_url, provider, address, port):
    assert endpoint_attributes(base_url) == {
        "gen_ai.provider.name": provider,
        "server.address": address,
        "server.port": port,
    }


def test_the_demo_model_is_its_own_provider():
    assert endpoint_attributes("http://127.0.0.1:5000/v1", demo=True)["gen_ai.provider.name"] == "agent_magic.demo"


def test_an_export_outage_is_reported_once_and_its_end_once():
    health = ExportHealth("http://collector:4318 (http/protobuf)")

    health.record(False, "ConnectionError: refused")
    health.record(False, "ConnectionError: refused")
    first, again = health.take_report(), health.take_report()
    health.record(True)
    back, quiet = health.take_report(), health.take_report()

    assert first is not None and "http://collector:4318" in first and "refused" in first
    assert again is None and quiet is None
    assert back == "OpenTelemetry export to http://collector:4318 (http/protobuf) works again"


def test_exports_that_keep_working_report_nothing():
    health = ExportHealth("x")

    health.record(True)

    assert health.take_report() is None


def _runtime() -> AgentRuntime:
    return AgentRuntime(AgentMagic(), {})


def test_a_bad_agent_magic_telemetry_variable_fails_the_cell_with_one_line(monkeypatch):
    monkeypatch.setenv("AGENT_MAGIC_TELEMETRY", "jaeger")

    with pytest.raises(AgentUsageError, match="AGENT_MAGIC_TELEMETRY must be off or otlp, not 'jaeger'"):
        _runtime().turn_settings()


def test_a_protocol_the_exporters_cannot_use_fails_the_cell_before_the_turn(monkeypatch):
    monkeypatch.setenv("AGENT_MAGIC_TELEMETRY", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")

    with pytest.raises(AgentUsageError, match="use http/protobuf or grpc"):
        _runtime().turn_settings()


def test_telemetry_without_the_sdk_installed_says_which_extra_to_install(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("opentelemetry") else real_find_spec(name, *a),
    )
    monkeypatch.setenv("AGENT_MAGIC_TELEMETRY", "otlp")

    with pytest.raises(AgentUsageError) as refused:
        _runtime().turn_settings()

    assert str(refused.value) == MISSING_SDK and "agent-magic[otel]" in MISSING_SDK


def test_telemetry_off_needs_no_opentelemetry(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: pytest.fail(f"looked for {name}"))

    settings = _runtime().turn_settings()

    assert settings.model
