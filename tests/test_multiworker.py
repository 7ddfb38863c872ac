"""A suite whose trials each train on two Ray Train workers (DDP over gloo), run as a user runs
it (``bench run --workers-per-trial 2``). On a 2-CPU machine the trial function reserves no
CPU and the two workers take both, so trials run one after another, and each trial that Tune
stops (at its last epoch, or ASHA earlier) must give its workers back for the next to start.
The run ends with every trial recorded in the same form as one-worker trials and its final
retrain scored on the test split."""

from __future__ import annotations

import json
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


def _run(tmp_path: Path, suite: dict, run_id: str, *flags: str, **env_vars: str) -> Path:
    (tmp_path / f"{run_id}.yaml").write_text(yaml.safe_dump(suite))
    env = {**os.environ, "ECGHARNESS_CACHE": str(tmp_path / "cache"), "RAY_AUTH_MODE": "disabled", **env_vars}
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


def test_a_lost_worker_is_told_from_a_worker_whose_training_raised(monkeypatch, tmp_path) -> None:
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig, WorkerGroupError
    from ray.train.torch import TorchConfig, TorchTrainer

    from ecgharness.benchmark.distributed import _lost

    def dies_or_raises(config: dict) -> None:  # nested: Ray pickles it whole, without this module
        import time

        import ray.train

        if config["how"] == "dies" and ray.train.get_context().get_world_rank() == 1:
            time.sleep(1)
            os._exit(1)  # the worker's process ends, as when its node is lost
        if config["how"] == "raises":
            raise FloatingPointError("training loss became nan in epoch 1")
        time.sleep(8)

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        seen = {}
        for how in ("dies", "raises"):
            trainer = TorchTrainer(dies_or_raises, train_loop_config={"how": how},
                                   torch_config=TorchConfig(backend="gloo"),
                                   scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
                                   run_config=RunConfig(name=how, storage_path=str(tmp_path),
                                                        failure_config=FailureConfig(max_failures=0)))
            with pytest.raises(WorkerGroupError) as failed:
                trainer.fit()
            seen[how] = {rank: _lost(e) for rank, e in failed.value.worker_failures.items()}
    finally:
        ray.shutdown()
    assert seen["dies"][1] is True, seen  # restarted from its checkpoint (Tune's FailureConfig)
    assert seen["raises"] and not any(seen["raises"].values()), seen  # recorded failed, never retried


def test_a_lost_worker_restarts_its_trial_from_its_checkpoint(tmp_path) -> None:
    """Rank 1 of the trial ends its process in epoch 2 (after epoch 1 was checkpointed): the
    trial starts again on new workers from epoch 1, counted in trials.csv, and completes."""
    plugins = Path(__file__).parent / "plugins"
    suite = {**SUITE, "name": "lost", "imports": ["failing_models"], "models": [{"name": "dies_once_model", "space": {"batch_size": 16}}],
             "search": {"num_samples": 1}, "training": {"max_epochs": 3, "patience": 3}}
    marker = tmp_path / "died"
    run_dir = _run(tmp_path, suite, "l", "--workers-per-trial", "2", ECG_DIE_MARKER=str(marker),
                   ECG_DIE_AFTER="15",  # 180 examples, batches of 16: each rank trains 12 batches an epoch
                   PYTHONPATH=os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")])))
    assert marker.exists()  # the worker did die
    trials = pd.read_csv(run_dir / "trials.csv")
    assert trials[["status", "epochs", "retries"]].values.tolist() == [["completed", 3, 1]], trials.to_string()
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    rows = [e["row"] for e in journal if e["kind"] == "result"]
    # epochs 2 and 3 were trained by the restarted trial, from epoch 1's checkpoint: only the epoch in flight was lost
    assert [(r["epoch"], r.get("resumed_from")) for r in rows if r["epoch"] > 1] == [(2, 1), (3, 1)], rows
    history = pd.read_csv(run_dir / "trial_history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert (pd.read_csv(run_dir / "final_runs.csv")["kind"] == "model").sum() == 1
