"""`bench app`: the Streamlit page driven headless with AppTest on a real kept run, and a real
browser screenshot where Chromium is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgharness.inference.bundle import load_bundle, weights_path
from ecgharness.inference.predict import predict_input
from ecgharness.inference.records import read_input

PAGE = Path(__file__).resolve().parents[1] / "ecgharness" / "app" / "page.py"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kept(kept_run):
    return kept_run


def _page(kept, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ECGHARNESS_APP_RUN", str(kept))
    return AppTest.from_file(str(PAGE), default_timeout=180)


def test_the_page_scores_an_example_record_and_shows_the_leaderboard(kept, sample_dir, monkeypatch) -> None:
    at = _page(kept, monkeypatch)
    at.query_params["model"] = "alexnet"
    at.query_params["record"] = "213"
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="model").value.startswith("alexnet") and at.selectbox(key="example").value == "213"
    bundle = load_bundle(weights_path(kept, "mitbih_sample", "alexnet", 0))
    expected = predict_input(bundle, read_input(sample_dir / "213.hea"))
    summary = at.dataframe[0].value
    counts = np.bincount(expected.probabilities.argmax(axis=1), minlength=5)  # counted here, from the model
    assert list(summary["class"]) == ["N", "S", "V", "F", "Q"] and list(summary["beats"]) == counts.tolist()
    assert len(at.dataframe[1].value) == len(expected.probabilities)
    assert at.metric[0].value == str(len(expected.probabilities))
    assert "the record's annotation file" in " ".join(c.value for c in at.caption)
    board = " ".join(m.value for m in at.markdown)
    assert "cnn_lstm" in board and "alexnet" in board and "macro_f1" in board
    # another model of the run, chosen in the sidebar
    at.selectbox(key="model").select(next(o for o in at.selectbox(key="model").options if o.startswith("cnn_lstm")))
    at.run()
    assert not at.exception and at.subheader[0].value == "213: cnn_lstm"


def test_uploads_are_scored_and_bad_files_get_a_message_not_a_traceback(kept, sample_dir, monkeypatch) -> None:
    at = _page(kept, monkeypatch)
    at.run()
    at.sidebar.radio(key="source").set_value("Upload")
    at.run()
    at.file_uploader(key="upload").set_value([
        ("213.hea", (sample_dir / "213.hea").read_bytes(), "text/plain"),
        ("213.dat", (sample_dir / "213.dat").read_bytes(), "application/octet-stream")])
    at.run()
    assert not at.exception and not at.error
    assert "XQRS" in " ".join(c.value for c in at.caption)  # no .atr uploaded: the detector finds the beats
    assert int(at.metric[0].value) > 400
    at.file_uploader(key="upload").set_value([("beats.csv", b"1,2,3\n4,5,6\n", "text/csv")])
    at.run()
    assert not at.exception and "beats.csv: 3 columns" in at.error[0].value
    at.file_uploader(key="upload").set_value([("213.hea", (sample_dir / "213.hea").read_bytes(), "text/plain")])
    at.run()
    assert not at.exception and "upload the record's .dat file" in at.error[0].value


def test_the_app_command_binds_to_localhost(kept, monkeypatch) -> None:
    import os

    from ecgharness.cli import main

    seen = {}
    monkeypatch.setattr(os, "execve", lambda exe, cmd, env: seen.update(cmd=cmd, env=env))
    assert main(["app", "--run", str(kept), "--port", "8765"]) == 0
    cmd = seen["cmd"]
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1" and cmd[cmd.index("--server.port") + 1] == "8765"
    assert seen["env"]["ECGHARNESS_APP_RUN"] == str(kept.resolve())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium for the screenshot")
def test_a_real_browser_shows_the_page_with_a_record_loaded(kept, tmp_path) -> None:
    shot = tmp_path / "app.png"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshot_app.py"), "--run", str(kept),
                           "--model", "cnn_lstm", "--record", "213", str(shot)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    from matplotlib.image import imread

    image = imread(shot)
    assert image.shape[0] >= 900 and image.shape[1] >= 1200
    assert np.std(image[..., :3]) > 0.05  # a rendered page, not a blank one
