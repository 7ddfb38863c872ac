"""Compact console progress for Ray Tune: one line per finished trial, a summary per pair."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from ray.tune import Callback

from ecgharness.benchmark.trials import error_reason, hyperparameters


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def describe(config: dict[str, Any], limit: int = 6) -> str:
    items = list(hyperparameters(config).items())
    text = " ".join(f"{k}={_fmt(v)}" for k, v in items[:limit])
    return text + (" ..." if len(items) > limit else "")


def _trial_error(trial: Any) -> BaseException | None:
    """The exception Tune stored for a failed trial (read from the trial's local folder)."""
    import cloudpickle

    try:
        with open(trial.pickled_error_file, "rb") as f:
            return cloudpickle.load(f)
    except (OSError, TypeError, ValueError, EOFError):
        return None


class TrialConsole(Callback):
    """Prints trial outcomes and records every reported epoch for the results store.

    Args:
        label: "<dataset>/<model>", printed at the start of each line.
        max_epochs: Epoch budget, to tell ASHA-stopped trials from finished ones.
        verbose: Also print one line per reported epoch.
        stream: Where to print.
    """

    def __init__(self, label: str, max_epochs: int, verbose: bool = False, stream: TextIO | None = None) -> None:
        self.label = label
        self.max_epochs = max_epochs
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.history: list[dict[str, Any]] = []
        self.last: dict[str, dict[str, Any]] = {}
        self.started: dict[str, float] = {}
        self.count = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.time()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        row = {k: v for k, v in result.items() if k == "epoch" or k in ("train_loss", "val_loss", "score",
                                                                          "best_score", "early_stopped")
               or k.startswith("val_")}
        row["trial_id"] = trial.trial_id
        self.history.append(row)
        self.last[trial.trial_id] = row
        if self.verbose:
            self._print(f"    {self.label} {trial.trial_id} epoch {result.get('epoch')}/{self.max_epochs} "
                        f"score {_fmt(result.get('score'))} (best {_fmt(result.get('best_score'))})")

    def stop_reason(self, trial_id: str) -> str:
        last = self.last.get(trial_id)
        if not last:
            return "no epoch reported"
        if last.get("early_stopped"):
            return "early stopping (patience)"
        if int(last.get("epoch", 0)) < self.max_epochs:
            return "stopped by ASHA"
        return "completed"

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.count += 1
        last = self.last.get(trial.trial_id, {})
        took = time.time() - self.started.get(trial.trial_id, time.time())
        best = last.get("best_score", math.nan)
        self._print(f"  {self.label:<28} {trial.trial_id:<14} {self.stop_reason(trial.trial_id):<26} "
                    f"epochs {last.get('epoch', 0):>2}  best val {_fmt(best):<6} {took:5.1f}s  "
                    f"{describe(trial.config)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.count += 1
        self._print(f"  {self.label:<28} {trial.trial_id:<14} FAILED {error_reason(_trial_error(trial))}  "
                    f"{describe(trial.config)}")
