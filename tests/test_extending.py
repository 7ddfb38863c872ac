"""README's "Adding an architecture" and "Adding a dataset" hold: the code blocks of those
two sections, written to files of a package outside ecgharness, run as a suite through
the command line (in a child process, so the example stays out of this one's registries)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
pytestmark = pytest.mark.slow


def _blocks(section: str, lang: str) -> list[str]:
    """The ``lang`` code blocks of README's text from ``section`` to the next ``## `` heading."""
    text = README.read_text()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    return re.findall(rf"```{lang}\n(.*?)```", text[start:end if end > 0 else None], flags=re.S)


def _beats(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Narrow (class 0) and wide (class 1) QRS-like bumps on a wandering baseline, 2 leads."""
    y = rng.integers(0, 2, n)
    t = np.linspace(0, 1, 128, dtype=np.float32)
    width = np.where(y == 1, 0.06, 0.02)[:, None]
    qrs = np.exp(-((t[None, :] - 0.5) ** 2) / (2 * width**2))
    baseline = 0.3 * np.sin(2 * np.pi * (t[None, :] + rng.uniform(0, 1, (n, 1))))
    lead = (qrs + baseline + rng.normal(0, 0.2, (n, 128))).astype(np.float32)
    return np.stack([lead, 0.5 * lead], axis=1), y.astype(np.int64)


def test_a_model_and_a_dataset_from_outside_the_package_run_as_a_suite(tmp_path: Path) -> None:
    (model_code,) = _blocks("Adding an architecture is one file", "python")
    (dataset_code,) = _blocks("## Adding a dataset", "python")
    (suite_yaml,) = _blocks("## Adding a dataset", "yaml")
    package = tmp_path / "plugins" / "my_ecg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tiny_cnn.py").write_text(model_code)
    (package / "qrs_width.py").write_text(dataset_code)
    (tmp_path / "my_suite.yaml").write_text(suite_yaml)
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "qrs_width").mkdir(parents=True)
    for name, n in (("train", 200), ("test", 80)):
        x, y = _beats(rng, n)
        np.savez(tmp_path / "data" / "qrs_width" / f"{name}.npz", x=x, y=y)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugins"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "ecgharness", "run", "--suite", str(tmp_path / "my_suite.yaml"), "--data-root",
         str(tmp_path / "data"), "--results-dir", str(tmp_path / "results"), "--run-id", "ext", "--num-cpus", "2"],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    run_dir = tmp_path / "results" / "my_suite" / "ext"
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 2 and (trials["status"] != "failed").all(), trials
    assert set(json.loads(trials["config"].iloc[0])) == {"lr", "batch_size", "width"}
    final = pd.read_csv(run_dir / "final_runs.csv")
    final = final[final["kind"] == "model"]
    assert list(zip(final["dataset"], final["model"], final["seed"])) == [("qrs_width", "tiny_cnn", 0)]
    assert final["test_examples"].iloc[0] == 80
    assert "qrs_width" in proc.stdout and "tiny_cnn" in proc.stdout.split("ranked by test macro_f1")[1]
    # the dataset's 20 % validation share, carved from the 200 training beats
    assert "val        40 examples" in proc.stdout and "train     160 examples" in proc.stdout
