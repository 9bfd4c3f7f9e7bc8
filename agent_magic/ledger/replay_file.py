"""Replay files: a notebook's recordings in a file that sits next to it and can be committed, so CI can
replay the notebook on a fresh clone with no key and no ledger.

The format is JSON lines: a header `{"format": "agent_magic.replay", "v": 1}`, then one record per line
(`llm.recording.Recording.to_json()`, keys sorted), in the order the calls were made. Lines are stable
from one export to the next, so a diff shows only the calls that changed. A file that cannot be read is
one `ReplayFileError` naming the file and the line; it is never half-used.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from agent_magic.errors import ReplayFileError
from agent_magic.llm.recording import Recording

FORMAT = "agent_magic.replay"
VERSION = 1
SUFFIX = "agent-replay.jsonl"  # `analysis.agent-replay.jsonl` next to `analysis.ipynb`
FIX = "export it again with %agent replay export, or delete it"


def is_replay_file(path: Path) -> bool:
    """True for the files replay reads: names ending in `agent-replay.jsonl`."""
    return path.name.endswith(SUFFIX) and path.is_file()


def write_replay_file(path: Path, recordings: Iterable[Recording]) -> int:
    """Write `recordings` to `path` (replaced atomically: a reader never sees half a file); returns how
    many were written."""
    lines = [json.dumps({"format": FORMAT, "v": VERSION})]
    lines += [json.dumps(recording.to_json(), ensure_ascii=False, sort_keys=True) for recording in recordings]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(lines) - 1


def read_replay_file(path: Path) -> list[Recording]:
    """The recordings in `path`; raises `ReplayFileError` (one line: the file, the line, the fix)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplayFileError(f"replay file {path}: cannot be read ({exc}); {FIX}") from None
    recordings = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayFileError(f"replay file {path}, line {number}: not JSON ({exc.msg}); {FIX}") from None
        if number == 1:
            _check_header(path, data)
            continue
        try:
            recordings.append(Recording.from_json(data))
        except ValueError as exc:
            raise ReplayFileError(f"replay file {path}, line {number}: {exc}; {FIX}") from None
    if not text.strip():
        raise ReplayFileError(f"replay file {path} is empty; {FIX}")
    return recordings


def _check_header(path: Path, data: object) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReplayFileError(
            f'replay file {path}, line 1: not an agent_magic replay file (no {{"format": "{FORMAT}"}} header); {FIX}'
        )
    version = data.get("v")
    if not isinstance(version, int) or version > VERSION:
        raise ReplayFileError(
            f"replay file {path}: format version {version!r} is newer than this agent_magic reads ({VERSION}); "
            "upgrade agent_magic"
        )
