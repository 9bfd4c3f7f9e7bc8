"""The kernel's replay: which mode is on, where the recordings are, and which model answers a turn.

`AgentMagic.replay` (default from `$AGENT_MAGIC_REPLAY`): `off` calls the model; `auto` answers each model
call that was recorded from its recording and calls the model on a miss; `strict` never calls the model,
and a miss fails the cell with one line naming it and the reason (`llm/replay.py`).

Recordings come from the replay files next to the notebook (`*agent-replay.jsonl` in the notebook's folder,
or `AgentMagic.replay_dir`), which win, and from the ledger, where every answered call is recorded
(`ledger/replay_records.py`). `%agent replay export` writes this kernel's recordings to such a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent_magic.events import Event, TurnStarted
from agent_magic.ledger.replay_file import SUFFIX, is_replay_file, read_replay_file, write_replay_file
from agent_magic.ledger.replay_records import (
    ReplayRecorder,
    find_recording,
    notebook_recordings,
    session_recordings,
)
from agent_magic.llm.recording import Recording, RequestFingerprint

if TYPE_CHECKING:
    from agent_magic.config import AgentMagic
    from agent_magic.ledger.kernel_ledger import KernelLedger
    from agent_magic.llm.model import ChatModel


@dataclass(frozen=True)
class Export:
    """What `%agent replay export` did: the file, the recordings written from the ledger, and those kept
    from the file as it was."""

    path: Path
    written: int
    kept: int


class ReplayLibrary:
    """One kernel's recordings and replay mode (`llm.replay.Recordings` for `ReplayModel`), and the event
    subscriber that records the kernel's answered model calls."""

    def __init__(self, config: AgentMagic, ledger: KernelLedger) -> None:
        self.config = config
        self.ledger = ledger
        self.recorder = ReplayRecorder(lambda: ledger.store)
        self.sessions: list[str] = []  # this kernel's sessions, in order: what `export` writes
        # Replay files by path, re-read when their size or time changes, and their recordings by key.
        self._files: dict[Path, tuple[tuple[int, int], list[Recording]]] = {}
        self._index: tuple[tuple[tuple[int, int], ...], dict[str, Recording]] = ((), {})

    @property
    def mode(self) -> str:
        """`off`, `auto` or `strict` (`AgentMagic.replay`)."""
        return self.config.replay

    def handle(self, event: Event) -> None:
        """Record the event for replay, and remember the kernel's sessions."""
        if isinstance(event, TurnStarted) and event.session_id not in self.sessions:
            self.sessions.append(event.session_id)
        self.recorder.handle(event)

    # -- where recordings are ----------------------------------------------------------------------------

    def folder(self) -> Path:
        """Where the replay files are: `AgentMagic.replay_dir`, else the notebook's folder (the working
        directory when the kernel was not told its notebook, as under nbclient and papermill)."""
        if self.config.replay_dir:
            return Path(self.config.replay_dir).expanduser().resolve()
        notebook = Path(self.ledger.notebook)
        return notebook.parent if notebook.suffix == ".ipynb" else notebook

    def files(self) -> dict[Path, list[Recording]]:
        """The replay files of the folder and their recordings (a damaged file raises `ReplayFileError`)."""
        folder = self.folder()
        found = sorted(path for path in folder.iterdir() if is_replay_file(path)) if folder.is_dir() else []
        result = {}
        for path in found:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            cached = self._files.get(path)
            if cached is None or cached[0] != stamp:
                cached = self._files[path] = (stamp, read_replay_file(path))
            result[path] = cached[1]
        return result

    def _file_index(self) -> dict[str, Recording]:
        files = self.files()
        stamps = tuple(self._files[path][0] for path in files)
        if stamps != self._index[0]:
            index = {recording.fingerprint.key: recording for recordings in files.values() for recording in recordings}
            self._index = (stamps, index)
        return self._index[1]

    def find(self, fingerprint: RequestFingerprint) -> Recording | None:
        """The recording of this request: from a replay file, else from the ledger."""
        return self._file_index().get(fingerprint.key) or find_recording(self.ledger.store, fingerprint.key)

    def candidates(self) -> list[RequestFingerprint]:
        """The recorded requests of the files and of this notebook in the ledger (to explain a miss)."""
        recordings = [*self._file_index().values(), *notebook_recordings(self.ledger.store, self.ledger.notebook)]
        return [recording.fingerprint for recording in recordings]

    # -- the model of a turn -----------------------------------------------------------------------------

    def model_for(self, model: str, live: Callable[[str], ChatModel]) -> ChatModel:
        """The model for a turn: `live(model)` when replay is off, else a `ReplayModel` over these
        recordings that falls back to the live model in `auto` mode."""
        if self.mode == "off":
            return live(model)
        from agent_magic.llm.replay import ReplayModel

        fallback = None if self.mode == "strict" else (lambda: live(model))
        return ReplayModel(model, self, live=fallback)

    # -- export ------------------------------------------------------------------------------------------

    def default_export_path(self) -> Path:
        """`<notebook>.agent-replay.jsonl` next to the notebook (`agent-replay.jsonl` when the kernel does not
        know its notebook's name)."""
        notebook = Path(self.ledger.notebook)
        name = f"{notebook.stem}.{SUFFIX}" if notebook.suffix == ".ipynb" else SUFFIX
        return self.folder() / name

    def export(self, path: Path | None = None, *, everything: bool = False, replace: bool = False) -> Export:
        """Write this kernel's recordings (`everything`: the notebook's, from every kernel) to `path`
        (default: `default_export_path()`), keeping the recordings the file already has unless `replace`.
        Nothing is written when there is nothing to export."""
        store = self.ledger.store
        if everything:
            recordings = notebook_recordings(store, self.ledger.notebook)
        else:
            recordings = session_recordings(store, self.sessions)
        target = (path or self.default_export_path()).expanduser().resolve()
        if not recordings:
            return Export(target, 0, 0)
        new_keys = {recording.fingerprint.key for recording in recordings}
        kept = []
        if target.exists() and not replace:
            # An export from a partial run must not drop the other cells' recordings.
            kept = [r for r in read_replay_file(target) if r.fingerprint.key not in new_keys]
        write_replay_file(target, [*kept, *recordings])
        return Export(target, len(recordings), len(kept))
