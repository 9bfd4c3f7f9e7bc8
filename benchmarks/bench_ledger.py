"""Ledger benchmark: `usage()` over 1,000,000 model calls (targets: ≤ 1 s) and one recorded insert
(target: ≤ 1 ms). Prints a table; run with `python benchmarks/bench_ledger.py [rows]`."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from agent_magic.events import Usage
from agent_magic.ledger.recorder import LedgerRecorder
from agent_magic.ledger.store import LedgerStore
from agent_magic.ledger.views import usage
from agent_magic.llm.pricing import PriceTable

NOTEBOOK = "/bench/notebook.ipynb"


def fill(store: LedgerStore, rows: int) -> None:
    """Bulk-load `rows` model calls (100 sessions, 5 calls a turn) straight into SQLite."""
    rng = random.Random(1)
    sessions = [f"s{n:011x}" for n in range(100)]
    store.write_many(
        "INSERT INTO sessions (session_id, started_at, notebook) VALUES (?, ?, ?)",
        [(s, 1.7e9, NOTEBOOK if i < 50 else "/bench/other.ipynb") for i, s in enumerate(sessions)],
    )
    batch = []
    for i in range(rows):
        tokens = rng.randint(100, 5000)
        batch.append(
            (sessions[i % 100], f"t{i // 5:011x}", f"{i // 5:032x}", 1.7e9 + i, i % 5 + 1, "gpt-4.1-mini", tokens,
             0, tokens // 5, 0, tokens * 4e-7, 0.8, 0.2, 0, 0, "ok", None, i // 5)
        )  # fmt: skip
        if len(batch) == 100_000:
            store.write_many(
                "INSERT INTO model_calls (session_id, turn_id, trace_id, at, step, model, input_tokens, cached_tokens, "
                "output_tokens, reasoning_tokens, cost_usd, latency_s, ttft_s, retries, estimated, status, cell_id, "
                "execution_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            batch.clear()


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    return (time.perf_counter() - start) / repeat, result


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    home = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    store = LedgerStore(home)
    fill(store, rows)
    table = []
    seconds, frame = timed(lambda: usage(all_sessions=True, home=str(home)))
    table.append((f"usage(all_sessions=True), {len(frame):,} rows, first read (builds snapshot)", seconds, None))
    seconds, frame = timed(lambda: usage(all_sessions=True, home=str(home)), repeat=3)
    table.append((f"usage(all_sessions=True), {len(frame):,} rows", seconds, 1.0))
    session = "s00000000007"
    seconds, frame = timed(lambda: usage(session=session, home=str(home)), repeat=3)
    table.append((f"usage(session=...), {len(frame):,} rows", seconds, None))

    recorder = LedgerRecorder(store, notebook=NOTEBOOK, prices=lambda: PriceTable())
    events = [
        Usage("bench", f"turn{i}", model="gpt-4.1-mini", input_tokens=1000, output_tokens=200) for i in range(2000)
    ]
    start = time.perf_counter()
    for event in events:
        recorder.handle(event)
    table.append(
        ("one insert (Usage event → model_calls row, committed)", (time.perf_counter() - start) / len(events), 0.001)
    )

    print(f"{'measurement':<72} {'time':>10} {'target':>8}  ok")
    for name, value, target in table:
        ok = "" if target is None else ("yes" if value <= target else "NO")
        shown = f"{value * 1000:.3f} ms" if value < 0.01 else f"{value:.3f} s"
        limit = "" if target is None else (f"{target * 1000:g} ms" if target < 0.01 else f"{target:g} s")
        print(f"{name:<72} {shown:>10} {limit:>8}  {ok}")


if __name__ == "__main__":
    main()
