"""Replay benchmark: what recording costs each live model call, and what answering one from a recording
costs, as the conversation grows. Every call's request is fingerprinted (the whole transcript hashed)
and written to the ledger; a replayed call is looked up among the replay file's recordings.

Recording is linear in the request, like the JSON encoding the HTTP client does for every call anyway,
so its target is relative (robust on a shared machine): recording one call ≤ 3x encoding its request,
plus 5 ms for its ledger row.
Finding a recording among 1,000 in a replay file: ≤ 5 ms. Prints a table; run with
`python benchmarks/bench_replay.py`.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from agent_magic.config import AgentMagic
from agent_magic.events import AssistantMessage, ModelCallStarted, ModelRequest, TurnEnded, TurnState, Usage
from agent_magic.ledger.kernel_ledger import KernelLedger
from agent_magic.ledger.replay_file import write_replay_file
from agent_magic.ledger.replay_records import ReplayRecorder
from agent_magic.ledger.store import LedgerStore
from agent_magic.llm.recording import Recording, RequestFingerprint
from agent_magic.replay import ReplayLibrary

MESSAGE_CHARS = 2_000
TOOLS = [
    {"type": "function", "function": {"name": f"tool_{n}", "description": "d" * 300, "parameters": {"type": "object"}}}
    for n in range(10)
]


def transcript(length: int) -> list[dict]:
    roles = ["user", "assistant"]
    body = [{"role": roles[i % 2], "content": f"{i} " + "x" * MESSAGE_CHARS} for i in range(length)]
    return [{"role": "system", "content": "You are an assistant inside a Jupyter notebook."}, *body]


def per_call(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def recording_cost(store: LedgerStore, messages: list[dict], repeat: int = 20) -> float:
    """One live call's share of recording: the fingerprint and the ledger row."""
    recorder = ReplayRecorder(lambda: store)
    ids = {"session_id": "s1", "turn_id": "t1"}
    request = ModelRequest(messages, TOOLS)
    counter = iter(range(10**9))

    def one() -> None:
        n = next(counter)
        step = {**ids, "turn_id": f"t{n}"}
        recorder.handle(ModelCallStarted(**step, step=1, model="m", request=request))
        recorder.handle(Usage(**step, model="m", input_tokens=50_000, output_tokens=300))
        recorder.handle(AssistantMessage(**step, text="An answer. " * 40, tool_calls=(), finish_reason="stop"))
        recorder.handle(TurnEnded(**step, state=TurnState.COMPLETED))

    return per_call(one, repeat)


def lookup_cost(folder: Path, recordings: int, repeat: int = 200) -> float:
    """Finding a recording among `recordings` in a replay file (after the first read)."""
    made = [
        Recording(
            RequestFingerprint.of("m", transcript(2) + [{"role": "user", "content": str(n)}], TOOLS, None),
            "a",
            (),
            "stop",
        )
        for n in range(recordings)
    ]
    write_replay_file(folder / "bench.agent-replay.jsonl", made)
    config = AgentMagic(home=str(folder / ".agent"), replay_dir=str(folder))
    library = ReplayLibrary(config, KernelLedger(config, {}))
    wanted = made[recordings // 2].fingerprint
    assert library.find(wanted) is not None  # the first read parses the file
    return per_call(lambda: library.find(wanted), repeat)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    store = LedgerStore(home)
    rows = []
    for length in (10, 100, 400):
        messages = transcript(length)
        size = len(json.dumps(messages)) // 1000
        encoding = per_call(lambda messages=messages: json.dumps({"messages": messages, "tools": TOOLS}), 20)
        rows.append((f"encoding the request, {length} messages (~{size} KB)", encoding, None))
        rows.append((f"recording one call, {length} messages", recording_cost(store, messages), 3 * encoding + 0.005))
    rows.append(("finding a recording among 1,000 in a replay file", lookup_cost(home, 1_000), 0.005))
    print(f"{'what':<52} {'ms per call':>12} {'target':>10}")
    for label, seconds, target in rows:
        verdict = "" if target is None else ("ok" if seconds <= target else "MISSED")
        shown = "" if target is None else f"≤ {target * 1000:.2f}"
        print(f"{label:<52} {seconds * 1000:>12.2f} {shown:>10} {verdict}")


if __name__ == "__main__":
    main()
