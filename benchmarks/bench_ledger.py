"""Ledger benchmark: reading `usage()` over 10k, 100k and 1M model calls, and writing events, each as a
ratio against a floor measured in the same run.

- `usage()` first call (a fresh process with pandas and IPython loaded, as in a kernel: pyarrow's
  import included) against `pandas.read_sql` of the same query in the same kind of process (target at
  1M rows: <= 0.5x and <= 1 s); warm calls too.
- Writing: a streamed turn delivered to the ledger (which records it on its writer thread) against the
  same turn delivered to a subscriber that does nothing; and the event loop's own cost per event
  (`KernelLedger.handle`: count and queue) against a bare `queue.put`.

Run with `python benchmarks/bench_ledger.py [max_rows]` (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent_magic.config import AgentMagic
from agent_magic.events import MessageAdded, MessageOrigin, TextDelta, TurnEnded, TurnStarted, TurnState, Usage
from agent_magic.ledger.identity import current_user
from agent_magic.ledger.kernel_ledger import KernelLedger
from agent_magic.ledger.store import LedgerStore
from agent_magic.ledger.views import USAGE

NOTEBOOK = "/bench/notebook.ipynb"
INSERT = (
    "INSERT INTO model_calls (session_id, turn_id, trace_id, at, step, model, input_tokens, cached_tokens, "
    "output_tokens, reasoning_tokens, cost_usd, latency_s, ttft_s, retries, estimated, status, cell_id, "
    "execution_count, user_name, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
BATCH = 100_000


def ledger_with(rows: int) -> Path:
    """A migrated ledger holding `rows` model calls (100 sessions, 5 calls a turn), bulk-loaded."""
    home = Path(tempfile.mkdtemp(prefix=f"bench-ledger-{rows}-"))
    store = LedgerStore(home)
    store.query("SELECT 1")  # creates and migrates the file
    store.close()
    rng = random.Random(1)
    user = current_user()
    db = sqlite3.connect(home / "ledger.db")
    sessions = [f"s{n:011x}" for n in range(100)]
    db.executemany(
        "INSERT INTO sessions (session_id, started_at, notebook, user_name) VALUES (?, ?, ?, ?)",
        [(s, 1.7e9, NOTEBOOK if i < 50 else "/bench/other.ipynb", user) for i, s in enumerate(sessions)],
    )
    for start in range(0, rows, BATCH):  # every row, the last partial batch included
        batch = []
        for i in range(start, min(start + BATCH, rows)):
            tokens = rng.randint(100, 5000)
            batch.append(
                (sessions[i % 100], f"t{i // 5:011x}", f"{i // 5:032x}", 1.7e9 + i, i % 5 + 1, "gpt-4.1-mini",
                 tokens, 0, tokens // 5, 0, tokens * 4e-7, 0.8, 0.2, 0, 0, "ok", None, i // 5, user, "bench")
            )  # fmt: skip
        db.executemany(INSERT, batch)
        db.commit()
    (count,) = db.execute("SELECT count(*) FROM model_calls").fetchone()
    assert count == rows, f"the ledger holds {count:,} rows, not {rows:,}"
    db.close()
    # As a kernel would: its writer opens the grown ledger (and refreshes the planner's statistics).
    store = LedgerStore(home)
    store.write("INSERT INTO meta (key, value) VALUES ('bench', '1') ON CONFLICT (key) DO NOTHING")
    assert store.flush(None)
    store.close()
    return home


def usage_sql() -> str:
    """The query `usage(all_sessions=True)` runs (for the read_sql floor)."""
    select = ", ".join(f"{source} AS {name}" for name, (source, _kind) in USAGE.items())
    return f"SELECT {select} FROM model_calls WHERE 1 = 1 AND user_name = ? ORDER BY id"


def in_fresh_process(code: str) -> float:
    """Seconds the timed part of `code` took in a new interpreter that has pandas and IPython loaded,
    as a notebook kernel has."""
    script = f"import time, pandas, IPython\nstart = time.perf_counter()\n{code}\nprint(time.perf_counter() - start)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def median_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def read_rows(rows: int) -> list[tuple[str, float, float, str]]:
    import pandas as pd

    from agent_magic import usage

    home = ledger_with(rows)
    user = current_user()
    first = in_fresh_process(f"import agent_magic\nframe = agent_magic.usage(all_sessions=True, home={str(home)!r})")
    floor_first = in_fresh_process(
        f"import sqlite3\nframe = pandas.read_sql({usage_sql()!r}, sqlite3.connect({str(home / 'ledger.db')!r}), "
        f"params=({user!r},))"
    )
    warm = median_of(lambda: usage(all_sessions=True, home=str(home)))
    floor_warm = median_of(lambda: pd.read_sql(usage_sql(), sqlite3.connect(home / "ledger.db"), params=(user,)))
    one_session = median_of(lambda: usage(session="s00000000007", home=str(home)))
    target = "<= 0.5x, <= 1 s" if rows >= 1_000_000 else ""  # the target is for a million rows
    return [
        (f"usage(all_sessions=True), {rows:,} rows, first call", first, floor_first, target),
        (f"usage(all_sessions=True), {rows:,} rows, again", warm, floor_warm, target and "<= 0.5x"),
        (f"usage(session=...), {rows // 100:,} of {rows:,} rows", one_session, floor_warm, ""),
    ]


def turn_events(turn: int, tokens: int) -> list:
    """The events of one short turn as a session emits them: a prompt, `tokens` streamed pieces, usage
    and the answer."""
    session, turn_id = "bench", f"turn{turn}"
    events = [
        TurnStarted(session, turn_id, prompt="how many rows?", model="gpt-4.1-mini", trace_id=f"trace{turn}"),
        MessageAdded(session, turn_id, message={"role": "user", "content": "how many rows?"}, position=2 * turn,
                     origin=MessageOrigin.PROMPT),
    ]  # fmt: skip
    events += [TextDelta(session, turn_id, text="word ") for _ in range(tokens)]
    events += [
        Usage(session, turn_id, model="gpt-4.1-mini", input_tokens=1000, output_tokens=tokens, cost_usd=0.0007),
        MessageAdded(session, turn_id, message={"role": "assistant", "content": "word " * tokens},
                     position=2 * turn + 1, origin=MessageOrigin.ANSWER),
        TurnEnded(session, turn_id, state=TurnState.COMPLETED),
    ]  # fmt: skip
    return events


PIECE_EVERY_S = 0.0005  # a fast local server: 2,000 streamed pieces a second


async def stream(events: list, subscribers: list) -> float:
    """Deliver `events` as the magic does (every subscriber, in order), each streamed piece arriving
    `PIECE_EVERY_S` after the one before as from a fast server; returns the seconds it took."""
    start = time.perf_counter()
    for event in events:
        if isinstance(event, TextDelta):
            await asyncio.sleep(PIECE_EVERY_S)
        for subscriber in subscribers:
            subscriber.handle(event)
    return time.perf_counter() - start


class Nothing:
    """A subscriber that does nothing: the floor."""

    def handle(self, event: object) -> None:
        """Ignore the event."""


def write_rows(turns: int = 200, tokens: int = 100) -> list[tuple[str, float, float, str]]:
    home = Path(tempfile.mkdtemp(prefix="bench-ledger-writes-"))
    ledger = KernelLedger(AgentMagic(home=str(home)), {})
    ledger.store.query("SELECT 1")  # open and migrate before timing
    events = [turn_events(n, tokens) for n in range(turns)]

    with_ledger, floor = [], []
    for n in range(turns):  # interleaved, so both see the same machine
        with_ledger.append(asyncio.run(stream(events[n], [ledger])))
        floor.append(asyncio.run(stream(turn_events(n, tokens), [Nothing()])))
    ledger.store.flush(None)

    rows = [e for turn in events for e in turn if not isinstance(e, TextDelta)]
    handoff: queue.SimpleQueue = queue.SimpleQueue()
    start = time.perf_counter()
    for event in rows:
        handoff.put(event)
    floor_put = (time.perf_counter() - start) / len(rows)
    spaced = []
    for event in turn_events(turns, 0)[:3] * 100:  # one at a time, the writer idle in between
        start = time.perf_counter()
        ledger.handle(event)
        spaced.append(time.perf_counter() - start)
        ledger.store.flush(None)
    ledger.store.close()
    return [
        (f"a turn of {tokens} streamed pieces: with the ledger vs no subscriber", statistics.median(with_ledger),
         statistics.median(floor), "<= 1.05x"),
        ("one event on the event loop (KernelLedger.handle) vs queue.put", statistics.median(spaced), floor_put, ""),
    ]  # fmt: skip


def shown(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    largest = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= largest] or [largest]
    table = []
    for rows in sizes:
        table += read_rows(rows)
    table += write_rows()
    print(f"ledger benchmark ({os.cpu_count()} cores)")
    print(f"{'measurement':<66} {'time':>10} {'floor':>10} {'ratio':>7}  target")
    for name, value, floor, target in table:
        print(f"{name:<66} {shown(value):>10} {shown(floor):>10} {value / floor:>6.2f}x  {target}")


if __name__ == "__main__":
    main()
