"""A suite whose trials each train on two Ray Train workers (DDP over gloo), run as a user runs
it (``bench run --workers-per-trial 2``). On a 2-CPU machine the trial function reserves no
CPU and the two workers take both, so trials run one after another, and each trial that Tune
stops (at its last epoch, or ASHA earlier) must give its workers back for the next to start.
The run ends with every trial recorded in the same form as one-worker trials and its final
retrain scored on the test split."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import yaml

pytestmark = pytest.mark.slow

SUITE = {
    "name": "ddp",
    "datasets": [{"name": "synthetic", "config": {"n_per_class": 60, "length": 128, "noise": 0.8}}],
    "models": [{"name": "cnn_lstm", "space": {"lr": {"loguniform": [1.0e-4, 1.0e-2]}, "batch_size": 16,
                                              "conv_width": 8, "lstm_hidden": 8, "fc_hidden": 16}}],
    "search": {"num_samples": 3, "max_concurrent_trials": 3, "grace_period": 1, "reduction_factor": 2},
    "training": {"max_epochs": 2, "patience": 2},
    "final": {"seeds": [0]},
    "resources": {"cpus_per_trial": 1},
}


def _run(tmp_path: Path, suite: dict, run_id: str, *flags: str) -> Path:
    (tmp_path / f"{run_id}.yaml").write_text(yaml.safe_dump(suite))
    env = {**os.environ, "ECGHARNESS_CACHE": str(tmp_path / "cache"), "RAY_AUTH_MODE": "disabled"}
    command = [sys.executable, "-m", "ecgharness", "run", "--suite", f"{run_id}.yaml", "--run-id", run_id,
               "--num-cpus", "2", *flags]
    run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = run.communicate(timeout=360)
    except subprocess.TimeoutExpired:  # a stopped trial that kept its workers: the next one never starts
        run.terminate()  # the run stops cleanly on SIGTERM, taking its Ray with it
        out, _ = run.communicate(timeout=60)
        raise AssertionError(f"the run did not end within 6 minutes:\n{out[-3000:]}") from None
    assert run.returncode == 0, out[-4000:]
    return tmp_path / "results" / suite["name"] / run_id


def test_trials_on_two_workers_complete_and_read_as_one_worker_trials(tmp_path) -> None:
    run_dir = _run(tmp_path, SUITE, "d", "--workers-per-trial", "2")
    trials = pd.read_csv(run_dir / "trials.csv")
    history = pd.read_csv(run_dir / "trial_history.csv")
    finals = pd.read_csv(run_dir / "final_runs.csv")

    assert len(trials) == 3 and (trials["status"] != "failed").all(), trials.to_string()
    assert (trials["device"] == "2 x cpu").all(), trials["device"].tolist()
    # Tune stops each trial on its report of the last epoch (max_t) or earlier (ASHA), while its
    # workers are still alive: each stopped trial freed them, or the next would have waited for ever
    epochs = history.groupby("trial_id")["epoch"].agg(["min", "max", "count"])
    assert len(epochs) == 3 and (epochs["min"] == 1).all() and (epochs["max"] == epochs["count"]).all(), epochs
    assert (epochs["max"] <= 2).all() and (trials["epochs"] == epochs.loc[trials["trial_id"], "max"].values).all()
    model = finals[finals["kind"] == "model"]
    assert len(model) == 1 and model["device"].tolist() == ["2 x cpu"], finals.to_string()
    scored = pd.read_csv(run_dir / "final_metrics.csv").query("model == 'cnn_lstm' and metric == 'macro_f1'")
    assert scored["split"].tolist() == ["test"] and 0.0 <= scored["value"].iloc[0] <= 1.0
    assert pd.read_csv(run_dir / "failures.csv").empty

    one = _run(tmp_path, SUITE, "o", "--num-samples", "1")
    for name in ("trials.csv", "trial_history.csv", "final_runs.csv"):  # the same records as one-worker trials
        assert list(pd.read_csv(one / name).columns) == list(pd.read_csv(run_dir / name).columns), name
