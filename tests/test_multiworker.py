"""A suite whose trials each train on two Ray Train workers (DDP over gloo) on a 2-CPU local
Ray: the trial function reserves no CPU, the two workers take both, so trials run one at a
time; ASHA stops some of them, and each stopped trial must give its workers back for the next
one to start. The run ends with every trial recorded in the same form as one-worker trials and
its final retrain scored on the test split."""

from __future__ import annotations

import pandas as pd
import pytest

from ecgharness.benchmark.runner import RunOptions, run_suite
from ecgharness.benchmark.suite import parse_suite

pytestmark = pytest.mark.slow

SUITE = {
    "name": "ddp",
    "datasets": [{"name": "synthetic", "config": {"n_per_class": 60, "length": 128, "noise": 0.8}}],
    "models": [{"name": "cnn_lstm", "space": {"lr": {"loguniform": [1.0e-4, 1.0e-2]}, "batch_size": 16,
                                              "conv_width": 8, "lstm_hidden": 8, "fc_hidden": 16}}],
    "search": {"num_samples": 3, "max_concurrent_trials": 3, "grace_period": 1, "reduction_factor": 2},
    "training": {"max_epochs": 2, "patience": 2},
    "final": {"seeds": [0]},
    "resources": {"workers_per_trial": 2, "cpus_per_worker": 1},
}

ONE_WORKER = {**SUITE, "name": "one", "search": {**SUITE["search"], "num_samples": 1},
              "resources": {"cpus_per_trial": 1}}


def test_trials_on_two_workers_each_run_one_after_another_and_complete(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ECGHARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    run_dir = run_suite(parse_suite(SUITE, "ddp.yaml"), RunOptions(results_dir=tmp_path, run_id="d", num_cpus=2))
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

    one = run_suite(parse_suite(ONE_WORKER, "one.yaml"), RunOptions(results_dir=tmp_path, run_id="o", num_cpus=2))
    for name in ("trials.csv", "trial_history.csv", "final_runs.csv"):  # the same records as one-worker trials
        assert list(pd.read_csv(one / name).columns) == list(pd.read_csv(run_dir / name).columns), name
