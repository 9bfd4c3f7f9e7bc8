"""Which signals go where, read from the standard OpenTelemetry environment variables.

Pure parsing, no OpenTelemetry import: a mistake in these variables is reported as one line before a
turn starts. The exporters themselves read the rest of the standard variables (endpoint, headers,
timeout, certificates, compression, temporality) when they are built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_PROTOCOL = "http/protobuf"  # the specification's default for OTLP exporters
DEFAULT_ENDPOINTS = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}


@dataclass(frozen=True)
class SignalExport:
    """How one signal (traces or metrics) is exported; `protocol` None means not exported."""

    protocol: str | None
    endpoint: str

    @property
    def enabled(self) -> bool:
        """True when this signal is exported at all."""
        return self.protocol is not None


@dataclass(frozen=True)
class ExportSettings:
    """Where the traces and the metrics of this kernel go."""

    traces: SignalExport
    metrics: SignalExport

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExportSettings:
        """Read `OTEL_{TRACES,METRICS}_EXPORTER` (otlp or none) and `OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL`
        / `_ENDPOINT`; raises `ValueError` with a one-line fix for a value we cannot honour.

        Example:
            >>> ExportSettings.from_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_METRICS_EXPORTER": "none"})
            ExportSettings(traces=SignalExport(protocol='grpc', endpoint='http://localhost:4317'), \
metrics=SignalExport(protocol=None, endpoint=''))
        """
        env = os.environ if environ is None else environ
        return cls(traces=_signal(env, "traces"), metrics=_signal(env, "metrics"))

    def describe(self) -> str:
        """Where the data goes, for messages: `http://host:4318 (http/protobuf)`; credentials written into an
        endpoint URL (`https://user:token@host`) are left out, since the message is shown in the cell."""
        targets = {
            f"{_without_credentials(s.endpoint)} ({s.protocol})" for s in (self.traces, self.metrics) if s.enabled
        }
        return ", ".join(sorted(targets)) or "nowhere (OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER are none)"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _signal(env: Mapping[str, str], signal: str) -> SignalExport:
    upper = signal.upper()
    exporter_var = f"OTEL_{upper}_EXPORTER"
    exporters = [e.strip().lower() for e in env.get(exporter_var, "otlp").split(",") if e.strip()] or ["otlp"]
    if exporters == ["none"]:
        return SignalExport(protocol=None, endpoint="")
    if exporters != ["otlp"]:
        raise ValueError(
            f"{exporter_var}={env[exporter_var]!r}: agent_magic exports over OTLP only; use otlp or none "
            "(send the data on from an OpenTelemetry collector)"
        )
    protocol_var = f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"
    protocol = (env.get(protocol_var) or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or DEFAULT_PROTOCOL).strip().lower()
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"OTLP protocol {protocol!r} (from {protocol_var} or OTEL_EXPORTER_OTLP_PROTOCOL) is not supported "
            "by the Python exporters: use http/protobuf or grpc"
        )
    endpoint = (
        env.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or DEFAULT_ENDPOINTS[protocol]
    )
    return SignalExport(protocol=protocol, endpoint=endpoint)
