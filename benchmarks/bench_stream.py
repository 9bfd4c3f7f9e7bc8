"""Display message rate while an answer streams into a `%%agent` cell (target <= 12 per second).

jupyter_server silently drops iopub traffic above about 1000 messages per second, so the answer is
redrawn at most every `display_interval`. The streaming overhead against a bare `AsyncOpenAI` loop and
the `%load_ext` time are in `bench_paths.py`, each against its floor.

Run: .venv/bin/python benchmarks/bench_stream.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from kernel_harness import RealKernel

from agent_magic.llm.sse_server import LoopbackModelServer, StreamReply, text_chunks, usage_chunk

PACED_TOKENS = 1_500
PACED_DELAY = 0.002


def paced_stream(_request: dict) -> StreamReply:
    pieces = [f"word{i} " for i in range(PACED_TOKENS)]
    return StreamReply(text_chunks("", pieces=pieces) + [usage_chunk(10, PACED_TOKENS)], chunk_delay=PACED_DELAY)


def timed(kernel: RealKernel, code: str):
    started = time.perf_counter()
    run = kernel.execute(code, timeout=300)
    elapsed = time.perf_counter() - started
    assert run.status == "ok", run.text[-2000:]
    return elapsed, run


def measure_display_rate(workdir: Path) -> tuple[float, int, float]:
    with LoopbackModelServer(paced_stream) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench"}
        kernel = RealKernel(env=env, cwd=workdir)
        try:
            timed(kernel, "%load_ext agent_magic\n%config AgentMagic.model = 'bench'")
            elapsed, run = timed(kernel, "%%agent\ngo")
        finally:
            kernel.close()
    messages = run.count("display_data") + run.count("update_display_data")
    return messages / elapsed, messages, elapsed


def main() -> None:
    os.environ.setdefault("AGENT_MAGIC_HOME", tempfile.mkdtemp(prefix="agent-bench-"))
    with tempfile.TemporaryDirectory() as tmp:
        rate, messages, paced_seconds = measure_display_rate(Path(tmp))
    rows = [
        (f"display messages, {PACED_TOKENS} tokens over {paced_seconds:.1f} s", f"{messages}", ""),
        ("display messages per second", f"{rate:.1f}", "<= 12"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  target")
    print("-" * (width + 24))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")


if __name__ == "__main__":
    main()
