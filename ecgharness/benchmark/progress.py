"""Progress of a whole suite: how many pairs search, are in final evaluation or are done, how
many trials have ended, how many slots are busy and about how long is left.

:class:`ProgressTracker` is an observer of the run: it counts the run's events, hands a
:class:`SuiteProgress` to the other observers (the console draws it as one status line) and
keeps ``status.json`` in the run folder current, so ``bench status RUN`` can print it from
any machine that sees the storage.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ecgharness.benchmark.observers import FinalDone, Pair, RunObserver, SearchDone, TrialEnd, TrialInfo

STATES = ("waiting", "searching", "final", "done")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True)
class PairProgress:
    """One pair: ``state`` is waiting, searching, final or done."""

    pair: str
    state: str
    trials_done: int
    trials_total: int
    finals_done: int
    finals_total: int
    best_score: float | None = None
    budget_cut: str = ""


@dataclass(frozen=True)
class SuiteProgress:
    """The counts of a suite at one moment (the content of ``status.json``)."""

    suite: str
    run_id: str
    state: str  # running, finished or stopped
    pairs: tuple[PairProgress, ...]
    trials_running: int
    slots_busy: int
    slots_total: int
    elapsed_s: float
    remaining_s: float | None
    updated: float = field(default_factory=time.time)

    def count(self, state: str) -> int:
        return sum(p.state == state for p in self.pairs)

    @property
    def trials_done(self) -> int:
        return sum(p.trials_done for p in self.pairs)

    @property
    def trials_total(self) -> int:
        return sum(p.trials_total for p in self.pairs)

    @property
    def finals_done(self) -> int:
        return sum(p.finals_done for p in self.pairs)

    @property
    def finals_total(self) -> int:
        return sum(p.finals_total for p in self.pairs)

    def line(self) -> str:
        """The one status line of the suite."""
        left = "" if self.state != "running" else f", ~{_clock(self.remaining_s)} left"
        return (f"[{self.state}] pairs: {self.count('searching')} searching, {self.count('final')} in final, "
                f"{self.count('done')}/{len(self.pairs)} done | trials {self.trials_done}/{self.trials_total} | "
                f"final runs {self.finals_done}/{self.finals_total} | slots {self.slots_busy}/{self.slots_total} "
                f"busy | {_clock(self.elapsed_s)} elapsed{left}")

    def to_dict(self) -> dict[str, Any]:
        counts = {f"pairs_{s}": self.count(s) for s in STATES}
        totals = {k: getattr(self, k) for k in ("trials_done", "trials_total", "finals_done", "finals_total")}
        return {**asdict(self), **counts, **totals, "pairs": [asdict(p) for p in self.pairs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SuiteProgress":
        names = set(cls.__dataclass_fields__)
        pairs = tuple(PairProgress(**p) for p in data.get("pairs", []))
        return cls(**{**{k: v for k, v in data.items() if k in names}, "pairs": pairs})


class ProgressTracker(RunObserver):
    """Counts the events of a run into :class:`SuiteProgress` snapshots.

    Args:
        suite, run_id: Names of the run.
        planned: Trials planned per pair, in suite order.
        seeds: Final seeds per pair.
        slots: How many trials the cluster runs at once.
        emit: Receives each snapshot (the other observers' ``progress`` event).
        write: Stores a snapshot (``status.json``).
        every_s: Least seconds between two snapshots when nothing but the clock changed.
    """

    def __init__(self, suite: str, run_id: str, planned: dict[Pair, int], seeds: int, slots: int,
                 emit: Callable[[SuiteProgress], None], write: Callable[[SuiteProgress], None],
                 every_s: float = 1.0) -> None:
        self.suite, self.run_id, self.seeds, self.slots = suite, run_id, seeds, max(1, slots)
        self.emit, self.write, self.every_s = emit, write, every_s
        self.pairs = list(planned)
        self.total = dict(planned)
        self.state = {p: "waiting" for p in planned}
        self.done = {p: 0 for p in planned}
        self.finals = {p: seeds for p in planned}
        self.finals_done = {p: 0 for p in planned}
        self.best: dict[Pair, float] = {}
        self.cut: dict[Pair, str] = {}
        self.running: set[tuple[Pair, str]] = set()
        self.unit_seconds: list[float] = []
        self.start = time.monotonic()
        self._last_emit = -1e9
        self._last_key: tuple = ()

    def take_up(self, pair: Pair, trials_done: int, searched: bool, best: float | None, finals_done: int) -> None:
        """Start from what a stopped run had done of ``pair`` (``bench run --resume``)."""
        self.done[pair], self.finals_done[pair] = trials_done, finals_done
        if searched:
            self.total[pair] = trials_done
            if best is None:
                self.finals[pair], self.state[pair] = 0, "done"
            else:
                self.best[pair] = best
                self.state[pair] = "done" if finals_done >= self.finals[pair] else "final"
        elif trials_done:
            self.state[pair] = "searching"

    def trial_started(self, trial: TrialInfo) -> None:
        self.running.add((trial.pair, trial.trial_id))
        if self.state[trial.pair] == "waiting":
            self.state[trial.pair] = "searching"
        self.tick()

    def trial_ended(self, end: TrialEnd) -> None:
        self.running.discard((end.trial.pair, end.trial.trial_id))
        self.done[end.trial.pair] += 1
        self.unit_seconds.append(end.seconds)
        self.tick()

    def search_finished(self, done: SearchDone) -> None:
        pair = done.pair
        self.total[pair] = self.done[pair]  # a budget may have cut trials that never started
        self.cut[pair] = done.budget_cut
        if done.best is None:
            self.finals[pair], self.state[pair] = 0, "done"
        else:
            self.best[pair], self.state[pair] = done.best.score, "final"
        self.tick()

    def final_finished(self, done: FinalDone) -> None:
        self.finals_done[done.pair] += 1
        if done.record is not None:
            self.unit_seconds.append(done.record.train_time_s)
        if self.finals_done[done.pair] >= self.finals[done.pair]:
            self.state[done.pair] = "done"
        self.tick()

    def snapshot(self, state: str = "running") -> SuiteProgress:
        in_final = sum(self.finals[p] - self.finals_done[p] for p in self.pairs if self.state[p] == "final")
        busy = min(self.slots, len(self.running) + in_final)
        left_units = sum(self.total[p] - self.done[p] + self.finals[p] - self.finals_done[p] for p in self.pairs)
        mean = sum(self.unit_seconds) / len(self.unit_seconds) if self.unit_seconds else None
        remaining = None if mean is None else left_units * mean / self.slots
        pairs = tuple(PairProgress(p.label, self.state[p], self.done[p], self.total[p], self.finals_done[p],
                                   self.finals[p], self.best.get(p), self.cut.get(p, "")) for p in self.pairs)
        return SuiteProgress(self.suite, self.run_id, state, pairs, len(self.running), busy, self.slots,
                             time.monotonic() - self.start, remaining)

    def tick(self, force: bool = False) -> None:
        """Hand out and store a snapshot if a count changed or ``every_s`` passed."""
        snap = self.snapshot()
        key = (tuple(snap.pairs), snap.trials_running, snap.slots_busy)
        now = time.monotonic()
        if force or key != self._last_key or now - self._last_emit >= self.every_s:
            self._last_key, self._last_emit = key, now
            self.write(snap)
            self.emit(snap)

    def close(self, state: str) -> None:
        """The last snapshot: ``finished`` or ``stopped``."""
        snap = self.snapshot(state)
        self.write(snap)
        self.emit(snap)
