"""Bytes sent on iopub while a long answer streams into a `%%agent` cell, against the answer's own size.

A real kernel streams answers of 10, 20, 40 and 80 KB from the loopback server as fast as it can send
them, in three shapes (paragraphs, one paragraph without a line break, one long code block), once as
JupyterLab runs a cell (someone watching: the open block is redrawn every `display_interval`) and once
as nbclient does (headless: only settled blocks). Counted: every display_data / update_display_data
message of the cell, whole (header, parent header, metadata and content, as JSON). The floor is the
answer itself; the target is <= 3x the answer, growing linearly (80 KB costs about 4x what 20 KB costs).
Last, a 12 KB answer streamed at a model's pace (10 ms between pieces) shows what a watched cell costs
when the redraws are bounded by time rather than by the answer's size.

Run: .venv/bin/python benchmarks/bench_display_bytes.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from kernel_harness import RealKernel

from agent_magic.llm.sse_server import LoopbackModelServer, StreamReply, text_chunks, usage_chunk

SIZES_KB = (10, 20, 40, 80)
TOKEN_CHARS = 4  # OpenAI-style pieces: about four characters a token
# A model's own pace: a 12 KB answer with 10 ms between pieces (at most 100 tokens a second), watched.
PACED_KB = 12
PACED_DELAY_S = 0.01


def paragraphs(size: int) -> str:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    paragraph = sentence * 8 + "\n\n"
    return (paragraph * (size // len(paragraph) + 1))[:size]


def one_paragraph(size: int) -> str:
    return " ".join(f"tok{i}" for i in range(size))[:size]


def code_block(size: int) -> str:
    body = "".join(f"value_{i} = compute(value_{i - 1}, step={i})\n" for i in range(1, size // 20))
    return ("```python\n" + body)[: size - 4] + "\n```"


SHAPES: dict[str, Callable[[int], str]] = {
    "paragraphs": paragraphs,
    "one paragraph": one_paragraph,
    "code block": code_block,
}


def pieces(text: str) -> list[str]:
    return [text[i : i + TOKEN_CHARS] for i in range(0, len(text), TOKEN_CHARS)]


def display_bytes(messages: list[dict]) -> int:
    """Bytes of the cell's display messages, whole, as JSON."""
    kinds = ("display_data", "update_display_data")
    parts = ("header", "parent_header", "metadata", "content")
    return sum(
        len(json.dumps({k: m[k] for k in parts}, default=str).encode())
        for m in messages
        if m["header"]["msg_type"] in kinds
    )


Row = tuple[str, str, int, int, int]
Paced = tuple[int, int, int, float]


def measure(workdir: Path) -> tuple[list[Row], Paced]:
    """(shape, mode, answer bytes, iopub bytes, display messages) for every case, and (answer bytes,
    iopub bytes, display messages, seconds) of the answer streamed at a model's pace."""
    queue: list[tuple[str, float]] = []

    def responder(_request: dict) -> StreamReply:
        text, delay = queue.pop(0)
        chunks = text_chunks("", pieces=pieces(text)) + [usage_chunk(10, len(text) // TOKEN_CHARS)]
        return StreamReply(chunks, chunk_delay=delay)

    def run(text: str, *, watching: bool, delay: float = 0.0) -> tuple[int, int, float]:
        """iopub display bytes, display messages and seconds of one cell streaming `text`."""
        queue.append((text, delay))
        started = time.monotonic()
        result = kernel.execute("%%agent --new\ngo", allow_stdin=watching, timeout=300)
        assert result.status == "ok", result.text[-2000:]
        count = result.count("display_data") + result.count("update_display_data")
        return display_bytes(result.messages), count, time.monotonic() - started

    rows = []
    with LoopbackModelServer(responder) as server:
        kernel = RealKernel(env={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench"}, cwd=workdir)
        try:
            kernel.execute("%load_ext agent_magic\n%config AgentMagic.model = 'bench'")
            run("warm up", watching=True)
            for shape, make in SHAPES.items():
                for mode, watching in (("watching", True), ("headless", False)):
                    for size_kb in SIZES_KB:
                        text = make(size_kb * 1000)
                        sent, count, _ = run(text, watching=watching)
                        rows.append((shape, mode, len(text.encode()), sent, count))
            text = paragraphs(PACED_KB * 1000)
            sent, count, seconds = run(text, watching=True, delay=PACED_DELAY_S)
            paced = (len(text.encode()), sent, count, seconds)
        finally:
            kernel.close()
    return rows, paced


def main() -> None:
    os.environ.setdefault("AGENT_MAGIC_HOME", tempfile.mkdtemp(prefix="agent-bench-"))
    with tempfile.TemporaryDirectory() as tmp:
        rows, paced = measure(Path(tmp))
    print(f"{'answer shape':<14} {'mode':<9} {'answer':>8} {'iopub':>9} {'msgs':>5} {'ratio':>6}  target <= 3x")
    print("-" * 66)
    by_case: dict[tuple[str, str], dict[int, int]] = {}
    for shape, mode, answer, sent, count in rows:
        by_case.setdefault((shape, mode), {})[answer] = sent
        print(f"{shape:<14} {mode:<9} {answer / 1000:>6.0f}KB {sent / 1000:>7.1f}KB {count:>5} {sent / answer:>5.2f}x")
    print()
    print("growth, 80 KB vs 20 KB answer (linear: about 4x; quadratic: about 16x)")
    for (shape, mode), sent in by_case.items():
        answers = sorted(sent)
        small, large = sent[answers[1]], sent[answers[-1]]
        print(f"  {shape:<14} {mode:<9} {large / small:>5.2f}x")
    answer, sent, count, seconds = paced
    print()
    print("at a model's pace, watched (redraws are then bounded by time: 1.2 KB per second of streaming)")
    print(
        f"  paragraphs {answer / 1000:.0f}KB in {seconds:.0f} s ({answer / seconds:.0f} B/s): "
        f"{sent / 1000:.1f}KB in {count} messages, {sent / answer:.2f}x"
    )


if __name__ == "__main__":
    main()
