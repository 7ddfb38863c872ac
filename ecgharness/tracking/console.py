"""The console of ``bench run``: one line per prepared dataset, search, finished trial and
final run, (``--verbose``) one per reported epoch, and the suite's progress: on a terminal one
status line kept at the bottom and redrawn in place, otherwise a plain line whenever a pair
moves on (and at most every ``plain_every_s`` seconds besides)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ecgharness.benchmark.observers import (ClusterInfo, FinalDone, Pair, RunInfo, RunObserver, SearchDone, SearchPlan,
                                            TrialEnd, TrialInfo)
from ecgharness.datasets.base import PreparedDataset
from ecgharness.leaderboard.store import FinalRecord


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def describe(config: dict[str, Any], limit: int = 6) -> str:
    """The first ``limit`` hyperparameters as ``key=value`` pairs."""
    items = list(config.items())
    text = " ".join(f"{k}={_fmt(v)}" for k, v in items[:limit])
    return text + (" ..." if len(items) > limit else "")


class ConsoleObserver(RunObserver):
    """Prints a run's progress to ``stream``.

    Args:
        stream: Where to print (default standard output).
        verbose: Also print one line per reported epoch.
    """

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, plain_every_s: float = 60.0) -> None:
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.plain_every_s = plain_every_s
        self._status = ""  # the status line on screen (terminal only)
        self._plain: tuple = ((), -1e9)  # pair states and time of the last plain progress line

    def print(self, text: str = "") -> None:
        if self._status:
            self.stream.write("\r\033[K")  # the status line gives way, and comes back below
        print(text, file=self.stream, flush=True)
        if self._status:
            self.stream.write(self._status)
            self.stream.flush()

    def progress(self, status: Any) -> None:
        line = status.line()
        if self.live:
            self._status = line if status.state == "running" else ""
            self.stream.write("\r\033[K" + line + ("" if self._status else "\n"))
            self.stream.flush()
            return
        states = tuple(p.state for p in status.pairs)
        now = time.monotonic()
        if status.state != "running" or states != self._plain[0] or now - self._plain[1] >= self.plain_every_s:
            self._plain = (states, now)
            self.print(f"progress {line}")

    def ray_started(self, cluster: ClusterInfo) -> None:
        where = ("started a local Ray" if cluster.local else f"joined the Ray cluster at {cluster.address}"
                 if cluster.owned else f"using the Ray this process already runs ({cluster.address})")
        self.print(f"{where}: {cluster.describe()}")

    def suite_started(self, suite: Any) -> None:
        self.print(f"suite {suite.name}: {len(suite.datasets)} dataset(s) x {len(suite.models)} model(s), "
                   f"{suite.search.num_samples} trials each, up to {suite.training.max_epochs} epochs")

    def dataset_prepared(self, dataset: PreparedDataset, seconds: float) -> None:
        for line in dataset.summary_lines():
            self.print(line)
        self.print(f"  prepared in {seconds:.1f}s")

    def pair_skipped(self, pair: Pair, reason: str) -> None:
        self.print(f"skipping {pair.label}: {reason}")

    def run_started(self, run: RunInfo) -> None:
        self.print(f"results in {run.run_dir}")

    def search_started(self, plan: SearchPlan) -> None:
        self.print(f"searching {plan.pair.label}: {plan.num_samples} trial(s) over "
                   f"{', '.join(plan.searched) or 'a fixed configuration'}; "
                   f"ASHA on epoch (grace {plan.grace_period}, reduction {plan.reduction_factor})")

    def trial_reported(self, trial: TrialInfo, metrics: dict[str, Any]) -> None:
        if self.verbose:
            self.print(f"    {trial.pair.label} {trial.trial_id} epoch {metrics.get('epoch')}/{trial.max_epochs} "
                       f"score {_fmt(metrics.get('score'))} (best {_fmt(metrics.get('best_score'))})")

    def trial_ended(self, end: TrialEnd) -> None:
        trial = end.trial
        if end.status == "failed":
            self.print(f"  {trial.pair.label:<28} {trial.trial_id:<14} FAILED {end.reason}  {describe(trial.config)}")
            return
        self.print(f"  {trial.pair.label:<28} {trial.trial_id:<14} {end.status:<26} "
                   f"epochs {end.epochs:>2}  best val {_fmt(end.best_score):<6} {end.seconds:5.1f}s  "
                   f"{describe(trial.config)}")

    def search_finished(self, done: SearchDone) -> None:
        label = done.pair.label
        self.print(f"  {label}: search took {done.seconds:.1f}s")
        if done.budget_cut:
            self.print(f"  {label}: search cut short: {done.budget_cut}")
        if done.best is not None:
            self.print(f"  best {label}: val {done.headline} {done.best.score:.4f} ({done.best.trial_id})")
        else:
            self.print(f"  {label}: {done.reason or 'no trial finished'}; see trials.csv")

    def floor_finished(self, record: FinalRecord) -> None:
        self.print(f"  floor {record.dataset}/{record.model}: test {record.headline} "
                   f"{record.metrics[record.headline]:.4f}, accuracy {record.metrics['accuracy']:.4f}")

    def final_started(self, runs: int, seeds: tuple[int, ...]) -> None:
        self.print(f"final evaluation: {runs} run(s) (best configuration x seeds {list(seeds)}), "
                   "each scored once on the test split; a pair's seeds start as soon as its search ends")

    def final_finished(self, done: FinalDone) -> None:
        label = done.pair.label
        if done.record is None:
            self.print(f"  final {label} seed {done.seed}: FAILED {done.reason}")
            return
        r = done.record
        self.print(f"  final {label} seed {done.seed}: test {r.headline} {r.metrics[r.headline]:.4f}, "
                   f"accuracy {r.metrics['accuracy']:.4f} ({r.best_epoch} epochs best, {r.train_time_s:.1f}s)")
