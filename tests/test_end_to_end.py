"""A tiny suite through Ray Tune (Optuna + ASHA), the final evaluation and the leaderboard."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ecgharness.benchmark.runner import RunOptions, run_suite
from ecgharness.tracking.console import ConsoleObserver
from ecgharness.benchmark.suite import parse_suite
from ecgharness.datasets import load_dataset
from ecgharness.leaderboard import read_run, render_leaderboard

PLUGINS = Path(__file__).parent / "plugins"
pytestmark = pytest.mark.slow

SYNTHETIC = {"name": "synthetic", "config": {"n_per_class": 60, "length": 96, "noise": 0.8}}


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_tiny_suite_search_asha_final_and_leaderboard(ray_session, tmp_path) -> None:
    suite = parse_suite({
        "name": "tiny",
        "datasets": [SYNTHETIC],
        "models": [
            {"name": "cnn_lstm", "space": {"lr": {"choice": [1.0e-6, 3.0e-3]}, "batch_size": 32,
                                           "conv_width": 8, "lstm_hidden": {"choice": [8, 16]}, "fc_hidden": 16}},
            {"name": "resnet_se", "space": {"lr": {"choice": [1.0e-6, 3.0e-3]}, "batch_size": 32,
                                            "base_channels": 8, "stages": 2, "blocks_per_stage": 1}},
        ],
        "search": {"num_samples": 6, "max_concurrent_trials": 1, "grace_period": 1, "reduction_factor": 2},
        "training": {"max_epochs": 4, "patience": 4},
        "final": {"seeds": [0, 1]},
    }, "tiny.yaml")
    console = io.StringIO()
    run_dir = run_suite(suite, RunOptions(results_dir=tmp_path, run_id="r1"), [ConsoleObserver(stream=console)])
    text = console.getvalue()
    assert run_dir == (tmp_path / "tiny" / "r1").resolve()

    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 12 and set(trials["model"]) == {"cnn_lstm", "resnet_se"}
    assert (trials["status"] != "failed").all()
    import ray

    nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
    assert (trials["device"] == "cpu").all() and trials["node_id"].isin(list(nodes)).all()
    assert all(nodes[n] == ip for n, ip in zip(trials["node_id"], trials["node_ip"]))
    assert (trials["status"] == "stopped by ASHA").sum() >= 1, trials[["model", "status", "epochs"]]
    assert (trials.loc[trials["status"] == "stopped by ASHA", "epochs"] < 4).all()
    history = pd.read_csv(run_dir / "trial_history.csv")
    assert len(history) == trials["epochs"].sum()
    assert not [c for c in history.columns if "test" in c]  # search never sees the test split

    ds = load_dataset("synthetic", SYNTHETIC["config"])
    every = pd.read_csv(run_dir / "final_runs.csv")
    floors, final = every[every["kind"] == "floor"], every[every["kind"] == "model"]
    assert list(floors["model"]) == ["floor_majority", "floor_linear"]  # fitted on train, scored on test
    assert (floors["test_examples"] == len(ds.splits["test"])).all()
    assert sorted(zip(final["model"], final["seed"])) == [("cnn_lstm", 0), ("cnn_lstm", 1),
                                                          ("resnet_se", 0), ("resnet_se", 1)]
    assert (final["test_examples"] == len(ds.splits["test"])).all()
    assert (final["device"] == "cpu").all() and final["node_id"].isin(list(nodes)).all()
    assert all(nodes[n] == ip for n, ip in zip(final["node_id"], final["node_ip"]))
    run = read_run(run_dir)
    for row in final.itertuples():
        pred = run.predictions("synthetic", row.model, row.seed)
        np.testing.assert_array_equal(pred["labels"], ds.splits["test"].y)
        assert pred["scores"].shape == (len(ds.splits["test"]), 3)
    from ecgharness.inference.bundle import load_bundle, weights_path

    for row in final.itertuples():  # every final run keeps the weights it was tested with
        bundle = load_bundle(weights_path(run_dir, "synthetic", row.model, row.seed))
        assert row.weights == f"weights/synthetic__{row.model}__seed{row.seed}.safetensors"
        np.testing.assert_allclose(bundle.predict_proba(ds.splits["test"].x),
                                   run.predictions("synthetic", row.model, row.seed)["scores"], atol=1e-5)
    assert not (run_dir / "weights" / "synthetic__floor_linear__seed0.safetensors").exists()
    metrics = pd.read_csv(run_dir / "final_metrics.csv")
    assert set(metrics["split"]) == {"test"}
    assert metrics.groupby(["model", "seed"])["metric"].apply(lambda m: (m == "macro_f1").sum()).eq(1).all()
    # the chosen configuration is the trial with the best validation score
    for model, rows in trials.groupby("model"):
        best = rows.loc[rows["best_val_score"].idxmax(), "config"]
        assert (final.loc[final["model"] == model, "config"] == best).all()

    assert "stopped by ASHA" in text and "final evaluation: 4 run(s)" in text
    assert "Traceback" not in text
    for name in ("suite.yaml", "provenance.json", "logs/driver.log"):
        assert (run_dir / name).exists(), name

    board = render_leaderboard(run, "table")
    lines = board.splitlines()
    ranked = [l.split()[1] for l in lines if l[:1].isdigit()]
    assert sorted(ranked) == ["cnn_lstm", "floor_linear", "floor_majority", "resnet_se"]
    means = metrics[metrics["metric"] == "macro_f1"].groupby("model")["value"].mean()
    assert ranked[0] == means.idxmax()
    cli = subprocess.run([sys.executable, "-m", "ecgharness", "leaderboard", "--results-dir", str(tmp_path),
                          "--format", "markdown"], capture_output=True, text=True, check=True)
    assert f"| 1 | {ranked[0]} |" in cli.stdout and "macro_f1" in cli.stdout
    csv = subprocess.run([sys.executable, "-m", "ecgharness", "leaderboard", "--results-dir", str(tmp_path),
                          "--run", "r1", "--format", "csv"], capture_output=True, text=True, check=True)
    table = pd.read_csv(io.StringIO(csv.stdout))
    assert list(table["model"]) == ranked and np.allclose(table["macro_f1_mean"], means[ranked].to_numpy())

    # one metric code: final_metrics.csv, the report's per-class table and the leaderboard agree
    from ecgharness.evaluation.metrics import per_class_table, summary_metrics

    stored = metrics.pivot_table(index=["model", "seed"], columns="metric", values="value", dropna=False)
    for row in every.itertuples():
        pred = run.predictions("synthetic", row.model, row.seed)
        again = summary_metrics(pred["labels"], pred["scores"], ds.class_names, "multiclass")
        assert again.keys() == set(stored.columns)
        np.testing.assert_array_equal([again[k] for k in stored.columns], stored.loc[(row.model, row.seed)].to_numpy())
        table = per_class_table(pred["labels"], pred["scores"], ds.class_names, "multiclass")
        assert table.loc["macro", "f1"] == again["macro_f1"] and table.loc["micro", "f1"] == again["accuracy"]

    # the report recomputes the headline from the stored predictions and ranks the same way
    from ecgharness.reports.writer import write_report

    report = write_report(run, tmp_path / "report", n_resamples=200)
    macro = pd.read_csv(tmp_path / "report" / "macro_comparison.csv")
    assert list(macro["model"]) == ranked and np.allclose(macro["headline_mean"], means[ranked].to_numpy())
    made = report.plots["synthetic"]  # 9 + the leader's confidence, reliability and (if it erred) gallery
    assert len(made) - ("gallery" in made) == 11 and (tmp_path / "report" / "report.html").stat().st_size > 50_000


def test_failing_trials_are_recorded_and_the_suite_goes_on(tmp_path) -> None:
    """Through the CLI, in its own process, so the failing models stay out of this one's registry."""
    suite = {
        "name": "failing",
        "imports": ["failing_models"],
        "datasets": [SYNTHETIC],
        "models": [
            {"name": "nan_model", "space": {"dropout": {"uniform": [0.0, 0.5]}}},
            {"name": "crash_model"},
            {"name": "cnn_lstm", "space": {"batch_size": 32, "conv_width": 8, "lstm_hidden": 8, "fc_hidden": 8}},
        ],
        "search": {"num_samples": 2, "max_concurrent_trials": 2},
        "training": {"max_epochs": 2},
        "final": {"seeds": [0]},
    }
    path = tmp_path / "failing.yaml"
    path.write_text(yaml.safe_dump(suite))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "ecgharness", "run", "--suite", str(path), "--results-dir", str(tmp_path),
         "--run-id", "f1", "--num-cpus", "2"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "failing" / "f1"
    trials = pd.read_csv(run_dir / "trials.csv").fillna("")
    failed = trials[trials["status"] == "failed"]
    # crash_model has nothing to search: a single trial of its fixed configuration
    assert sorted(failed["model"]) == ["crash_model", "nan_model", "nan_model"]
    assert failed.loc[failed["model"] == "nan_model", "reason"].str.contains(
        "TrainingDiverged: training loss became nan in epoch 1").all()
    assert failed.loc[failed["model"] == "crash_model", "reason"].str.contains(
        "RuntimeError: deliberate failure in forward").all()
    assert (trials.loc[trials["model"] == "cnn_lstm", "status"] != "failed").all()
    final = pd.read_csv(run_dir / "final_runs.csv")
    assert list(final.loc[final["kind"] == "model", "model"]) == ["cnn_lstm"]
    failures = pd.read_csv(run_dir / "failures.csv")
    assert sorted(failures["model"]) == ["crash_model", "nan_model"]
    ranking, not_ranked = proc.stdout.split("Not ranked:")
    assert "cnn_lstm" in ranking.split("ranked by test")[1]
    assert "nan_model" not in ranking.split("ranked by test")[1]
    assert "nan_model" in not_ranked and "crash_model" in not_ranked
    assert "FAILED TrainingDiverged: training loss became nan" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "every trial failed" in proc.stdout


