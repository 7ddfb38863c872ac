"""Weights & Biases logging for ``bench run --wandb`` (and the report's plots).

:class:`WandbObserver` is a run observer: it opens one W&B run per search trial when the
trial starts, logs each reported epoch with ``step=epoch`` and finishes the run when the
trial completes, is stopped by ASHA or fails (``exit_code=1`` and the reason in the
summary); each final retrain is logged when its result comes back. Everything happens in
the driver process, so the trials' workers never import wandb or need the API key, runs
are finished even when Tune kills a stopped trial's actor, and offline runs land in the
run folder even when the trials ran on other machines of a Ray cluster.

Without an API key (or with ``WANDB_MODE=offline``) runs are written offline to
``<run_dir>/wandb/`` and the console says how to upload them (see
:mod:`~ecgharness.tracking.wandb_env`). A failing W&B call is printed as a warning and the
suite goes on. ``wandb`` is imported only when a tracker is created.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ecgharness.benchmark.observers import FinalDone, RunInfo, RunObserver, TrialEnd, TrialInfo
from ecgharness.tracking.wandb_env import has_api_key, quiet_settings, redact, resolve_mode, scrub, sync_command

__all__ = ["WandbObserver", "WandbOptions", "WandbTracker", "has_api_key", "log_report_images", "redact",
           "resolve_mode", "scrub", "sync_command"]

DEFAULT_PROJECT = "ecgharness"
# What each reported epoch contributes to a run's history (Tune adds its own bookkeeping).
_EPOCH_KEYS = ("epoch", "train_loss", "val_loss", "score", "best_score", "lr", "early_stopped", "time_this_iter_s")


@dataclass(frozen=True)
class WandbOptions:
    """Where ``bench run --wandb`` logs.

    Attributes:
        project: W&B project (default ``ecgharness``).
        entity: W&B user or team (default: the key's default entity).
    """

    project: str = DEFAULT_PROJECT
    entity: str | None = None


def _import_wandb() -> Any:
    import wandb

    return wandb


def _epoch_row(result: dict[str, Any]) -> dict[str, Any]:
    row = {}
    for key, value in result.items():
        if key in _EPOCH_KEYS or key.startswith("val_"):
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, (int, float)):
                row[key] = value
    return row


def _log_epoch(run: Any, row: dict[str, Any]) -> None:
    if "epoch" in row:
        run.log(row, step=int(row["epoch"]))  # one history row per epoch, whatever Tune's iteration
    else:
        run.log(row)


def _flush(wandb: Any, warn: Callable[[str, BaseException], None]) -> None:
    """Wait until wandb has written every finished run (``finish`` returns before the files are
    complete); skipped while the caller's own global run is still active."""
    if getattr(wandb, "run", None) is not None:
        return
    try:
        wandb.teardown()
    except Exception as exc:  # noqa: BLE001
        warn("flushing the runs", exc)


class WandbTracker:
    """W&B runs of one suite run, all opened from the driver.

    Args:
        options: Project and entity.
        suite: Suite name; runs are grouped as ``<suite>/<dataset>``.
        run_id: The run folder's name, stored in every run's config and tags.
        run_dir: The run folder; wandb writes its files under ``<run_dir>/wandb/``.
        out: Console printer of the run.
    """

    def __init__(self, options: WandbOptions, suite: str, run_id: str, run_dir: Path,
                 out: Callable[[str], None]) -> None:
        self.options = options
        self.suite = suite
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.out = out
        self.mode, why = resolve_mode()
        self.enabled = self.mode != "disabled"
        self.open: dict[tuple[str, str, str], Any] = {}
        self.logged = 0
        self.wandb = None
        if not self.enabled:
            out(f"W&B: {why}; nothing is logged")
            return
        try:
            self.wandb = _import_wandb()
        except Exception as exc:  # noqa: BLE001 - W&B is optional; the suite goes on without it
            self._disable("import", exc)
            return
        if self.mode == "offline":
            out(f"W&B: offline ({why}); runs are written to {self.wandb_dir}")
            out(f"W&B: upload them later with: {sync_command(self.wandb_dir)}")
        else:
            out(f"W&B: logging to project {self.destination}, runs grouped as {suite}/<dataset>")

    @property
    def wandb_dir(self) -> Path:
        return self.run_dir / "wandb"

    @property
    def destination(self) -> str:
        """``entity/project``, or the project alone when no entity is given."""
        return f"{self.options.entity}/{self.options.project}" if self.options.entity else self.options.project

    def _warn(self, what: str, exc: BaseException) -> None:
        self.out(redact(f"W&B warning: {what} failed ({type(exc).__name__}: {exc}); the suite goes on"))

    def _disable(self, what: str, exc: BaseException) -> None:
        self._warn(what, exc)
        self.out("W&B: logging is off for the rest of this run")
        self.enabled = False

    def _start(self, key: tuple[str, str, str], *, dataset: str, job_type: str, name: str,
               config: dict[str, Any]) -> Any:
        if not self.enabled or self.wandb is None:
            return None
        try:
            run = self.wandb.init(
                project=self.options.project, entity=self.options.entity, dir=str(self.run_dir),
                group=f"{self.suite}/{dataset}", job_type=job_type, name=name,
                tags=[self.suite, dataset, str(config.get("model", ""))],
                config=scrub({"suite": self.suite, "run_id": self.run_id, "dataset": dataset, **config}),
                mode=self.mode, reinit="create_new", settings=quiet_settings(self.wandb),
            )
        except Exception as exc:  # noqa: BLE001 - one broken init would repeat for every trial
            self._disable(f"starting run {name}", exc)
            return None
        self.open[key] = run
        self.logged += 1
        return run

    def _finish(self, key: tuple[str, str, str], summary: dict[str, Any], failed: bool = False) -> None:
        run = self.open.pop(key, None)
        if run is None:
            return
        try:
            run.summary.update(scrub(summary))
            run.finish(exit_code=1 if failed else 0)
        except Exception as exc:  # noqa: BLE001
            self._warn(f"finishing run {key[-1]}", exc)

    # search trials -------------------------------------------------------------------------

    def trial_started(self, dataset: str, model: str, trial_id: str, config: dict[str, Any]) -> None:
        self._start((dataset, model, trial_id), dataset=dataset, job_type="search", name=f"{model}-{trial_id}",
                    config={**config, "model": model, "trial_id": trial_id})

    def trial_result(self, dataset: str, model: str, trial_id: str, result: dict[str, Any]) -> None:
        run = self.open.get((dataset, model, trial_id))
        if run is None:
            return
        row = _epoch_row(result)
        try:
            _log_epoch(run, row)
        except Exception as exc:  # noqa: BLE001
            self._warn(f"logging an epoch of {model}-{trial_id}", exc)

    def trial_finished(self, dataset: str, model: str, trial_id: str, status: str, *,
                       epochs: int = 0, best_score: float = math.nan, reason: str = "") -> None:
        failed = status == "failed"
        summary = {"status": status, "epochs": epochs, "best_val_score": best_score}
        if failed:
            summary["reason"] = reason or "unknown error"
        self._finish((dataset, model, trial_id), summary, failed=failed)

    # final retrains ----------------------------------------------------------------------

    def log_final(self, dataset: str, model: str, seed: int, config: dict[str, Any],
                  result: FinalDone | None = None, reason: str = "") -> None:
        """One run per retrained seed: its epochs as history, the test metrics in the summary.

        Args:
            config: The chosen hyperparameters.
            result: The finished retrain, or None when it failed (then ``reason``).
        """
        key = (dataset, model, f"final-seed{seed}")
        run = self._start(key, dataset=dataset, job_type="final", name=f"{model}-seed{seed}",
                          config={**config, "model": model, "seed": seed})
        if run is None:
            return
        if result is None or result.record is None:
            self._finish(key, {"status": "failed", "reason": reason or "unknown error"}, failed=True)
            return
        try:
            for row in result.history:
                _log_epoch(run, _epoch_row(row))
        except Exception as exc:  # noqa: BLE001
            self._warn(f"logging the epochs of {model}-seed{seed}", exc)
        record = result.record
        summary = {f"test/{k}": v for k, v in record.metrics.items()}
        summary.update({f"best_val/{k}": v for k, v in result.val_metrics.items()})
        summary.update(params=record.params, train_time_s=record.train_time_s, throughput=record.throughput,
                       best_epoch=record.best_epoch, device=record.device, status="completed")
        self._finish(key, summary)

    def close(self) -> None:
        """Finish runs left open (an interrupted suite) and say where the runs went."""
        for key in list(self.open):
            self._finish(key, {"status": "interrupted", "reason": "the suite ended before this run did"},
                         failed=True)
        if self.wandb is None or not self.logged:
            return
        _flush(self.wandb, self._warn)
        if self.mode == "offline":
            self.out(f"W&B: {self.logged} offline run(s) in {self.wandb_dir}; "
                     f"upload them with: {sync_command(self.wandb_dir)}")
        else:
            self.out(f"W&B: {self.logged} run(s) logged to project {self.destination}")


class WandbObserver(RunObserver):
    """A run observer that logs to W&B through a :class:`WandbTracker` opened when the run starts.

    Args:
        options: Project and entity.
        out: Where W&B's own lines (mode, sync command, warnings) are printed.
    """

    def __init__(self, options: WandbOptions, out: Callable[[str], None] = print) -> None:
        self.options = options
        self.out = out
        self.tracker: WandbTracker | None = None

    def run_started(self, run: RunInfo) -> None:
        self.tracker = WandbTracker(self.options, run.suite, run.run_id, run.run_dir, self.out)

    def trial_started(self, trial: TrialInfo) -> None:
        if self.tracker is not None:
            self.tracker.trial_started(trial.pair.dataset, trial.pair.model, trial.trial_id,
                                       {**trial.config, "seed": trial.seed})

    def trial_reported(self, trial: TrialInfo, metrics: dict[str, Any]) -> None:
        if self.tracker is not None:
            self.tracker.trial_result(trial.pair.dataset, trial.pair.model, trial.trial_id, metrics)

    def trial_ended(self, end: TrialEnd) -> None:
        if self.tracker is not None:
            trial = end.trial
            self.tracker.trial_finished(trial.pair.dataset, trial.pair.model, trial.trial_id, end.status,
                                        epochs=end.epochs, best_score=end.best_score, reason=end.reason)

    def final_finished(self, done: FinalDone) -> None:
        if self.tracker is not None:
            self.tracker.log_final(done.pair.dataset, done.pair.model, done.seed, done.config, done,
                                   reason=done.reason)

    def run_finished(self, run: RunInfo | None) -> None:
        if self.tracker is not None:  # finish open runs, say how to sync offline runs
            self.tracker.close()
            self.tracker = None


def log_report_images(report_dir: Path, project: str = DEFAULT_PROJECT, entity: str | None = None,
                      group: str | None = None, *, wandb_dir: Path | None = None,
                      images: list[Path] | None = None, out: Callable[[str], None] = print) -> int:
    """Log every PNG under ``report_dir`` to one W&B run (``job_type="report"``).

    Images are keyed by their path inside the report folder without the suffix (for example
    ``plots/confusion_mitbih``). Offline without an API key, like ``bench run --wandb``.

    Args:
        report_dir: The report folder written by ``bench report``.
        project, entity, group: Where the run goes; ``group`` is typically ``<suite>/<dataset>``
            or the suite name.
        wandb_dir: Folder for wandb's files (default ``report_dir``, so ``report_dir/wandb/``).
        images: The PNGs to log (default: every PNG under ``report_dir`` outside ``wandb/``).
        out: Where the one-line outcome and any warning is printed.

    Returns:
        The number of images logged (0 when W&B is disabled or failed).
    """
    report_dir = Path(report_dir)
    base = Path(wandb_dir) if wandb_dir is not None else report_dir
    if images is None:
        images = sorted(p for p in report_dir.rglob("*.png") if "wandb" not in p.relative_to(report_dir).parts)
    mode, why = resolve_mode()
    if mode == "disabled" or not images:
        out(f"W&B: {why if mode == 'disabled' else 'no PNG files in ' + str(report_dir)}; no report run logged")
        return 0
    try:
        wandb = _import_wandb()
        base.mkdir(parents=True, exist_ok=True)
        run = wandb.init(project=project, entity=entity, dir=str(base), group=group, job_type="report",
                         name=f"report-{report_dir.name}", config=scrub({"report_dir": str(report_dir)}),
                         mode=mode, reinit="create_new", settings=quiet_settings(wandb))
        try:
            run.log({p.relative_to(report_dir).with_suffix("").as_posix(): wandb.Image(str(p)) for p in images})
            run.summary["images"] = len(images)
        finally:
            run.finish()
            _flush(wandb, lambda what, exc: out(redact(f"W&B warning: {what} failed ({type(exc).__name__}: {exc})")))
    except Exception as exc:  # noqa: BLE001 - the report is written either way
        out(redact(f"W&B warning: logging the report's images failed ({type(exc).__name__}: {exc})"))
        return 0
    if mode == "offline":
        out(f"W&B: {len(images)} image(s) logged offline ({why}); upload with: {sync_command(base / 'wandb')}")
    else:
        out(f"W&B: {len(images)} image(s) logged to project {project}")
    return len(images)
