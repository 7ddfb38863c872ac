"""What a stopped run's journal says about each pair's search, for ``bench run --resume``.

The schedule journals every trial it suggests, starts, hears an epoch from, restarts and ends,
and every pair whose search ended (with its best trial). :func:`replay` folds those events into
one :class:`PairLog` per pair; the searcher, the scheduler and each pair's trials start from it:
trials that ended are not run again, trials that were running start again from their
checkpoints, each pair's Optuna study is told every trial it had finished and ASHA's rungs hold
every result they had recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# event kinds of the search, beside the store's "rows"
SUGGEST, START, RESULT, RETRY, END, SEARCHED = "suggest", "start", "result", "retry", "end", "searched"
_SEARCH = (SUGGEST, START, RESULT, RETRY, END, SEARCHED)


@dataclass
class PairLog:
    """One pair's search as the journal recorded it.

    Attributes:
        suggested: Trial id -> hyperparameters, in the order the trials were suggested.
        started: Trials that started.
        results: (trial id, reported row) in the order they arrived.
        ended: Trial id -> its record (the fields of a ``TrialRecord``).
        retries: Trial id -> restarts after a lost worker.
        searched: The pair's search had ended; ``best`` is its best trial (None: none finished).
        seconds: Time the pair searched, over every session of the run.
    """

    suggested: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    results: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ended: dict[str, dict[str, Any]] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    searched: bool = False
    best: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def unfinished(self) -> list[tuple[str, dict[str, Any]]]:
        """(trial id, hyperparameters) of the trials suggested that never ended, in order."""
        return [(t, c) for t, c in self.suggested.items() if t not in self.ended]


def _spans(times: dict[int, list[float]]) -> float:
    return sum(max(ts) - min(ts) for ts in times.values())


def replay(events: list[dict[str, Any]]) -> dict[str, PairLog]:
    """Pair key -> its :class:`PairLog`, from a run's journal events."""
    logs: dict[str, PairLog] = {}
    times: dict[str, dict[int, list[float]]] = {}
    for event in events:
        kind, key = event["kind"], event.get("pair")
        if key is None or kind not in _SEARCH:
            continue
        log = logs.setdefault(key, PairLog())
        times.setdefault(key, {}).setdefault(int(event.get("session", 0)), []).append(float(event["t"]))
        trial = event.get("trial", "")
        if kind == SUGGEST:
            log.suggested[trial] = dict(event["config"])
        elif kind == START:
            log.started.add(trial)
        elif kind == RESULT:
            log.results.append((trial, dict(event["row"])))
        elif kind == RETRY:
            log.retries[trial] = log.retries.get(trial, 0) + 1
        elif kind == END:
            log.ended[trial] = dict(event["record"])
        else:
            log.searched, log.best = True, event.get("best")
    for key, log in logs.items():
        log.seconds = _spans(times[key])
    return logs


def suite_seconds(events: list[dict[str, Any]]) -> float:
    """Time the suite searched over every session of the run (its time budget counts it)."""
    times: dict[int, list[float]] = {}
    for event in events:
        if event["kind"] in _SEARCH:
            times.setdefault(int(event.get("session", 0)), []).append(float(event["t"]))
    return _spans(times)
