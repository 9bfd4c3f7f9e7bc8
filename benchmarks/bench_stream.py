"""Streaming overhead of `%%agent`, display message rate, and `%load_ext` time. Prints a table.

1. Wall time for a real kernel to consume a 20,000-token SSE stream from the loopback server:
   a `%%agent` cell vs. a bare AsyncOpenAI loop over the same stream (target ratio <= 1.05).
2. Display messages (display_data + update_display_data) per second while a paced answer streams
   (target <= 12/s).
3. `%load_ext agent_magic` time in a fresh kernel (target <= 150 ms), and whether openai or pandas were
   imported by it (they should not be).

Run: .venv/bin/python benchmarks/bench_stream.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from kernel_harness import RealKernel

from agent_magic.llm.sse_server import LoopbackModelServer, StreamReply, text_chunks, usage_chunk

TOKENS = 20_000
REPEATS = 5
PACED_TOKENS = 1_500
PACED_DELAY = 0.002

BARE_LOOP = """
from openai import AsyncOpenAI
_client = AsyncOpenAI(max_retries=0)
_stream = await _client.chat.completions.create(
    model="bench", messages=[{"role": "user", "content": "go"}], stream=True,
    stream_options={"include_usage": True},
)
_parts = []
async for _chunk in _stream:
    if _chunk.choices and _chunk.choices[0].delta.content:
        _parts.append(_chunk.choices[0].delta.content)
_text = "".join(_parts)
"""


def big_stream(_request: dict) -> StreamReply:
    pieces = [f"tok{i} " for i in range(TOKENS)]
    return StreamReply(text_chunks("", pieces=pieces) + [usage_chunk(10, TOKENS)])


def paced_stream(_request: dict) -> StreamReply:
    pieces = [f"word{i} " for i in range(PACED_TOKENS)]
    return StreamReply(text_chunks("", pieces=pieces) + [usage_chunk(10, PACED_TOKENS)], chunk_delay=PACED_DELAY)


def timed(kernel: RealKernel, code: str):
    started = time.perf_counter()
    run = kernel.execute(code, timeout=300)
    elapsed = time.perf_counter() - started
    assert run.status == "ok", run.text[-2000:]
    return elapsed, run


def measure_overhead(workdir: Path) -> tuple[float, float]:
    with LoopbackModelServer(big_stream) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench"}
        kernel = RealKernel(env=env, cwd=workdir)
        try:
            timed(kernel, "%load_ext agent_magic\n%config AgentMagic.model = 'bench'")
            timed(kernel, BARE_LOOP)  # warm up imports and connections for both paths
            timed(kernel, "%%agent --new\ngo")
            bare, agent = [], []
            for _ in range(REPEATS):
                bare.append(timed(kernel, BARE_LOOP)[0])
                agent.append(timed(kernel, "%%agent --new\ngo")[0])
        finally:
            kernel.close()
    return statistics.median(bare), statistics.median(agent)


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


LOAD_SNIPPET = """
import sys, time
_started = time.perf_counter()
get_ipython().run_line_magic("load_ext", "agent_magic")
print(time.perf_counter() - _started, "openai" in sys.modules, "pandas" in sys.modules)
"""


def measure_load_ext(workdir: Path) -> tuple[float, bool, bool]:
    """`%load_ext` in fresh kernels (asyncio, tornado and IPython are loaded there already, as for users)."""
    samples = []
    for _ in range(3):
        kernel = RealKernel(env={}, cwd=workdir)
        try:
            seconds, openai_loaded, pandas_loaded = timed(kernel, LOAD_SNIPPET)[1].text.split()
        finally:
            kernel.close()
        samples.append((float(seconds), openai_loaded == "True", pandas_loaded == "True"))
    return statistics.median(s[0] for s in samples), samples[0][1], samples[0][2]


def main() -> None:
    os.environ.setdefault("AGENT_MAGIC_HOME", tempfile.mkdtemp(prefix="agent-bench-"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare, agent = measure_overhead(workdir)
        rate, messages, paced_seconds = measure_display_rate(workdir)
        load_seconds, openai_loaded, pandas_loaded = measure_load_ext(workdir)
    rows = [
        ("bare AsyncOpenAI loop, 20k tokens (median of 5)", f"{bare:.3f} s", ""),
        ("%%agent cell, same stream (median of 5)", f"{agent:.3f} s", ""),
        ("ratio %%agent / bare", f"{agent / bare:.3f}", "<= 1.05"),
        (f"display messages, {PACED_TOKENS} tokens over {paced_seconds:.1f} s", f"{messages}", ""),
        ("display messages per second", f"{rate:.1f}", "<= 12"),
        ("%load_ext agent_magic in a fresh kernel (median of 3)", f"{load_seconds * 1000:.0f} ms", "<= 150 ms"),
        ("openai / pandas imported by %load_ext", f"{openai_loaded} / {pandas_loaded}", "False / False"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  target")
    print("-" * (width + 24))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>12}  {target}")


if __name__ == "__main__":
    main()