def test_multilabel_and_metadata_datasets_through_the_whole_path(ray_session, tmp_path) -> None:
    """PTB-XL (multi-label, macro-AUROC) and Chapman (metadata model, macro-F1) fixtures in one suite."""
    import shutil

    from test_ptbxl_chapman import FIXTURES, write_chapman_folder

    root = tmp_path / "data"
    shutil.copytree(FIXTURES / "ptbxl", root / "ptbxl")
    write_chapman_folder(root, per_group=5)
    tiny = {"batch_size": 16, "base_channels": 8, "stages": 2}
    suite = parse_suite({
        "name": "multi",
        "datasets": [{"name": "ptbxl"}, {"name": "chapman", "config": {"sampling_rate": 100}}],
        "models": [{"name": "resnet_se", "space": {**tiny, "blocks_per_stage": 1}},
                   {"name": "resnet_se_bigru_meta", "space": {**tiny, "gru_hidden": 8, "meta_hidden": 8}}],
        "search": {"num_samples": 1},
        "training": {"max_epochs": 2},
        "final": {"seeds": [0]},
    }, "multi.yaml")
    console = io.StringIO()
    run_dir = run_suite(suite, RunOptions(results_dir=tmp_path, run_id="m1", data_root=str(root)),
                        [ConsoleObserver(stream=console)])
    text = console.getvalue()
    assert "skipping ptbxl/resnet_se_bigru_meta: model 'resnet_se_bigru_meta' takes signal + patient metadata; " \
           "dataset 'ptbxl' has no metadata" in text
    final = pd.read_csv(run_dir / "final_runs.csv").fillna("")
    assert (final["kind"] == "floor").sum() == 4  # two floors per dataset
    final = final[final["kind"] == "model"]
    assert sorted(zip(final["dataset"], final["model"])) == [
        ("chapman", "resnet_se"), ("chapman", "resnet_se_bigru_meta"), ("ptbxl", "resnet_se")]
    ptb = final[final["dataset"] == "ptbxl"].iloc[0]
    assert ptb["headline"] == "macro_auroc" and ptb["task"] == "multilabel"
    assert set(eval(ptb["thresholds"])) == {"NORM", "MI", "STTC", "CD", "HYP"}
    pred = read_run(run_dir).predictions("ptbxl", "resnet_se", 0)
    test_size = len(load_dataset("ptbxl", root=root).splits["test"])
    assert pred["labels"].shape == pred["scores"].shape == (test_size, 5) and pred["thresholds"].shape == (5,)
    failures = pd.read_csv(run_dir / "failures.csv")
    assert list(failures["stage"]) == ["compatibility"]
    board = render_leaderboard(read_run(run_dir))
    assert "ranked by test macro_auroc" in board and "ranked by test macro_f1" in board
    assert "F1 NORM" in board and "F1 GSVT" in board
