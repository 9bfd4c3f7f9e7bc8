"""Shared fixtures: the loopback model server, real kernels pointed at it, and a guard that makes any
request to a real provider fail inside the test suite.

Two real-kernel fixtures: `kernel`, a new kernel process per test, and `shared_kernel`, one kernel per test
module reset to a clean state before each test (opt-in: most of a real-kernel test's time is starting the
kernel and importing openai and pandas in it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_magic.llm.sse_server import LoopbackModelServer, ScriptedResponder

sys.path.insert(0, str(Path(__file__).parent))

from kernel_harness import RealKernel

# Port 9 (discard) on loopback refuses connections: a test that forgets to point the client at the
# fake server fails fast instead of reaching a real provider with a real key.
UNREACHABLE_BASE_URL = "http://127.0.0.1:9/v1"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests, then the `slow` modules (a heavy server to start), then the rest, each group in its
    usual order: with the files spread over workers (`make test`), the longest start first and do not
    keep one worker busy after the others have finished."""
    items.sort(
        key=lambda item: 0 if item.get_closest_marker("browser") else 1 if item.get_closest_marker("slow") else 2
    )


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
    # A short poll: closing the server then takes milliseconds, not up to half a second per test.
    with LoopbackModelServer(script, poll_interval=0.02) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace folder."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def kernel_env(model_server: LoopbackModelServer, tmp_path: Path) -> dict[str, str]:
    """The environment of the test's kernel: the fake server as endpoint, the test's own agent home (a
    module may override this fixture to add variables)."""
    return {
        "OPENAI_BASE_URL": model_server.base_url,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "AGENT_MAGIC_HOME": str(tmp_path / ".agent"),
        "AGENT_MAGIC_DEMO_DELAY": "0",
        "AGENT_MAGIC_MODEL": "test-model",
    }


@pytest.fixture
def kernel(kernel_env: dict[str, str], workspace: Path) -> Iterator[RealKernel]:
    """A real kernel with agent_magic loaded, its endpoint the fake server, its cwd the workspace."""
    real = RealKernel(env=kernel_env, cwd=workspace)
    loaded = real.execute("%load_ext agent_magic")
    assert loaded.status == "ok", loaded.text
    yield real
    real.close()


KERNEL_RESET = Path(__file__).with_name("kernel_reset.py")


def _run_ok(kernel: RealKernel, code: str) -> None:
    run = kernel.execute(code)
    assert run.status == "ok", run.text


@pytest.fixture(scope="module")
def module_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealKernel]:
    """The real kernel that the tests of one module share through `shared_kernel`."""
    env = {"OPENAI_BASE_URL": UNREACHABLE_BASE_URL, "AGENT_MAGIC_DEMO_DELAY": "0"}
    real = RealKernel(env=env, cwd=tmp_path_factory.mktemp("shared-kernel"))
    launch_env = {**os.environ, **env}
    # kernel_reset.py runs inside the kernel: loaded by path, so the tests folder stays off its sys.path.
    _run_ok(
        real,
        "import importlib.util, sys\n"
        f"_spec = importlib.util.spec_from_file_location('kernel_reset', {str(KERNEL_RESET)!r})\n"
        "sys.modules['kernel_reset'] = _module = importlib.util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_module)\n"
        f"_module.remember({launch_env!r})",
    )
    yield real
    real.close()


@pytest.fixture
def shared_kernel(module_kernel: RealKernel, kernel_env: dict[str, str], workspace: Path) -> RealKernel:
    """Like `kernel`, but one process serves every test of the module: before each test it is reset to a
    clean state (see kernel_reset.py): this test's workspace as cwd, agent home and model server, its
    environment, `%config` changes forgotten, an empty namespace and `@agent_magic.tool` registry, the
    extension loaded afresh.

    Use `kernel` for what needs a new process: restarts, interrupts that may leave a thread running (a tool
    stuck in `time.sleep` or C code), checks of which modules a kernel imported, process-wide state that
    cannot be undone (a global OpenTelemetry provider), settings read once per process.
    """
    env = {**os.environ, **kernel_env}
    _run_ok(module_kernel, f"__import__('kernel_reset').reset({env!r}, {str(workspace)!r})")
    return module_kernel


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server for the module, each test creating its own database on it. Where
    Debian's postgresql or the postgres extra is missing the tests are skipped, except in CI
    (`CI=true`), where a missing server must fail the run rather than hide its tests."""
    try:
        from postgres_server import PostgresServer

        server = PostgresServer()
    except (ImportError, FileNotFoundError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL here: {exc}")
    server.start()
    yield server
    server.close()
