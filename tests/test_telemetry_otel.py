"""OpenTelemetry export in real kernels, into real receivers the tests start: Arize Phoenix for traces
(OTLP over HTTP and gRPC, queried over its REST API) and the Rotel collector for metrics.

Each test's kernel runs as its own JupyterHub user, so the metrics of one test never mix with another's.
Most tests share one kernel, reset before each; those that change how the exporters are set up (once per
process) or set a global tracer provider start their own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kernel_harness import RealKernel
from otel_receivers import PhoenixServer, RotelCollector, free_port, wait_until

from agent_magic.llm.sse_server import StreamReply, text_chunks, tool_call_chunks, usage_chunk

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

PROJECT = "agent-magic-tests"
ROOT = "invoke_agent agent_magic"
PRICE = '%config AgentMagic.prices = {"test-model": {"input": 1.0, "cached_input": 0.5, "output": 2.0}}'
SNAPSHOT = "test-model-2026-01-01"  # the model name the server answers with


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixServer]:
    server = PhoenixServer(tmp_path_factory.mktemp("phoenix"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rotel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RotelCollector]:
    collector = RotelCollector(tmp_path_factory.mktemp("rotel"))
    try:
        collector.wait_ready()
        yield collector
    finally:
        collector.stop()


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kernel_env(kernel_env: dict[str, str], phoenix: PhoenixServer, rotel: RotelCollector, user: str) -> dict[str, str]:
    """The test's kernel exports to Phoenix (traces) and Rotel (metrics), as the test's own user."""
    return {
        **kernel_env,
        "AGENT_MAGIC_TELEMETRY": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{phoenix.http_endpoint}/v1/traces",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{rotel.http_endpoint}/v1/metrics",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
        "OTEL_SERVICE_NAME": "notebook-tests",
        "JUPYTERHUB_USER": user,
    }


@pytest.fixture
def start_kernel(request: pytest.FixtureRequest, kernel_env: dict[str, str], workspace: Path):
    """A kernel exporting to Phoenix and Rotel: the module's shared kernel, reset for the test; or a kernel
    of the test's own with `fresh=True` (for state no reset undoes, such as a global tracer provider) or
    with `env` overrides or removals (None): the exporters are set up from the environment once per process.
    """
    kernels: list[RealKernel] = []

    def start(*, fresh: bool = False, **env: str | None) -> RealKernel:
        if not fresh and not env:
            return request.getfixturevalue("shared_kernel")
        base = dict(kernel_env)
        for key, value in env.items():
            if value is None:
                base.pop(key, None)
            else:
                base[key] = value
        kernel = RealKernel(env=base, cwd=workspace)
        kernels.append(kernel)
        loaded = kernel.execute("%load_ext agent_magic")
        assert loaded.status == "ok", loaded.text
        return kernel

    yield start
    for kernel in kernels:
        kernel.close()


def value(kernel: RealKernel, expression: str):
    run = kernel.execute(f"import json, agent_magic\nprint(json.dumps({expression}, default=str))")
    assert run.status == "ok", run.text
    return json.loads(run.text.strip().splitlines()[-1])


def last_trace_id(kernel: RealKernel) -> str:
    return value(kernel, "agent_magic.transcript()['trace_id'].iloc[-1]")


def named(spans: list[dict], name: str) -> list[dict]:
    return sorted((s for s in spans if s["name"] == name), key=lambda s: s["start_time"])


def answered_by_snapshot(text: str, usage: tuple[int, int]) -> StreamReply:
    """A text answer whose chunks name the dated model snapshot that produced it."""
    return StreamReply([{**c, "model": SNAPSHOT} for c in text_chunks(text)] + [usage_chunk(*usage)])


def test_a_turn_is_one_trace_under_the_ledger_trace_id(start_kernel, script, workspace, phoenix, user):
    (workspace / "notes.txt").write_text("hello")
    script.add(StreamReply(tool_call_chunks([("read_file", '{"path": "notes.txt"}')]) + [usage_chunk(100, 20)]))
    script.add(answered_by_snapshot("It says hello.", (150, 10)))
    kernel = start_kernel()
    kernel.execute(PRICE)

    run = kernel.execute("%%agent\nwhat is in notes.txt?")

    assert run.status == "ok", run.text
    trace_id = last_trace_id(kernel)
    spans = phoenix.trace(PROJECT, trace_id, count=4)
    (root,) = named(spans, ROOT)
    first, second = named(spans, "chat test-model")
    (tool,) = named(spans, "execute_tool read_file")
    assert root["parent_id"] is None, "the turn is the trace's root"
    assert {s["parent_id"] for s in (first, second, tool)} == {root["context"]["span_id"]}
    session_id = value(kernel, "agent_magic.usage()['session'].iloc[-1]")
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attributes"]["gen_ai.agent.name"] == "agent_magic"
    assert root["attributes"]["gen_ai.conversation.id"] == session_id
    assert root["attributes"]["gen_ai.request.model"] == "test-model"
    assert root["attributes"]["user.name"] == user
    assert root["attributes"]["agent_magic.turn.state"] == "completed"
    assert root["attributes"]["gen_ai.usage.input_tokens"] == 250
    assert root["attributes"]["gen_ai.usage.output_tokens"] == 30
    assert root["attributes"]["agent_magic.cost_usd"] == pytest.approx((250 * 1.0 + 30 * 2.0) / 1e6)
    assert root["status_code"] == "UNSET"


def test_chat_spans_carry_the_genai_request_response_and_usage_attributes(
    start_kernel, script, workspace, phoenix, model_server
):
    (workspace / "notes.txt").write_text("hello")
    script.add(StreamReply(tool_call_chunks([("read_file", '{"path": "notes.txt"}')]) + [usage_chunk(100, 20)]))
    script.add(answered_by_snapshot("It says hello.", (150, 10)))
    kernel = start_kernel()
    kernel.execute(PRICE)

    kernel.execute("%%agent\nwhat is in notes.txt?")

    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=4)
    first, second = (s["attributes"] for s in named(spans, "chat test-model"))
    for chat in (first, second):
        assert chat["gen_ai.operation.name"] == "chat"
        assert chat["gen_ai.provider.name"] == "openai_compatible"
        assert chat["gen_ai.request.model"] == "test-model"
        assert chat["server.address"] == "127.0.0.1"
        assert chat["server.port"] == int(model_server.base_url.split(":")[2].split("/")[0])
    assert (first["gen_ai.usage.input_tokens"], first["gen_ai.usage.output_tokens"]) == (100, 20)
    assert (second["gen_ai.usage.input_tokens"], second["gen_ai.usage.output_tokens"]) == (150, 10)
    assert first["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert second["gen_ai.response.finish_reasons"] == ["stop"]
    assert first["gen_ai.response.model"] == "test-model"
    assert second["gen_ai.response.model"] == SNAPSHOT, "the model the server says answered"
    assert second["agent_magic.cost_usd"] == pytest.approx((150 * 1.0 + 10 * 2.0) / 1e6)
    assert (first["agent_magic.step"], second["agent_magic.step"]) == (1, 2)


def test_tool_spans_name_the_tool_and_the_call_the_ledger_recorded(start_kernel, script, workspace, phoenix):
    (workspace / "notes.txt").write_text("hello")
    script.add_tool_calls(("read_file", '{"path": "notes.txt"}'))
    script.add_text("It says hello.")
    kernel = start_kernel()

    kernel.execute("%%agent\nwhat is in notes.txt?")

    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=4)
    (tool,) = named(spans, "execute_tool read_file")
    (call_id,) = value(kernel, "agent_magic.tool_calls()['call_id'].tolist()")
    assert tool["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert tool["attributes"]["gen_ai.tool.name"] == "read_file"
    assert tool["attributes"]["gen_ai.tool.call.id"] == call_id
    assert tool["status_code"] == "UNSET"
    first, second = named(spans, "chat test-model")
    assert first["end_time"] <= tool["start_time"] <= tool["end_time"] <= second["start_time"]


def test_no_prompt_answer_or_tool_data_is_exported_by_default(start_kernel, script, workspace, phoenix):
    (workspace / "notes.txt").write_text("the file body")
    script.add_tool_calls(("read_file", '{"path": "notes.txt"}'))
    script.add_text("The answer text.")
    kernel = start_kernel()

    kernel.execute("%%agent\nthe prompt text")

    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=4)
    dumped = json.dumps(spans)
    for private in ("the prompt text", "the file body", "The answer text", "notes.txt"):
        assert private not in dumped
    assert not any(
        k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool.call.a", "gen_ai.tool.call.r"))
        for s in spans
        for k in s["attributes"]
    )


def test_content_is_exported_when_enabled_with_secrets_masked(start_kernel, script, workspace, phoenix):
    secret = "tok-0123456789-very-secret"
    (workspace / "notes.txt").write_text(f"token={secret}")
    script.add_tool_calls(("read_file", '{"path": "notes.txt"}'))
    script.add_text(f"The token is {secret}.")
    kernel = start_kernel()
    # Secrets are read from the environment at each call: setting one in the running kernel is enough.
    kernel.execute(f"import os\nos.environ['SERVICE_API_TOKEN'] = {secret!r}")
    kernel.execute("%config AgentMagic.telemetry_content = True")

    kernel.execute(f"%%agent\nis {secret} in notes.txt?")

    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=4)
    assert secret not in json.dumps(spans)
    (root,) = named(spans, ROOT)
    first, second = named(spans, "chat test-model")
    (tool,) = named(spans, "execute_tool read_file")
    prompt = json.loads(root["attributes"]["gen_ai.input.messages"])
    assert prompt == [{"role": "user", "parts": [{"type": "text", "content": "is *** in notes.txt?"}]}]
    assert json.loads(first["attributes"]["gen_ai.input.messages"]) == prompt
    (call,) = json.loads(first["attributes"]["gen_ai.output.messages"])[0]["parts"]
    assert (call["type"], call["name"], call["arguments"]) == ("tool_call", "read_file", {"path": "notes.txt"})
    (result,) = json.loads(second["attributes"]["gen_ai.input.messages"])
    assert result["role"] == "tool" and "token=***" in result["parts"][0]["response"]
    assert json.loads(tool["attributes"]["gen_ai.tool.call.arguments"]) == {"path": "notes.txt"}
    assert "token=***" in tool["attributes"]["gen_ai.tool.call.result"]
    answer = json.loads(root["attributes"]["gen_ai.output.messages"])
    assert answer[0]["parts"] == [{"type": "text", "content": "The token is ***."}]


def test_a_retried_model_call_carries_the_retry_as_an_event(start_kernel, script, phoenix):
    script.add_error(500)
    script.add_text("Fine now.")
    kernel = start_kernel()
    kernel.execute("%config AgentMagic.retry_initial_wait = 0.01")

    run = kernel.execute("%%agent\nhello")

    assert run.status == "ok", run.text
    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=2)
    (chat,) = named(spans, "chat test-model")
    (retry,) = chat["events"]
    assert retry["name"] == "retry"
    assert "500" in retry["attributes"]["agent_magic.retry.reason"]
    assert retry["attributes"]["agent_magic.retry.after_output"] is False
    assert chat["attributes"]["agent_magic.retries"] == 1


def test_a_failed_turn_marks_its_root_and_model_call_as_errors(start_kernel, script, phoenix):
    script.add_error(500)
    kernel = start_kernel()
    kernel.execute("%config AgentMagic.retry_max_attempts = 1")

    run = kernel.execute("%%agent\nhello")

    assert run.status == "error"
    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=2)
    (root,) = named(spans, ROOT)
    (chat,) = named(spans, "chat test-model")
    for span in (root, chat):
        assert span["status_code"] == "ERROR"
        assert span["attributes"]["error.type"].endswith("Error")
    assert "500" in root["status_message"]
    assert root["attributes"]["agent_magic.turn.state"] == "failed"


def test_the_approval_decision_is_an_event_on_the_tool_span(start_kernel, script, phoenix):
    script.add_tool_calls(("write_file", '{"path": "out.txt", "content": "x"}'))
    script.add_text("It was denied.")
    kernel = start_kernel()

    kernel.execute("%%agent\nwrite out.txt")  # headless: no one can approve, the policy denies

    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=4)
    (tool,) = named(spans, "execute_tool write_file")
    (approval,) = [e for e in tool["events"] if e["name"] == "approval"]
    assert approval["attributes"]["agent_magic.approval.decision"] == "denied"
    assert "headless" in approval["attributes"]["agent_magic.approval.decided_by"]
    assert tool["attributes"]["agent_magic.approval.decision"] == "denied"
    assert tool["status_code"] == "ERROR" and tool["attributes"]["error.type"] == "denied"


def test_spans_export_over_grpc_when_the_protocol_says_so(start_kernel, script, phoenix):
    script.add_text("Over gRPC.")
    kernel = start_kernel(
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=phoenix.grpc_endpoint,
        OTEL_METRICS_EXPORTER="none",
    )

    kernel.execute("%%agent\nhello")

    spans = phoenix.trace(PROJECT, last_trace_id(kernel), count=2)
    assert {s["name"] for s in spans} == {ROOT, "chat test-model"}


def test_a_global_tracer_provider_set_by_the_user_is_used_and_keeps_the_ledger_trace_id(start_kernel, script, phoenix):
    script.add_text("Through your provider.")
    kernel = start_kernel(fresh=True)
    setup = kernel.execute(
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.resources import Resource\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
        "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\n"
        "provider = TracerProvider(resource=Resource.create({'openinference.project.name': 'users-project'}))\n"
        f"provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint='{phoenix.http_endpoint}/v1/traces')))\n"
        "trace.set_tracer_provider(provider)"
    )
    assert setup.status == "ok", setup.text

    kernel.execute("%%agent\nhello")

    trace_id = last_trace_id(kernel)
    spans = phoenix.trace("users-project", trace_id, count=2)
    (root,) = named(spans, ROOT)
    (chat,) = named(spans, "chat test-model")
    assert chat["parent_id"] == root["context"]["span_id"]
    # The user's provider is not modified: the turn continues a remote parent that carries the id.
    assert root["parent_id"] is not None
    assert not [s for s in phoenix.spans(PROJECT) if s["context"]["trace_id"] == trace_id]


def test_with_telemetry_off_nothing_is_imported_or_exported(start_kernel, script, phoenix):
    script.add_text("Not traced.")
    script.add_text("Traced.")
    kernel = start_kernel(AGENT_MAGIC_TELEMETRY=None)

    kernel.execute("%%agent\nhello")
    untraced = last_trace_id(kernel)

    assert value(kernel, "sorted(m for m in __import__('sys').modules if m.startswith('opentelemetry'))") == []
    kernel.execute('%config AgentMagic.telemetry = "otlp"')
    kernel.execute("%%agent\nhello again")
    phoenix.trace(PROJECT, last_trace_id(kernel), count=2)  # the second turn arrived: the first never will
    assert not [s for s in phoenix.spans(PROJECT) if s["context"]["trace_id"] == untraced]


def test_an_unreachable_collector_is_reported_once_and_the_cells_keep_working(start_kernel, script):
    for _ in range(12):
        script.add_text("Still answering.")
    nowhere = f"http://127.0.0.1:{free_port()}"
    kernel = start_kernel(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{nowhere}/v1/traces",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"{nowhere}/v1/metrics",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
    )
    outputs: list[str] = []

    def reported() -> bool:
        run = kernel.execute("%%agent\nhello")
        assert run.status == "ok", run.text
        outputs.append(run.text)
        return "OpenTelemetry export to" in run.text

    wait_until(reported, timeout=60, interval=0.5, what="the unreachable collector to be reported")
    after = kernel.execute("%%agent\nhello")

    assert after.status == "ok"
    assert "OpenTelemetry export to" not in after.text
    (line,) = [line for line in outputs[-1].splitlines() if "OpenTelemetry export to" in line]
    assert nowhere in line and "OTEL_EXPORTER_OTLP_ENDPOINT" in line
    noise = [o for o in [*outputs, after.text] if "Transient error" in o or "Traceback" in o]
    assert noise == [], "the exporters' retry messages stay out of the cells"


def test_metrics_reach_the_collector_per_user_model_and_tool(start_kernel, script, workspace, rotel, user):
    (workspace / "notes.txt").write_text("hello")
    script.add_tool_calls(("read_file", '{"path": "notes.txt"}'), usage=(100, 20))
    script.add_text("It says hello.", usage=(150, 10))
    kernel = start_kernel()
    kernel.execute(PRICE)

    kernel.execute("%%agent\nwhat is in notes.txt?")

    wait_until(lambda: rotel.latest("agent_magic.turns", **{"user.name": user}), timeout=60, what="the metrics")
    mine = {"user.name": user, "gen_ai.request.model": "test-model"}
    tokens = {p.attributes["gen_ai.token.type"]: p for p in rotel.latest("gen_ai.client.token.usage", **mine)}
    assert (tokens["input"].count, tokens["input"].sum) == (2, 250)
    assert (tokens["output"].count, tokens["output"].sum) == (2, 30)
    assert tokens["input"].attributes["gen_ai.operation.name"] == "chat"
    assert tokens["input"].attributes["gen_ai.provider.name"] == "openai_compatible"
    durations = {
        p.attributes["gen_ai.operation.name"]: p.count for p in rotel.latest("gen_ai.client.operation.duration", **mine)
    }
    assert durations == {"chat": 2, "invoke_agent": 1}
    (cost,) = rotel.latest("agent_magic.cost.usd", **mine)
    assert cost.value == pytest.approx((250 * 1.0 + 30 * 2.0) / 1e6)
    (tool,) = rotel.latest("agent_magic.tool.calls", **mine)
    assert tool.value == 1
    assert tool.attributes["gen_ai.tool.name"] == "read_file"
    assert (tool.attributes["agent_magic.tool.outcome"], tool.attributes["agent_magic.approval.decision"]) == (
        "ok",
        "auto",
    )
    (turns,) = rotel.latest("agent_magic.turns", **mine)
    assert turns.value == 1 and turns.attributes["agent_magic.turn.state"] == "completed"
