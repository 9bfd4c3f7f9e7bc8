"""The JupyterLab companion as shipped: its TypeScript unit tests, the wheel that carries it, and
JupyterLab finding it enabled. Needs `make labextension` first (`make test` does it)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABEXT = ROOT / "labextension"
BUILT = ROOT / "agent_magic" / "labextension"
SHARE = "share/jupyter/labextensions/agent-magic"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def built() -> Path:
    """The built extension; a missing build is a failure, not a skip (CI must run these)."""
    if not (BUILT / "package.json").exists() or not (LABEXT / "node_modules").exists():
        pytest.fail("the JupyterLab extension is not built: run `make labextension`")
    return BUILT


@pytest.fixture(scope="module")
def wheel(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the project; no build isolation, so the prebuilt extension is reused (skip-if-exists)
    and no npm runs here."""
    folder = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", folder, ROOT)
    (path,) = folder.glob("agent_magic-*.whl")
    return path


def run(*command: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_typescript_unit_tests_pass(built):
    output = run(LABEXT / "node_modules" / ".bin" / "vitest", "run", cwd=LABEXT)
    assert " passed" in output and "failed" not in output.replace("0 failed", "")


def test_the_wheel_carries_the_prebuilt_extension(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert f"{SHARE}/package.json" in data and f"{SHARE}/install.json" in data
    assert any(n.startswith(f"{SHARE}/static/remoteEntry.") for n in data)
    assert not any("node_modules" in n or n.endswith(".ts") for n in names)


def test_jupyterlab_lists_the_installed_wheel_extension_as_enabled(wheel, tmp_path):
    prefix = tmp_path / "prefix"
    # --ignore-installed: without it pip first uninstalls the editable agent-magic from the test venv.
    run(sys.executable, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", "--prefix", prefix, wheel)

    listing = run(BIN / "jupyter", "labextension", "list", env={"JUPYTER_PATH": str(prefix / "share" / "jupyter")})

    section = listing.split(str(prefix / "share" / "jupyter" / "labextensions"), 1)[1]
    line = next(line for line in section.splitlines() if "agent-magic" in line)
    assert "enabled" in line and "OK" in line and "(python, agent-magic)" in line, line
