"""The paths a user feels, each as a ratio to a floor measured in the same run (issue 17). Prints a table.

Every contender runs in a real kernel driven over ZeroMQ (as JupyterLab drives one) against the loopback
OpenAI-compatible server, and the contenders alternate (floor, agent_magic, floor, …) so load on the
machine falls on both alike. Times are taken inside the kernel; min / median / max are shown, the
ratio is of the medians.

1. A short turn (`%%agent --new`, a 40-word answer): the cell's in-kernel time against a bare
   `AsyncOpenAI` stream of the same request (the very request the agent sent: system prompt, tools).
2. One step asking for 8 `read_file` calls (200-line files): from the first `ToolCallStarted` to the
   last `ToolFinished`, against 8 plain reads of the same files on a thread pool (<= 1.5x). Measured
   twice: the loop alone (a session run in the kernel with no subscriber: run, validate, mask, frame,
   events) and the cell (tool cards, ledger and log included).
3. A 20,000-token answer: the cell's in-kernel time against the bare `AsyncOpenAI` loop (<= 1.05x).
4. Bytes sent on iopub (display messages, whole) for an 80 KB Markdown answer against the answer's
   size (<= 3x), and how they grow from 20 KB to 80 KB (exponent 1: linear; 2: quadratic).
5. `agent_magic.usage()` first call in a fresh process over a 1,000,000-row ledger (the ledger of this
   run's real cells, its rows copied) against `pandas.read_sql` of the table (<= 0.5x and <= 1 s).
6. Short cells run back to back (Run-All pace; each timed from request to reply, as a frontend sees it)
   with the default request limits against the same cells with every limit off (<= 1.05x); and what
   still protects a shared endpoint: the most requests one kernel had at the endpoint while 32 asked
   at once.
Kept: 8 parallel read-only tools (0.25 s each) against 8 sleeps on a thread pool (the loop, and the
cell); `%load_ext agent_magic` against `%load_ext autoreload` in fresh kernels, and the memory it adds;
the memory the first answer adds against a kernel that ran the bare stream.

Run: .venv/bin/python benchmarks/bench_paths.py [--quick]
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from kernel_harness import Execution, RealKernel

from agent_magic.llm.sse_server import (
    LoopbackModelServer,
    Reply,
    StreamReply,
    text_chunks,
    tool_call_chunks,
    usage_chunk,
)

QUICK = "--quick" in sys.argv
REPEATS = 8 if QUICK else 30  # short paths
LONG_REPEATS = 3 if QUICK else 5  # the 20,000-token answer
LEDGER_ROWS = 100_000 if QUICK else 1_000_000
RUN_ALL_CELLS = 30
FILES, FILE_LINES = 8, 200
NAP_SECONDS = 0.25
SHORT_ANSWER = " ".join(f"word{i}" for i in range(40))

# -- the model server: replies chosen by the prompt ----------------------------------------------------


def _markdown(size: int) -> str:
    """A Markdown answer of about `size` characters: paragraphs, a code block and a table now and then."""
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    blocks, length, n = [], 0, 0
    while length < size:
        n += 1
        if n % 7 == 0:
            block = (
                "```python\n" + "".join(f"total_{i} = compute(total_{i - 1}, step={i})\n" for i in range(12)) + "```"
            )
        elif n % 11 == 0:
            block = "| column | value |\n|---|---|\n" + "".join(f"| row {i} | {i * 3.5} |\n" for i in range(10))
        else:
            block = sentence * 6
        blocks.append(block)
        length += len(block) + 2
    return "\n\n".join(blocks)[:size]


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


MARKDOWN = {kb: _markdown(kb * 1000) for kb in (20, 80)}
LONG_PIECES = [f"tok{i} " for i in range(20_000)]


def respond(request: dict[str, Any]) -> Reply:
    """The loopback server's answer, chosen by the conversation's last message."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return StreamReply(text_chunks("done.") + [usage_chunk(500, 2)])
    prompt = str(last["content"])
    if prompt.startswith("files"):
        calls = [("read_file", json.dumps({"path": f"file{i}.txt"})) for i in range(FILES)]
        return StreamReply(tool_call_chunks(calls) + [usage_chunk(400, 80)])
    if prompt.startswith("naps"):
        calls = [("nap", json.dumps({"seconds": NAP_SECONDS})) for _ in range(8)]
        return StreamReply(tool_call_chunks(calls) + [usage_chunk(400, 80)])
    if prompt.startswith("long"):
        return StreamReply(text_chunks("", pieces=LONG_PIECES) + [usage_chunk(400, len(LONG_PIECES))])
    if prompt.startswith("markdown"):
        text = MARKDOWN[int(prompt.split()[1])]
        return StreamReply(text_chunks("", pieces=_pieces(text)) + [usage_chunk(400, len(text) // 4)])
    if prompt.startswith("slow"):
        return StreamReply(text_chunks("ok") + [usage_chunk(400, 1)], first_byte_delay=0.05)
    return StreamReply(text_chunks(SHORT_ANSWER) + [usage_chunk(400, 40)])


class Recorder:
    """`respond`, keeping the last request (the bare contender replays exactly what the agent sent)."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    def __call__(self, request: dict[str, Any]) -> Reply:
        self.last = request
        return respond(request)


# -- statistics and the table --------------------------------------------------------------------------

UNITS = {"ms": 1000.0, "s": 1.0, "KB": 1 / 1000, "MB": 1.0, "": 1.0}


@dataclass
class Sample:
    """Measurements of one contender, in the row's base unit (seconds, bytes, MB or a count)."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def shown(self, unit: str) -> str:
        scale = UNITS[unit]
        low, mid, high = (v * scale for v in (min(self.values), self.median, max(self.values)))
        if len(self.values) == 1:
            return f"{mid:.4g} {unit}".rstrip()
        return f"{low:.3g} / {mid:.3g} / {high:.3g} {unit}".rstrip()


@dataclass
class Row:
    """One line of the table: a path, its floor, agent_magic, the ratio of the medians and its target."""

    path: str
    floor: str
    floor_sample: Sample
    ours: Sample
    unit: str
    target: float | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours.median / self.floor_sample.median

    def cells(self) -> list[str]:
        met = "" if self.target is None else ("yes" if self.ratio <= self.target else "NO")
        return [
            self.path,
            self.floor,
            self.floor_sample.shown(self.unit),
            self.ours.shown(self.unit),
            f"{self.ratio:.2f}x",
            "" if self.target is None else f"<= {self.target:g}x",
            met,
            self.note,
        ]


def report(row: Row) -> Row:
    """Print a row as soon as it is measured (the table at the end repeats it, aligned)."""
    print(" | ".join(cell for cell in row.cells() if cell), flush=True)
    return row


def print_table(rows: list[Row], kept: list[Row]) -> None:
    """The script's one table: issue 17's rows, then (below a line) what it keeps."""
    header = ["path", "floor", "floor min/med/max", "agent_magic min/med/max", "ratio", "target", "met", "note"]
    table = [header] + [row.cells() for row in rows + kept]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    rule = "  ".join("-" * width for width in widths)
    print("\nEach path against its floor, measured in this run (ratio of the medians)")
    for n, line in enumerate(table):
        if n in (1, len(rows) + 1):
            print(rule)
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


# -- the kernel ----------------------------------------------------------------------------------------

SETUP = """
import asyncio, concurrent.futures, json, time
from pathlib import Path
from openai import AsyncOpenAI
import agent_magic
from agent_magic.events import ToolCallStarted, ToolFinished, TurnEnded

_bench_cells, _bench_started = {}, [0.0]
get_ipython().events.register("pre_run_cell", lambda info: _bench_started.__setitem__(0, time.perf_counter()))
get_ipython().events.register(
    "post_run_cell",
    lambda result: _bench_cells.__setitem__(result.execution_count, time.perf_counter() - _bench_started[0]),
)

class _ToolPhase:
    '''Times each turn's tools: from the first tool card shown to the last result shown.'''
    def __init__(self):
        self.first, self.last, self.spans = None, None, []
    def handle(self, event):
        if isinstance(event, ToolCallStarted) and self.first is None:
            self.first = time.perf_counter()
        elif isinstance(event, ToolFinished):
            self.last = time.perf_counter()
        elif isinstance(event, TurnEnded) and self.first is not None:
            self.spans.append(self.last - self.first)
            self.first = None

_runtime = get_ipython().magics_manager.registry["AgentMagics"].runtime
_tool_phase = _ToolPhase()
_runtime.subscribers.append(_tool_phase)
_bare = AsyncOpenAI(max_retries=0)
_pool = concurrent.futures.ThreadPoolExecutor(8)
_paths = [Path.cwd() / f"file{i}.txt" for i in range(8)]
_floors, _loop_spans = [], []
from agent_magic.session import Session

@agent_magic.tool
def nap(seconds: float) -> str:
    '''Sleep, then say so.'''
    time.sleep(seconds)
    return "rested"
"""

BARE_STREAM = """
_stream = await _bare.chat.completions.create(**_request)
_parts = []
async for _chunk in _stream:
    if _chunk.choices and _chunk.choices[0].delta.content:
        _parts.append(_chunk.choices[0].delta.content)
_answer = "".join(_parts)
"""

PLAIN_READS = """
_started = time.perf_counter()
_loop = asyncio.get_running_loop()
_texts = await asyncio.gather(*(_loop.run_in_executor(_pool, p.read_text) for p in _paths))
_floors.append(time.perf_counter() - _started)
"""

LOOP_STEP = """
_session = Session(client_for=_runtime.client_for, tools=_runtime.session.tools, context=_runtime.session.context)
_first = _last = None
async for _event in _session.run_turn({prompt!r}, _runtime.turn_settings()):
    if isinstance(_event, ToolCallStarted) and _first is None:
        _first = time.perf_counter()
    elif isinstance(_event, ToolFinished):
        _last = time.perf_counter()
_loop_spans.append(_last - _first)
"""

PLAIN_NAPS = f"""
_started = time.perf_counter()
_loop = asyncio.get_running_loop()
await asyncio.gather(*(_loop.run_in_executor(_pool, time.sleep, {NAP_SECONDS}) for _ in range(8)))
_floors.append(time.perf_counter() - _started)
"""

# Every limit on model requests off (a trait this version lacks only draws a warning).
LIMITS_OFF = "%config AgentMagic.requests_per_second = 0\n%config AgentMagic.max_concurrent_requests = 0"

FLOOD = """
_flood_client = _runtime.client_for("bench")
async def _ask():
    async for _item in _flood_client.stream([{"role": "user", "content": "slow"}], []):
        pass
await asyncio.gather(*(_ask() for _ in range(32)))
"""

RSS_MB = (
    "__import__('sys') and int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS:'))) / 1024"
)

LOAD_TIMED = """
import time
_started = time.perf_counter()
get_ipython().run_line_magic("load_ext", {name!r})
print(time.perf_counter() - _started)
"""


def _start_kernel(env: dict[str, str], workdir: Path, attempts: int = 3) -> RealKernel:
    """A fresh kernel; started again if it died at start (another process took a port it had picked,
    which happens when several programs start kernels on the machine at once)."""
    for attempt in range(attempts):
        try:
            return RealKernel(env=env, cwd=workdir)
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class BenchKernel:
    """A real kernel on the loopback server (agent_magic loaded and the timing hooks installed, unless
    `bare`)."""

    def __init__(self, server: LoopbackModelServer, workdir: Path, home: Path, *, bare: bool = False) -> None:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench", "AGENT_MAGIC_HOME": str(home)}
        self.kernel = _start_kernel(env, workdir)
        if not bare:
            self.run("%load_ext agent_magic\n%config AgentMagic.model = 'bench'")
            self.run(SETUP)

    def run(self, code: str, *, timeout: float = 600) -> Execution:
        """Run a cell as JupyterLab does (stdin allowed: someone is watching); fail on an error."""
        run = self.kernel.execute(code, timeout=timeout, allow_stdin=True)
        if run.status != "ok":
            raise RuntimeError(f"benchmark cell failed:\n{code}\n{run.text[-2000:]}")
        return run

    def value(self, expression: str) -> Any:
        """A JSON value computed in the kernel."""
        return json.loads(self.run(f"import json\nprint(json.dumps({expression}))").text.strip().splitlines()[-1])

    def timed(self, code: str) -> int:
        """Run a cell whose in-kernel time `cell_times` reads later; returns its execution count."""
        return self.run(code).reply["content"]["execution_count"]

    def cell_times(self, counts: list[int]) -> list[float]:
        """In-kernel seconds of the cells run with these execution counts (pre_run_cell to post_run_cell)."""
        times = self.value("_bench_cells")
        return [times[str(count)] for count in counts]

    def close(self) -> None:
        self.kernel.close()


@contextmanager
def bench_kernel(server: LoopbackModelServer, workdir: Path, home: Path, **kw: Any) -> Iterator[BenchKernel]:
    kernel = BenchKernel(server, workdir, home, **kw)
    try:
        yield kernel
    finally:
        kernel.close()


# -- the rows ------------------------------------------------------------------------------------------


def stream_row(kernel: BenchKernel, recorder: Recorder, prompt: str, repeats: int) -> tuple[Sample, Sample]:
    """(bare stream, %%agent) in-kernel cell times, alternating, for the same request."""
    agent_cell = f"%%agent --new\n{prompt}"
    kernel.run(agent_cell)  # warms up, and shows the bare contender the request to send
    kernel.run(f"_request = json.loads({json.dumps(json.dumps(recorder.last))})")
    kernel.run(BARE_STREAM)
    bare, agent = [], []
    for _ in range(repeats):
        bare.append(kernel.timed(BARE_STREAM))
        agent.append(kernel.timed(agent_cell))
    return Sample(kernel.cell_times(bare)), Sample(kernel.cell_times(agent))


def tool_phase_row(kernel: BenchKernel, prompt: str, floor_code: str, repeats: int) -> tuple[Sample, Sample, Sample]:
    """(floor, the loop's tool step, the cell's tool phase), alternating. The loop's step is a session
    run in the kernel with no subscriber (what the loop itself costs: run, validate, mask, frame, its
    events); the cell's is what the cell shows, its renderer, ledger and log included."""
    for code in (floor_code, LOOP_STEP.format(prompt=prompt), f"%%agent --new\n{prompt}"):
        kernel.run(code)
    kernel.run("_floors.clear(); _loop_spans.clear(); _tool_phase.spans.clear()")
    for _ in range(repeats):
        kernel.run(floor_code)
        kernel.run(LOOP_STEP.format(prompt=prompt))
        kernel.run(f"%%agent --new\n{prompt}")
    spans = kernel.value("[_floors, _loop_spans, _tool_phase.spans]")
    return Sample(spans[0]), Sample(spans[1]), Sample(spans[2])


def display_bytes(run: Execution) -> int:
    """Bytes of the cell's display messages, whole (header, parent header, metadata, content) as JSON."""
    kinds = ("display_data", "update_display_data")
    parts = ("header", "parent_header", "metadata", "content")
    return sum(
        len(json.dumps({k: m[k] for k in parts}, default=str)) for m in run.messages if m["header"]["msg_type"] in kinds
    )


def iopub_row(kernel: BenchKernel) -> Row:
    sent = {kb: display_bytes(kernel.run(f"%%agent --new\nmarkdown {kb}")) for kb in MARKDOWN}
    growth = math.log(sent[80] / sent[20]) / math.log(80 / 20)
    return Row(
        "bytes on iopub, 80 KB answer",
        "the answer",
        Sample([len(MARKDOWN[80].encode())]),
        Sample([sent[80]]),
        "KB",
        3.0,
        note=f"20 KB -> 80 KB: growth exponent {growth:.2f} (1 linear, 2 quadratic)",
    )


def run_all_rows(server: LoopbackModelServer, workdir: Path) -> list[Row]:
    """Blocks of back-to-back cells in two kernels, alternating (default limits; every limit off), each
    cell timed from its request to its reply as a frontend sees it; then 32 requests at once from each
    kernel to an endpoint that answers after 50 ms."""
    home = Path(tempfile.mkdtemp(prefix="bench-runall-"))
    per_cell: dict[str, list[float]] = {"default": [], "off": []}
    with bench_kernel(server, workdir, home) as default, bench_kernel(server, workdir, home) as unlimited:
        unlimited.run(LIMITS_OFF)
        for _ in range(2 if QUICK else 3):
            for name, kernel in (("off", unlimited), ("default", default)):
                for _ in range(RUN_ALL_CELLS):
                    started = time.perf_counter()
                    kernel.run("%%agent\nshort")
                    per_cell[name].append(time.perf_counter() - started)
                kernel.run("%agent reset")
        in_flight = {}
        for name, kernel in (("default", default), ("off", unlimited)):
            with LoopbackModelServer(respond) as slow:
                kernel.run(f"%config AgentMagic.base_url = {slow.base_url!r}\n" + FLOOD)
                in_flight[name] = slow.max_in_flight
    shutil.rmtree(home, ignore_errors=True)
    return [
        Row("back-to-back cells (Run-All), per cell", "no limits", Sample(per_cell["off"]),
            Sample(per_cell["default"]), "ms", 1.05, "the default limits do not slow Run-All"),
        Row("32 requests at once: most at the endpoint", "no limits", Sample([in_flight["off"]]),
            Sample([in_flight["default"]]), "", None, "what still protects a shared endpoint"),
    ]  # fmt: skip


def usage_row(home: Path) -> Row:
    """`usage()` first call against `pandas.read_sql`, each in fresh processes on a fresh copy, alternating."""
    ledger = home / "ledger.db"
    grow_ledger(ledger, LEDGER_ROWS)
    floors, ours = [], []
    for _ in range(3):
        floors.append(
            in_fresh_process(ledger, "frame = pandas.read_sql('SELECT * FROM model_calls', sqlite3.connect(LEDGER))")
        )
        ours.append(in_fresh_process(ledger, "import agent_magic\nframe = agent_magic.usage(all_sessions=True, home=HOME)"))  # fmt: skip
    met = "met" if statistics.median(ours) <= 1.0 else "NOT met"
    return Row(f"usage() first call, {LEDGER_ROWS:,} rows", "pandas.read_sql", Sample(floors), Sample(ours), "s",
               0.5, f"and <= 1 s: {met}")  # fmt: skip


def grow_ledger(ledger: Path, rows: int) -> None:
    """Copy the ledger's recorded model calls until it holds `rows` of them. The columns are read from
    the table, so the copies follow whatever schema the ledger has; columns under a unique index get
    fresh values."""
    db = sqlite3.connect(ledger)
    columns = [c[1] for c in db.execute("PRAGMA table_info(model_calls)") if not c[5]]  # c[5]: primary key
    unique = {
        column[2]
        for index in db.execute("PRAGMA index_list(model_calls)").fetchall()
        if index[2]
        for column in db.execute(f"PRAGMA index_info({index[1]!r})")
    }
    chosen = ", ".join("hex(randomblob(16))" if c in unique else c for c in columns)
    (count,) = db.execute("SELECT count(*) FROM model_calls").fetchone()
    assert count > 0, "the kernel recorded no model calls"
    while count < rows:
        db.execute(
            f"INSERT INTO model_calls ({', '.join(columns)}) SELECT {chosen} FROM model_calls LIMIT ?", (rows - count,)
        )
        db.commit()
        (count,) = db.execute("SELECT count(*) FROM model_calls").fetchone()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def in_fresh_process(ledger: Path, statement: str) -> float:
    """Seconds `statement` takes in a new interpreter with pandas and IPython loaded (as a kernel has
    them), on a fresh copy of the ledger: nothing derived from it exists yet."""
    home = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    try:
        shutil.copy(ledger, home / ledger.name)
        script = (
            "import time, sqlite3, pandas, IPython\n"
            f"HOME, LEDGER = {str(home)!r}, {str(home / ledger.name)!r}\n"
            "started = time.perf_counter()\n"
            f"{statement}\n"
            "print(time.perf_counter() - started, len(frame))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        seconds, rows = done.stdout.split()[-2:]
        assert int(rows) >= LEDGER_ROWS, f"read {rows} rows, expected {LEDGER_ROWS:,}"
        return float(seconds)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def load_rows(server: LoopbackModelServer, workdir: Path, home: Path) -> list[Row]:
    """`%load_ext` in fresh kernels, alternating IPython's autoreload and agent_magic: the time it takes
    and the memory it adds to the kernel."""
    seconds: dict[str, list[float]] = {"autoreload": [], "agent_magic": []}
    added: dict[str, list[float]] = {"autoreload": [], "agent_magic": []}
    heavy = set()
    for _ in range(2 if QUICK else 4):
        for name in seconds:
            with bench_kernel(server, workdir, home, bare=True) as kernel:
                before = kernel.value(RSS_MB)
                seconds[name].append(float(kernel.run(LOAD_TIMED.format(name=name)).text.split()[-1]))
                added[name].append(kernel.value(RSS_MB) - before)
                if name == "agent_magic":
                    heavy |= set(
                        kernel.value("[m for m in ('openai', 'pandas', 'pydantic') if m in __import__('sys').modules]")
                    )
    return [
        Row("%load_ext", "%load_ext autoreload", Sample(seconds["autoreload"]), Sample(seconds["agent_magic"]), "ms",
            None, f"openai, pandas, pydantic imported by it: {', '.join(sorted(heavy)) or 'none'}"),
        Row("kernel memory added by %load_ext", "%load_ext autoreload", Sample(added["autoreload"]),
            Sample(added["agent_magic"]), "MB", None),
    ]  # fmt: skip


def first_answer_memory_row(server: LoopbackModelServer, recorder: Recorder, workdir: Path, home: Path) -> Row:
    """Kernel memory added by loading agent_magic and answering a first short cell, against a kernel that
    imported openai and streamed the same request bare; fresh kernels, alternating."""
    request = json.dumps(json.dumps(recorder.last))
    bare_setup = f"import json\nfrom openai import AsyncOpenAI\n_bare = AsyncOpenAI(max_retries=0)\n_request = json.loads({request})"
    added: dict[str, list[float]] = {"bare": [], "agent_magic": []}
    for _ in range(2):
        with bench_kernel(server, workdir, home, bare=True) as kernel:
            before = kernel.value(RSS_MB)
            kernel.run(bare_setup)
            kernel.run(BARE_STREAM)
            added["bare"].append(kernel.value(RSS_MB) - before)
        with bench_kernel(server, workdir, home, bare=True) as kernel:
            before = kernel.value(RSS_MB)
            kernel.run("%load_ext agent_magic\n%config AgentMagic.model = 'bench'")
            kernel.run("%%agent\nshort")
            added["agent_magic"].append(kernel.value(RSS_MB) - before)
    return Row("kernel memory added by the first answer", "bare AsyncOpenAI stream", Sample(added["bare"]),
               Sample(added["agent_magic"]), "MB", None, "agent_magic: load + first short cell")  # fmt: skip


def write_files(workdir: Path) -> None:
    for i in range(FILES):
        lines = "".join(
            f"line {j} of file {i}: an ordinary line of text, as in a log or a CSV\n" for j in range(FILE_LINES)
        )
        (workdir / f"file{i}.txt").write_text(lines)


def machine() -> str:
    cpus = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.machine()}, {cpus} CPUs, Linux {platform.release()}, Python {platform.python_version()}; load average at start {load}"


def main() -> None:
    print(f"Machine: {machine()}" + (" (quick run)" if QUICK else ""), flush=True)
    recorder = Recorder()
    rows: list[Row] = []
    kept: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, LoopbackModelServer(recorder) as server:
        workdir, home = Path(tmp) / "work", Path(tmp) / "home"
        workdir.mkdir()
        write_files(workdir)
        with bench_kernel(server, workdir, home) as kernel:
            short = stream_row(kernel, recorder, "short", REPEATS)
            rows.append(report(Row("short turn, in-kernel", "bare AsyncOpenAI stream", *short, "ms", 1.15)))
            floor, loop, cell = tool_phase_row(kernel, "files", PLAIN_READS, REPEATS)
            reads = "8 plain reads, thread pool"
            rows.append(
                report(
                    Row(
                        "8 x read_file in one step (the loop)",
                        reads,
                        floor,
                        loop,
                        "ms",
                        1.5,
                        "run, validate, mask, frame, events",
                    )
                )
            )
            rows.append(
                report(
                    Row(
                        "8 x read_file in one step (the cell)",
                        reads,
                        floor,
                        cell,
                        "ms",
                        None,
                        "+ tool cards (ui/notebook.py), ledger and log (ledger/)",
                    )
                )
            )
            long = stream_row(kernel, recorder, "long", LONG_REPEATS)
            rows.append(report(Row("20,000-token answer, in-kernel", "bare AsyncOpenAI loop", *long, "s", 1.05)))
            rows.append(report(iopub_row(kernel)))
            floor, loop, cell = tool_phase_row(kernel, "naps", PLAIN_NAPS, 3 if QUICK else 8)
            naps = f"8 parallel read-only tools ({NAP_SECONDS:g} s each)"
            kept.append(report(Row(f"{naps} (the loop)", "8 sleeps, thread pool", floor, loop, "s", 1.15)))
            kept.append(report(Row(f"{naps} (the cell)", "8 sleeps, thread pool", floor, cell, "s", None)))
        rows.append(report(usage_row(home)))
        rows += [report(row) for row in run_all_rows(server, workdir)]
        kept += [report(row) for row in load_rows(server, workdir, home)]
        kept.append(report(first_answer_memory_row(server, recorder, workdir, home)))
    print_table(rows, kept)


if __name__ == "__main__":
    main()
