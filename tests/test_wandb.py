"""``bench run --wandb`` offline: one W&B run per trial with its epochs, keys never written.

The offline runs are read back from their ``.wandb`` transaction logs with a small reader
of the record format (a LevelDB-style log of ``wandb_internal_pb2.Record`` protobufs), so
the test checks what ``wandb sync`` would upload, not what the logger meant to send.
"""

from __future__ import annotations

import ast
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ecgharness.benchmark.runner import RunOptions, run_suite
from ecgharness.tracking.console import ConsoleObserver
from ecgharness.benchmark.suite import parse_suite
from ecgharness.tracking.wandb import WandbObserver, WandbOptions, WandbTracker, log_report_images, resolve_mode, scrub

DUMMY_KEY = "dummy0wandb0key0" + "7" * 24  # 40 characters, the shape of a real key
SYNTHETIC = {"name": "synthetic", "config": {"n_per_class": 40, "length": 64, "noise": 0.8}}
TINY = {
    "name": "wb",
    "datasets": [SYNTHETIC],
    "models": [{"name": "cnn_lstm", "space": {"lr": {"choice": [1.0e-6, 3.0e-3]}, "batch_size": 32,
                                              "conv_width": 8, "lstm_hidden": {"choice": [8, 16]},
                                              "fc_hidden": 8}}],
    "search": {"num_samples": 3, "max_concurrent_trials": 2, "grace_period": 1, "reduction_factor": 2},
    "training": {"max_epochs": 2, "patience": 2},
    "final": {"seeds": [0]},
}


