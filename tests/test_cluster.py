"""A run on a two-node Ray cluster that loses a node mid-trial (``ray.cluster_utils.Cluster``:
a head without CPUs and two worker nodes on this machine). ``bench run --address`` joins it and
prints its resources; trials run on both nodes; the node running a trial is removed after that
trial has checkpointed an epoch; the trial restarts on the other node from that epoch (counted
in trials.csv) and the suite's results are complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

EPOCHS = 6
SUITE = {
    "name": "twonodes",
    "datasets": [{"name": "synthetic", "config": {"n_per_class": 150, "length": 192, "noise": 0.8}}],
    "models": [{"name": "cnn_lstm", "space": {"lr": {"loguniform": [1.0e-3, 1.0e-2]}, "batch_size": 16,
                                              "conv_width": 8, "lstm_hidden": 8, "fc_hidden": 16}}],
    "search": {"num_samples": 3, "max_concurrent_trials": 2, "grace_period": EPOCHS},
    "training": {"max_epochs": EPOCHS, "patience": EPOCHS},
    "final": {"seeds": [0]},
    "resources": {"cpus_per_trial": 1, "max_failures": 2},
}


@pytest.fixture
def two_nodes():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)]
    yield cluster, nodes
    cluster.shutdown()


def _results(run_dir: Path) -> list[dict]:
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[:-1]  # the last line may be half written
    return [e for e in map(json.loads, lines) if e["kind"] == "result"]


def test_a_lost_node_restarts_its_trial_from_its_checkpoint_on_the_other(two_nodes, tmp_path) -> None:
    cluster, nodes = two_nodes
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    env = {**os.environ, "ECGHARNESS_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen([sys.executable, "-m", "ecgharness", "run", "--suite", "suite.yaml", "--run-id", "r",
                            "--address", cluster.address], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    run_dir = tmp_path / "results" / "twonodes" / "r"
    by_id = {n.node_id: n for n in nodes}
    victim, epoch_at_loss, deadline = None, 0, time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        for e in _results(run_dir):
            if e["row"].get("node_id") in by_id and e["row"]["epoch"] >= 2:
                victim, trial, epoch_at_loss = by_id[e["row"]["node_id"]], e["trial"], e["row"]["epoch"]
                break
        time.sleep(0.2)
    assert victim is not None, "no trial reached epoch 2 on a worker node:\n" + (run.stdout.read() if run.poll() else "")
    cluster.remove_node(victim)
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out[-4000:]
    assert f"joined the Ray cluster at {cluster.address}: 3 node(s), 2 CPU" in out, out[:2000]

    trials = pd.read_csv(run_dir / "trials.csv")
    history = pd.read_csv(run_dir / "trial_history.csv")
    finals = pd.read_csv(run_dir / "final_runs.csv")
    assert len(trials) == 3 and (trials["status"] != "failed").all(), trials.to_string()
    assert (finals["kind"] == "model").sum() == 1
    assert trials["node_id"].nunique() == 2 or history["node_ip"].notna().all()
    row = trials[trials["trial_id"] == trial].iloc[0]
    assert row["retries"] >= 1 and row["epochs"] == EPOCHS
    assert row["node_id"] != victim.node_id  # it finished on the other node
    mine = history[history["trial_id"] == trial]
    assert sorted(mine["epoch"]) == list(range(1, EPOCHS + 1))  # every epoch once: none trained from scratch
    went_on = [e["row"]["resumed_from"] for e in _results(run_dir)
               if e["trial"] == trial and e["row"].get("node_id") != victim.node_id and "resumed_from" in e["row"]]
    assert went_on and went_on[0] >= epoch_at_loss  # went on from its checkpoint, not from epoch 0
    print(f"\nnode {victim.node_id[:8]} removed after trial {trial} reported epoch {epoch_at_loss}; the trial "
          f"restarted {row['retries']} time(s) and went on from epoch {went_on[0]} on node {row['node_id'][:8]}; "
          f"{len(trials)} trials and {len(finals)} final/floor rows stored")
    ran_on = {e["row"].get("node_id") for e in _results(run_dir)} - {None}
    assert ran_on == set(by_id), "trials did not run on both worker nodes"


def test_a_lost_head_ends_the_run_in_bounded_time_and_it_resumes_on_a_new_cluster(two_nodes, tmp_path) -> None:
    cluster, _ = two_nodes
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({**SUITE, "name": "headless"}))
    env = {**os.environ, "ECGHARNESS_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "ecgharness", "run"]
    run = subprocess.Popen([*command, "--suite", "suite.yaml", "--run-id", "r", "--address", cluster.address,
                            "--cluster-timeout", "8"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    run_dir = tmp_path / "results" / "headless" / "r"
    deadline = time.monotonic() + 300
    while not any(e["row"]["epoch"] >= 2 for e in _results(run_dir)) and time.monotonic() < deadline:
        assert run.poll() is None, run.stdout.read()[-3000:]
        time.sleep(0.2)
    lost_at = time.monotonic()
    cluster.shutdown()  # the head and both workers go away
    out, _ = run.communicate(timeout=120)
    took = time.monotonic() - lost_at
    assert run.returncode == 75, out[-3000:]
    assert took < 8 + 8 / 2 + 15, f"the run took {took:.0f} s to end after its cluster went away"
    assert ("has not answered" in out or "went away" in out) and f"bench run --resume {run_dir}" in out
    print(f"\nhead lost: the run ended {took:.1f} s later with exit status {run.returncode}")

    again = subprocess.run([*command, "--resume", str(run_dir), "--num-cpus", "2"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)  # a new (local) cluster
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 3 and (trials["epochs"] == EPOCHS).all()
    assert (pd.read_csv(run_dir / "final_runs.csv")["kind"] == "model").sum() == 1


def test_the_watch_calls_a_cluster_lost_only_after_it_stayed_silent() -> None:
    from ecgharness.benchmark.lifeline import ClusterWatch

    answers = iter([True, False, True] + [False] * 100)  # one dropped probe is not a lost cluster
    lost, exits = [], []
    with ClusterWatch("127.0.0.1:1", lost.append, lost_after_s=0.05, every_s=0.01, grace_s=0.05,
                      hard_exit=exits.append, probe=lambda address: next(answers)) as watch:
        time.sleep(0.5)
    assert len(lost) == 1 and "127.0.0.1:1 has not answered" in lost[0] and watch.lost == lost[0]
    assert exits == lost  # the run did not end within the grace time: it is ended
    kept = []
    with ClusterWatch("127.0.0.1:1", kept.append, lost_after_s=0.05, every_s=0.01, probe=lambda a: True):
        time.sleep(0.2)
    assert kept == []
