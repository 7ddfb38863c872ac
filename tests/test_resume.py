"""``bench run --resume``: a run killed with ``kill -9`` (or stopped by SIGTERM) goes on where it
stopped. The oracle is the journal the killed run left: every trial it had finished keeps its
row unchanged and never starts again, every trial it had running goes on from its checkpoint
(at most the epoch in flight is trained twice), and the resumed run ends with as many trials
per pair and as many scored seeds as an uninterrupted run has."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

TRIALS, EPOCHS, SEEDS = 4, 5, [0, 1]
SUITE = {
    "name": "resumable",
    "datasets": [{"name": "synthetic", "config": {"n_per_class": 150, "length": 192, "noise": 0.8}}],
    "models": [
        {"name": "cnn_lstm", "space": {"lr": {"loguniform": [1.0e-3, 1.0e-2]}, "batch_size": 16, "conv_width": 8,
                                       "lstm_hidden": {"choice": [8, 16]}, "fc_hidden": 16}},
        {"name": "resnet_se", "space": {"lr": {"loguniform": [1.0e-3, 1.0e-2]}, "batch_size": 16,
                                        "base_channels": 8, "stages": 2, "blocks_per_stage": 1}},
    ],
    # grace_period == max_epochs: ASHA stops nobody, so every trial has EPOCHS epochs to count
    "search": {"num_samples": TRIALS, "max_concurrent_trials": 1, "grace_period": EPOCHS, "reduction_factor": 2},
    "training": {"max_epochs": EPOCHS, "patience": EPOCHS},
    "final": {"seeds": SEEDS},
    "resources": {"cpus_per_trial": 1},
}


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()[:-1] if line.strip()]  # last may be cut


def _bench(*args: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "ECGHARNESS_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "ecgharness", "run", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for(run_dir: Path, ready, proc: subprocess.Popen, limit_s: float = 240) -> list[dict]:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        events = _events(run_dir)
        if ready(events):
            return events
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the test could stop it:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the run did not reach the point to stop it in time")


def _mid_search(events: list[dict]) -> bool:
    """Some trials have ended and one is running with epochs reported but not all."""
    ended = {e["trial"] for e in events if e["kind"] == "end"}
    epochs: dict[str, int] = {}
    for e in events:
        if e["kind"] == "result":
            epochs[e["trial"]] = e["row"]["epoch"]
    running = [t for t, n in epochs.items() if t not in ended and 2 <= n < EPOCHS]
    return len(ended) >= 2 and bool(running)


def _check_resumed(run_dir: Path) -> dict:
    after = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]
    before = [e for e in after if e["session"] == 0]  # what the stopped run had recorded
    trials = pd.read_csv(run_dir / "trials.csv")
    history = pd.read_csv(run_dir / "trial_history.csv")
    finals = pd.read_csv(run_dir / "final_runs.csv")
    # as many trials per pair and scored seeds as an uninterrupted run, each once
    assert trials.groupby("model").size().to_dict() == {"cnn_lstm": TRIALS, "resnet_se": TRIALS}
    assert trials["trial_id"].is_unique
    models = finals[finals["kind"] == "model"]
    assert sorted(map(tuple, models[["model", "seed"]].values.tolist())) == \
        sorted((m, s) for m in ("cnn_lstm", "resnet_se") for s in SEEDS)
    assert not history.duplicated(["trial_id", "epoch"]).any()
    assert (history.groupby("trial_id")["epoch"].max() == EPOCHS).all()
    # finished trials: never started again, rows as the killed run recorded them
    ended = {e["trial"]: e["record"] for e in before if e["kind"] == "end"}
    restarted = {e["trial"] for e in after if e["kind"] == "start" and e["session"] > 0}
    assert not restarted & set(ended), "finished trials were run again"
    for trial_id, record in ended.items():
        row = trials[trials["trial_id"] == trial_id].iloc[0]
        assert row["status"] == record["status"] and row["epochs"] == record["epochs"]
        assert row["best_val_score"] == pytest.approx(record["best_val_score"], rel=0, abs=0)
    # unfinished trials went on from their checkpoints: epochs trained twice at most the one in flight
    heard = {}
    for e in before:
        if e["kind"] == "result":
            heard[e["trial"]] = e["row"]["epoch"]
    lost = {}
    for trial_id, epoch in heard.items():
        if trial_id in ended:
            continue
        went_on = [e["epoch"] for e in after if e["kind"] == "resumed" and e["trial"] == trial_id
                   and e["session"] > 0]
        assert went_on, f"{trial_id} did not go on in the resumed run"
        # the checkpoint is saved before the epoch is reported: it holds every epoch heard, or one more
        assert went_on[0] in (epoch, epoch + 1), f"{trial_id} went on from epoch {went_on[0]}, {epoch} was heard"
        lost[trial_id] = epoch - went_on[0]  # epochs trained twice
    assert all(n <= 0 for n in lost.values()), lost
    return {"finished_before": len(ended), "resumed": len(lost)}


def test_a_killed_run_resumes_without_rerunning_finished_trials(tmp_path) -> None:
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    run_dir = tmp_path / "results" / "resumable" / "r1"
    first = _bench("--suite", "suite.yaml", "--run-id", "r1", "--num-cpus", "2", tmp_path=tmp_path)
    _wait_for(run_dir, _mid_search, first)
    os.kill(first.pid, signal.SIGKILL)  # the driver only: the Ray it started goes with it
    first.wait()
    checkpoints = list((run_dir / "tune" / "checkpoints").glob("*.pt"))
    assert checkpoints, "unfinished trials left no checkpoint"

    again = _bench("--resume", str(run_dir), "--num-cpus", "2", tmp_path=tmp_path)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:]
    counts = _check_resumed(run_dir)
    print(f"\nkill -9 then resume: {counts}")
    assert counts["finished_before"] >= 2 and counts["resumed"] >= 1
    assert "cnn_lstm" in out and "resnet_se" in out  # the leaderboard of the whole run
    assert not (run_dir / "tune" / "checkpoints").exists()  # a finished run keeps no checkpoints

    finished = _bench("--resume", str(run_dir), tmp_path=tmp_path)
    out, _ = finished.communicate(timeout=120)
    assert finished.returncode == 2 and "has finished" in out


def test_sigterm_stops_the_run_within_seconds_and_it_resumes(tmp_path) -> None:
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    run_dir = tmp_path / "results" / "resumable" / "r2"
    first = _bench("--suite", "suite.yaml", "--run-id", "r2", "--num-cpus", "2", tmp_path=tmp_path)
    _wait_for(run_dir, _mid_search, first)
    sent = time.monotonic()
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=60)
    took = time.monotonic() - sent
    assert first.returncode == 143, out[-3000:]
    assert took < 30, f"SIGTERM took {took:.0f} s to stop the run"
    print(f"\nSIGTERM: the run stopped {took:.1f} s later")
    assert f"bench run --resume {run_dir}" in out
    assert json.loads((run_dir / "status.json").read_text())["state"] == "stopped"

    again = _bench("--resume", str(run_dir), "--num-cpus", "2", tmp_path=tmp_path)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:]
    counts = _check_resumed(run_dir)
    assert counts["resumed"] >= 1


@pytest.fixture(params=["uri"])
def s3_bucket(request, monkeypatch):
    """An S3 server on 127.0.0.1 (moto) with an empty bucket ``ecg``, and the ``--storage`` URI
    of a folder in it: the endpoint is given to pyarrow (and so to Ray Tune and the checkpoints)
    in the URI's query (``?endpoint_override=...``, as for MinIO; ``uri``) or by
    ``AWS_ENDPOINT_URL`` (``environment``)."""
    moto_server = pytest.importorskip("moto.server", reason="moto is in the dev extras: pip install -e '.[dev]'")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    uri = "s3://ecg/runs"
    if request.param == "environment":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        uri += f"?endpoint_override={host}:{port}&scheme=http"
    from pyarrow import fs

    bucket = fs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", allow_bucket_creation=True)
    bucket.create_dir("ecg")
    yield bucket, uri
    server.stop()


def _objects(bucket, prefix: str) -> list[str]:
    from pyarrow import fs

    found = bucket.get_file_info(fs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return [f.path for f in found if f.type == fs.FileType.File]


def test_a_run_whose_storage_is_s3_resumes_from_the_bucket(s3_bucket, tmp_path) -> None:
    bucket, uri = s3_bucket
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    run_dir = tmp_path / "results" / "resumable" / "r3"
    first = _bench("--suite", "suite.yaml", "--run-id", "r3", "--num-cpus", "2", "--storage", uri, tmp_path=tmp_path)
    _wait_for(run_dir, _mid_search, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    stored = _objects(bucket, "ecg/runs/resumable/r3")
    checkpoints = [p for p in stored if p.startswith("ecg/runs/resumable/r3/checkpoints/") and p.endswith(".pt")]
    assert checkpoints, f"no trial checkpoint in the bucket; it holds {stored[:10]}"
    assert any("/search/experiment_state" in p for p in stored), "Tune's experiment state is not in the bucket"
    assert not (run_dir / "tune").exists()  # nothing of the storage went to the local run folder

    again = _bench("--resume", str(run_dir), "--num-cpus", "2", tmp_path=tmp_path)  # the journal names the bucket
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:]
    counts = _check_resumed(run_dir)
    assert counts["finished_before"] >= 2 and counts["resumed"] >= 1
    assert not [p for p in _objects(bucket, "ecg/runs/resumable/r3") if "/checkpoints/" in p]


@pytest.mark.parametrize("s3_bucket", ["environment"], indirect=True)
def test_a_checkpoint_goes_to_the_bucket_and_comes_back(s3_bucket) -> None:
    from ecgharness.benchmark.checkpoints import CheckpointFile, checkpoints_root, clear, join_uri

    bucket, uri = s3_bucket
    root = checkpoints_root(join_uri(uri, "suite", "run"))
    saved = CheckpointFile(root, "trial-1")
    saved.save({"epoch": 3, "history": [{"epoch": 3, "loss": 0.5}]})
    assert _objects(bucket, "ecg/runs/suite/run/checkpoints") == ["ecg/runs/suite/run/checkpoints/trial-1.pt"]
    again = CheckpointFile(root, "trial-1")
    assert again.load()["epoch"] == 3 and again.restored_epoch == 3
    clear(root)
    assert _objects(bucket, "ecg/runs/suite/run") == [] and CheckpointFile(root, "trial-1").load() is None


def test_folders_are_joined_before_a_uris_query() -> None:
    from ecgharness.benchmark.checkpoints import join_uri

    assert join_uri("s3://b/ecg?endpoint_override=h:9000&scheme=http", "all", "r1") == \
        "s3://b/ecg/all/r1?endpoint_override=h:9000&scheme=http"
    assert join_uri("s3://b/ecg/", "all") == "s3://b/ecg/all"
    assert join_uri("/data/runs?", "all") == "/data/runs?/all"  # a local folder may hold a "?"