def read_offline_run(path: Path) -> dict:
    """Config, history rows, summary and exit code of one ``offline-run-*`` folder."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = path.glob("run-*.wandb")
    data = log.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    block, pos, chunk = 32768, 7, b""
    run = {"config": {}, "history": [], "summary": {}, "exit_code": None}
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += left
            continue
        chunk = (b"" if kind in (1, 2) else chunk) + data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (2, 3):  # first or middle fragment of a long record
            continue
        record = pb.Record()
        record.ParseFromString(chunk)
        which = record.WhichOneof("record_type")
        if which == "run":
            run.update(group=record.run.run_group, job_type=record.run.job_type, name=record.run.display_name)
            run["config"].update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif which == "history":
            run["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                   for i in record.history.item})
        elif which == "summary":
            run["summary"].update({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                   for i in record.summary.update})
        elif which == "exit":
            run["exit_code"] = record.exit.exit_code
    return run


def offline_runs(folder: Path) -> list[dict]:
    return [read_offline_run(p) for p in sorted((folder / "wandb").glob("offline-run-*"))]


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", DUMMY_KEY)


@pytest.mark.slow
def test_tiny_suite_logs_one_offline_run_per_trial_and_never_writes_the_key(offline, tmp_path) -> None:
    suite = parse_suite(TINY, "wb.yaml")
    console = io.StringIO()
    printer = ConsoleObserver(stream=console)
    run_dir = run_suite(suite, RunOptions(results_dir=tmp_path, run_id="w1", num_cpus=2),
                        [printer, WandbObserver(WandbOptions(project="ecg-test"), out=printer.print)])
    text = console.getvalue()
    sync = f"wandb sync {run_dir / 'wandb'}/offline-run-*"
    assert text.count(sync) == 2, text  # said once at the start and once at the end
    assert text.index(sync) < text.index("searching synthetic/cnn_lstm") < text.rindex(sync)
    assert "W&B warning" not in text and "wandb:" not in text, text  # wandb itself keeps quiet

    trials = pd.read_csv(run_dir / "trials.csv")
    history = pd.read_csv(run_dir / "trial_history.csv")
    runs = offline_runs(run_dir)
    search = {r["config"]["trial_id"]: r for r in runs if r["job_type"] == "search"}
    assert len(search) == len(trials) == 3
    for trial in trials.itertuples():
        run = search[trial.trial_id]
        assert run["group"] == "wb/synthetic" and run["name"] == f"cnn_lstm-{trial.trial_id}"
        assert {"lr", "lstm_hidden", "batch_size"} <= set(run["config"])
        assert run["config"]["model"] == "cnn_lstm" and run["config"]["dataset"] == "synthetic"
        assert run["config"]["seed"] == 0
        rows = run["history"]
        assert [r["epoch"] for r in rows] == [r["_step"] for r in rows] == list(range(1, trial.epochs + 1))
        assert all("val_macro_f1" in r and "train_loss" in r for r in rows)
        expected = history[history["trial_id"] == trial.trial_id]["val_macro_f1"].tolist()
        assert [r["val_macro_f1"] for r in rows] == pytest.approx(expected)
        assert run["summary"]["status"] == trial.status and run["exit_code"] == 0

    final = pd.read_csv(run_dir / "final_runs.csv")
    final = final[final["kind"] == "model"]  # the floors are not W&B runs
    (final_run,) = [r for r in runs if r["job_type"] == "final"]
    assert final_run["name"] == "cnn_lstm-seed0" and final_run["config"]["seed"] == 0
    metrics = pd.read_csv(run_dir / "final_metrics.csv")
    metrics = metrics[metrics["model"] == "cnn_lstm"].set_index("metric")["value"]
    assert final_run["summary"]["test/macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert len(final_run["history"]) == final["epochs"].iloc[0]

    leaked = [p for p in run_dir.rglob("*") if p.is_file() and DUMMY_KEY.encode() in p.read_bytes()]
    assert not leaked, leaked


def test_a_failed_trial_is_marked_and_wandb_errors_are_not_fatal(offline, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", DUMMY_KEY)  # offline all the same: WANDB_MODE=offline
    lines: list[str] = []
    tracker = WandbTracker(WandbOptions(), "s", "r", tmp_path, lines.append)
    tracker.trial_started("ds", "m", "t1", {"lr": 0.1, "api_key": DUMMY_KEY, "note": DUMMY_KEY})
    tracker.trial_result("ds", "m", "t1", {"epoch": 1, "train_loss": 0.5, "val_macro_f1": 0.2, "pid": 7})
    tracker.trial_finished("ds", "m", "t1", "failed", epochs=1, reason="TrainingDiverged: loss became nan")
    tracker.close()  # waits for wandb to write the run out
    (run,) = offline_runs(tmp_path)
    assert run["exit_code"] == 1 and run["summary"]["reason"] == "TrainingDiverged: loss became nan"
    assert run["config"]["lr"] == 0.1 and "api_key" not in run["config"] and run["config"]["note"] == "<redacted>"
    assert [set(r) - {"_step", "_runtime", "_timestamp"} for r in run["history"]] == [
        {"epoch", "train_loss", "val_macro_f1"}]

    import wandb

    def broken(*args, **kwargs):
        raise ConnectionError(f"no route to W&B with key {DUMMY_KEY}")

    monkeypatch.setattr(wandb, "init", broken)
    tracker.trial_started("ds", "m", "t2", {"lr": 0.1})  # warns once and switches logging off
    tracker.trial_result("ds", "m", "t2", {"epoch": 1})
    tracker.trial_finished("ds", "m", "t2", "completed")
    tracker.log_final("ds", "m", 0, {"lr": 0.1}, {"test_metrics": {"macro_f1": 0.5}})
    tracker.close()
    warnings = [l for l in lines if l.startswith("W&B warning")]
    assert len(warnings) == 1 and "ConnectionError: no route to W&B with key <redacted>" in warnings[0]
    assert not [l for l in lines if DUMMY_KEY in l]


def test_modes_and_scrubbing(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert resolve_mode()[0] == "offline"
    (tmp_path / "netrc").write_text(f"machine api.wandb.ai\n  login user\n  password {DUMMY_KEY}\n")
    assert resolve_mode()[0] == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolve_mode() == ("offline", "WANDB_MODE=offline")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode()[0] == "disabled"
    monkeypatch.setenv("MY_SERVICE_TOKEN", "short-but-secret")
    assert scrub({"a": 1, "nested": {"WANDB_API_KEY": "x", "path": "/data/x", "t": "id short-but-secret"},
                  "m": "resnet_se"}) == {"a": 1, "nested": {"path": "/data/x", "t": "<redacted>"}, "m": "resnet_se"}
    # hyperparameters that merely mention tokens, and long names, are kept; key-shaped values are not
    kept = {"num_tokens": 16, "token_dim": 64, "arch": "a" * 39 + "x"}
    assert scrub({**kept, "wandb_token": "abc", "k": "0123456789abcdef" * 2 + "01234567"}) == {**kept, "k": "<redacted>"}


def test_report_images_go_to_one_run(offline, tmp_path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    for name in ("bars", "confusion"):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [1, 0])
        fig.savefig(report / "plots" / f"{name}.png")
        plt.close(fig)
    lines: list[str] = []
    assert log_report_images(report, "ecg-test", None, "s/ds", out=lines.append) == 2
    (run,) = offline_runs(report)
    assert run["job_type"] == "report" and run["group"] == "s/ds" and run["summary"]["images"] == 2
    (row,) = run["history"]
    assert row["plots/bars/_type"] == row["plots/confusion/_type"] == "image-file"
    assert len(list((report / "wandb").glob("offline-run-*/files/media/images/plots/*.png"))) == 2
    assert "wandb sync" in lines[-1]


@pytest.mark.slow
def test_without_the_flag_the_harness_never_imports_wandb(tmp_path) -> None:
    """Ray itself imports wandb in ``Tuner.fit`` (its callback-usage telemetry,
    ``ray/air/_internal/usage.py``), so the check is on who imports it, not whether."""
    code = f"""
import io, sys, traceback
importers = []

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "wandb":
            frames = [f for f in traceback.extract_stack()
                      if "importlib" not in f.filename and not f.filename.startswith("<")]
            importers.append(frames[-1].filename)
        return None

sys.meta_path.insert(0, Spy())
from ecgharness.benchmark.runner import RunOptions, run_suite
from ecgharness.tracking.console import ConsoleObserver
from ecgharness.benchmark.suite import parse_suite
tiny = {TINY!r}
tiny["search"]["num_samples"] = 1
tiny["training"]["max_epochs"] = 1
console = io.StringIO()
run_suite(parse_suite(tiny, "wb.yaml"), RunOptions(results_dir={str(tmp_path)!r}, run_id="n1", num_cpus=1),
          [ConsoleObserver(stream=console)])
print("importers:", importers)
print("W&B lines:", [l for l in console.getvalue().splitlines() if "W&B" in l])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    importers = ast.literal_eval(proc.stdout.split("importers:")[1].splitlines()[0])
    assert not [f for f in importers if f"{Path('ecgharness')}" in f], importers
    assert "W&B lines: []" in proc.stdout
    assert not (tmp_path / "wb" / "n1" / "wandb").exists()
