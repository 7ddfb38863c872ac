"""The trials of one (dataset, model) pair as they run, and what its search leaves behind.

Each pair of the schedule (:mod:`ecgharness.benchmark.schedule`) has one :class:`PairTrials`:
it turns the Tune events of the pair's trials into observer events, keeps each trial's
reported epochs for ``trial_history.csv`` and, once the pair's last trial has ended, writes
the pair's rows and names its best trial.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ecgharness.benchmark.multiplex import FAILED, RESTORED, RESUMED_FROM
from ecgharness.benchmark.observers import BestTrial, Observers, Pair, SearchDone, TrialEnd, TrialInfo
from ecgharness.benchmark.trials import error_reason
from ecgharness.leaderboard.store import BUDGET_STATUS, FailureRecord, RunWriter, TrialRecord

_HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "score", "best_score", "early_stopped", "node_ip")
_PLACE_KEYS = ("node_id", "node_ip", "device")  # where the trial ran, reported with its epochs


def trial_error(trial: Any) -> BaseException | None:
    """The exception Tune stored for a failed trial (read from the trial's local folder)."""
    import cloudpickle

    try:
        with open(trial.pickled_error_file, "rb") as f:
            return cloudpickle.load(f)
    except (OSError, TypeError, ValueError, EOFError):
        return None


class PairTrials:
    """The trials of one pair: observer events, reported epochs, one record per ended trial.

    Trials are named by their lasting ids (see :func:`~ecgharness.benchmark.multiplex.trial_of`).
    Each event is journaled as it happens; :meth:`restore` takes up a stopped run's.

    Args:
        pair: The pair.
        max_epochs: Epoch budget of a trial (a trial that stopped before it was stopped by ASHA).
        observers: Where the events go.
        seed: Seed of the pair's search trials.
        headline: The dataset's headline metric.
        journal: The run's journal (None: nothing is journaled).
    """

    def __init__(self, pair: Pair, max_epochs: int, observers: Observers, seed: int = 0, headline: str = "",
                 journal: Any = None) -> None:
        self.pair, self.max_epochs, self.observers = pair, max_epochs, observers
        self.seed, self.headline, self.journal = seed, headline, journal
        self.history: list[dict[str, Any]] = []
        self._epochs: set[tuple[str, Any]] = set()  # (trial, epoch) of every row in ``history``
        self.last: dict[str, dict[str, Any]] = {}
        self.placed: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.started: dict[str, float] = {}
        self.records: list[TrialRecord] = []
        self.failed: dict[str, str] = {}  # trial -> why its training raised (reported, never retried)
        self.retries: dict[str, int] = {}
        self.first_start: float | None = None
        self.spent = 0.0  # seconds searched in earlier sessions of the run

    def _journal(self, kind: str, trial_id: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.write(kind, pair=self.pair.label, trial=trial_id, **fields)

    def restore(self, log: Any) -> None:
        """Take up what a stopped run's journal recorded of this pair (a :class:`PairLog`)."""
        self.configs.update(log.suggested)
        self.started.update({t: 0.0 for t in log.started})
        for trial_id, row in log.results:
            self._keep(trial_id, row)
        self.retries.update(log.retries)
        self.records = [TrialRecord(**{**r, "config": log.suggested.get(r["trial_id"], {})})
                        for r in log.ended.values()]
        self.spent = log.seconds

    def _info(self, trial_id: str) -> TrialInfo:
        return TrialInfo(self.pair, trial_id, self.configs.get(trial_id, {}), self.seed, self.max_epochs)

    def best_epoch(self, trial_id: str) -> int:
        """The first epoch at which the trial reached its best validation score."""
        rows = [r for r in self.history if r["trial_id"] == trial_id]
        best = max((r["score"] for r in rows), default=None)
        return next((int(r["epoch"]) for r in rows if r["score"] == best), 0)

    def stop_reason(self, trial_id: str, budget: bool = False) -> str:
        last = self.last.get(trial_id)
        if not last:
            return "no epoch reported"
        if last.get("early_stopped"):
            return "early stopping (patience)"
        if int(last.get("epoch", 0)) < self.max_epochs:
            return BUDGET_STATUS if budget else "stopped by ASHA"
        return "completed"

    def start(self, trial_id: str, config: dict[str, Any]) -> None:
        if trial_id in self.started and trial_id in self.last:  # a resumed or restarted trial goes on
            self.started[trial_id] = self.started[trial_id] or time.time()
        else:
            self.started[trial_id] = time.time()
        self.configs[trial_id] = config
        self.first_start = self.first_start or time.perf_counter()
        self._journal("start", trial_id)
        self.observers.trial_started(self._info(trial_id))

    def retried(self, trial_id: str) -> None:
        """The trial's worker was lost; Tune starts it again from its last checkpoint."""
        self.retries[trial_id] = self.retries.get(trial_id, 0) + 1
        self._journal("retry", trial_id)

    def _keep(self, trial_id: str, row: dict[str, Any]) -> bool:
        """Keep an epoch row unless the trial's history has that epoch already."""
        if (trial_id, row.get("epoch")) in self._epochs:
            return False
        self._epochs.add((trial_id, row.get("epoch")))
        kept = {**{k: v for k, v in row.items() if k in _HISTORY_KEYS or k.startswith("val_")}, "trial_id": trial_id}
        self.history.append(kept)
        self.last[trial_id] = kept
        place = {k: row[k] for k in _PLACE_KEYS if k in row}
        if place:
            self.placed[trial_id] = place
        return True

    def report(self, trial_id: str, result: dict[str, Any]) -> None:
        if result.get(FAILED):
            self.failed[trial_id] = str(result[FAILED])
            return
        if RESTORED in result and trial_id in self.last:  # a trial the run had heard of starts again
            self._journal("resumed", trial_id, epoch=int(result.get(RESUMED_FROM, 0)))
        for row in result.get(RESTORED) or []:  # epochs saved by a checkpoint that were never heard of
            if self._keep(trial_id, row):
                self._journal("result", trial_id, row=row)
        if "epoch" not in result:
            return
        row = {k: v for k, v in result.items()
               if k in _HISTORY_KEYS or k.startswith("val_") or k in _PLACE_KEYS or k == RESUMED_FROM}
        if self._keep(trial_id, row):
            self._journal("result", trial_id, row=row)
            self.observers.trial_reported(self._info(trial_id), dict(result))

    def end(self, trial_id: str, error: BaseException | None = None, failed: bool = False,
            budget: bool = False) -> None:
        """Record how the trial ended (``failed`` with ``error``, or stopped; ``budget``: by the time budget)."""
        if trial_id not in self.started:
            return  # stopped before it started (its pair's budget ran out): it never ran
        last = self.last.get(trial_id, {})
        failed = failed or trial_id in self.failed
        status = "failed" if failed else self.stop_reason(trial_id, budget)
        reason = (self.failed.get(trial_id) or error_reason(error)) if failed else ""
        score = float(last.get("best_score", math.nan))
        record = TrialRecord(
            dataset=self.pair.dataset, model=self.pair.model, trial_id=trial_id, status=status,
            epochs=int(last.get("epoch", 0)), best_val_score=score, headline=self.headline,
            reason=reason, config=self.configs[trial_id], retries=self.retries.get(trial_id, 0),
            **{k: str(self.placed.get(trial_id, {}).get(k, "")) for k in _PLACE_KEYS})
        self.records.append(record)
        self._journal("end", trial_id, record={k: v for k, v in record.__dict__.items() if k != "config"})
        took = time.time() - (self.started[trial_id] or time.time())
        self.observers.trial_ended(TrialEnd(self._info(trial_id), status, int(last.get("epoch", 0)), score,
                                            took, reason if failed else ""))

    def best(self) -> BestTrial | None:
        """The trial with the best validation score among those that did not fail."""
        best = None
        for record in self.records:
            score = record.best_val_score
            if record.status != "failed" and math.isfinite(score) and (best is None or score > best.score):
                best = BestTrial(score, record.config, record.trial_id, self.best_epoch(record.trial_id))
        return best

    def finish(self, writer: RunWriter, cut: str = "") -> BestTrial | None:
        """Write the pair's trials and history, tell the observers, return its best trial.

        ``cut`` says why the search ended early (a time budget), if it did.
        """
        writer.add_history(self.pair.dataset, self.pair.model, self.history)
        for record in self.records:
            writer.add_trial(record)
        best = self.best()
        reason = ""
        if best is None:
            failed = {r.reason for r in self.records} - {""}
            reason = ("every trial failed: " + "; ".join(sorted(failed))) if failed else \
                f"no trial finished an epoch ({cut or 'none reported'})"
            writer.add_failure(FailureRecord(self.pair.dataset, self.pair.model, "search", reason))
        took = self.spent + (time.perf_counter() - self.first_start if self.first_start else 0.0)
        writer.add_search(self.pair.dataset, self.pair.model, len(self.records), took, cut)
        if self.journal is not None:
            self.journal.write("searched", pair=self.pair.label, best=None if best is None else best.__dict__)
        self.observers.search_finished(SearchDone(self.pair, self.headline, took, best, reason, cut))
        writer.save()
        return best
