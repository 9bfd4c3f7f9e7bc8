"""Shared fixtures: the loopback model server, real kernels pointed at it, and a guard that makes any
request to a real provider fail inside the test suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_magic.llm.sse_server import LoopbackModelServer, ScriptedResponder

sys.path.insert(0, str(Path(__file__).parent))

from kernel_harness import RealKernel

# Port 9 (discard) on loopback refuses connections: a test that forgets to point the client at the
# fake server fails fast instead of reaching a real provider with a real key.
UNREACHABLE_BASE_URL = "http://127.0.0.1:9/v1"


@pytest.fixture(autouse=True)
def no_real_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test runs with a fake key, an unreachable default endpoint and its own agent home."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", UNREACHABLE_BASE_URL)
    monkeypatch.setenv("AGENT_MAGIC_HOME", str(tmp_path / ".agent"))
    monkeypatch.setenv("AGENT_MAGIC_DEMO_DELAY", "0")
    monkeypatch.delenv("AGENT_MAGIC_MODEL", raising=False)
    for name in ("AGENT_MAGIC_REPLAY", "AGENT_MAGIC_REPLAY_DIR"):  # a developer's replay setting stays out
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def script() -> ScriptedResponder:
    """The queue of replies the fake model server will send, in order."""
    return ScriptedResponder()


@pytest.fixture
def model_server(script: ScriptedResponder) -> Iterator[LoopbackModelServer]:
    """An OpenAI-compatible SSE server on 127.0.0.1 answering from `script`."""
    with LoopbackModelServer(script) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace folder."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def kernel(model_server: LoopbackModelServer, workspace: Path, tmp_path: Path) -> Iterator[RealKernel]:
    """A real kernel with agent_magic loaded, its endpoint the fake server, its cwd the workspace."""
    env = {
        "OPENAI_BASE_URL": model_server.base_url,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "AGENT_MAGIC_HOME": str(tmp_path / ".agent"),
        "AGENT_MAGIC_DEMO_DELAY": "0",
        "AGENT_MAGIC_MODEL": "test-model",
    }
    real = RealKernel(env=env, cwd=workspace)
    loaded = real.execute("%load_ext agent_magic")
    assert loaded.status == "ok", loaded.text
    yield real
    real.close()
