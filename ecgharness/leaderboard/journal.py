"""The run's journal: every row the run stores and every search event, appended as one JSON
line the moment it happens (flushed and synced), so ``bench run --resume`` finds all that a
run had done when it stopped, even after ``kill -9``.

The journal is the source of truth of a resumed run: the tables are rebuilt from its rows,
each pair's Optuna study and ASHA rungs are replayed from its trials' results, and trials it
shows as unfinished go on from their checkpoints. A line cut short by a kill is ignored.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

from ecgharness.config import plain

JOURNAL_FILE = "journal.jsonl"


class Journal:
    """Appends events to ``<run>/journal.jsonl``.

    Args:
        run_dir: The run folder.
        session: Which start of the run writes (0 for the first, one more for every resume).
    """

    def __init__(self, run_dir: Path, session: int = 0) -> None:
        self.path = Path(run_dir) / JOURNAL_FILE
        self.session = session
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    def write(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"kind": kind, "t": time.time(), "session": self.session, **plain(fields)})
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles the searcher that holds it: the file stays here
        return {"path": self.path, "session": self.session}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.session = state["path"], state["session"]
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115


def read_journal(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete event of the run's journal, in order (an empty list when it has none)."""
    path = Path(run_dir) / JOURNAL_FILE
    if not path.exists():
        return []
    return list(_events(path))


def _events(path: Path) -> Iterator[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # the last line, cut short when the run was killed
                return
            raise ValueError(f"{path} line {number} is damaged ({exc.msg}); the run cannot be resumed from it. "
                             "Start a new run, or cut the journal at that line to resume what came before") from exc


def sessions(events: list[dict[str, Any]]) -> int:
    """How many times the run has started (its next session number)."""
    return 1 + max((int(e.get("session", 0)) for e in events), default=-1)

