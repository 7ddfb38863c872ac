"""`bench export`: ONNX (dynamic batch) checked with onnxruntime on real test beats of the
embedded sample, TorchScript, the model card, and a clear refusal for MTF image models."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ecgharness.cli import main
from ecgharness.datasets import load_dataset
from ecgharness.inference.bundle import load_bundle, weights_path
from ecgharness.leaderboard.store import read_run
from kept_run import SAMPLE_CONFIG, write_kept_run


@pytest.fixture(scope="module")
def kept(kept_run):
    return kept_run


def test_onnx_export_agrees_with_torch_on_real_beats_at_any_batch_size(kept, tmp_path, capsys) -> None:
    import onnxruntime as ort

    assert main(["export", "--run", str(kept), "--model", "cnn_lstm", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    figure = float(re.search(r"max abs difference of probabilities ([0-9.e+-]+)", printed).group(1))
    test = load_dataset("mitbih_sample", SAMPLE_CONFIG).splits["test"]
    assert figure <= 1e-4 and f"on {min(256, len(test))} real test examples" in printed
    onnx_file = tmp_path / "mitbih_sample__cnn_lstm__seed0.onnx"
    # an independent run of the file: onnxruntime on the test split, against the run's stored predictions
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"
    stored = read_run(kept).predictions("mitbih_sample", "cnn_lstm", 0)["scores"]
    for n in (1, 7, 300):
        probs = session.run(None, {"signal": np.asarray(test.x[:n])})[0]
        np.testing.assert_allclose(probs, stored[:n], atol=1e-4)

    card = (tmp_path / "mitbih_sample__cnn_lstm__seed0.md").read_text()
    for heading in ("## Data", "## Training protocol", "## Test metrics", "## Parameters", "## Intended use and limits"):
        assert heading in card
    params = sum(p.numel() for p in load_bundle(weights_path(kept, "mitbih_sample", "cnn_lstm", 0)).model.parameters())
    assert f"{params:,} trainable parameters" in card
    from ecgharness.evaluation.metrics import headline

    labels = read_run(kept).predictions("mitbih_sample", "cnn_lstm", 0)["labels"]
    f1 = headline(labels, stored, "multiclass", "macro_f1", scored=(0, 1, 2, 3))
    low, high = map(float, re.search(r"\*\*macro_f1\*\* \(headline\): [0-9.]+ \[([0-9.]+), ([0-9.]+)\]", card).groups())
    assert f"**macro_f1** (headline): {f1:.3f}" in card and low <= f1 <= high
    assert "not a medical device" in card and "inter-patient" in card


def test_a_gasf_image_model_exports_with_its_images_in_the_graph(kept, tmp_path, capsys) -> None:
    import onnxruntime as ort

    assert main(["export", "--run", str(kept), "--model", "alexnet", "--out", str(tmp_path), "--examples", "64"]) == 0
    session = ort.InferenceSession(str(tmp_path / "mitbih_sample__alexnet__seed0.onnx"),
                                   providers=["CPUExecutionProvider"])
    test = load_dataset("mitbih_sample", SAMPLE_CONFIG).splits["test"]
    stored = read_run(kept).predictions("mitbih_sample", "alexnet", 0)["scores"]
    np.testing.assert_allclose(session.run(None, {"signal": np.asarray(test.x[:50])})[0], stored[:50], atol=1e-4)


def test_torchscript_export_and_mtf_refusal(tmp_path, capsys) -> None:
    import torch

    run = write_kept_run(tmp_path / "kept" / "k2", {"alexnet": {"images": "mtf", "image_size": 16, "width": 4,
                                                                "hidden": 8, "batch_size": 64}})
    assert main(["export", "--run", str(run), "--model", "alexnet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Markov Transition Field" in err and "--format torchscript" in err
    assert not (tmp_path / "o" / "mitbih_sample__alexnet__seed0.onnx").exists()
    assert main(["export", "--run", str(run), "--model", "alexnet", "--format", "torchscript", "--out",
                 str(tmp_path / "o"), "--examples", "32"]) == 0
    scripted = torch.jit.load(str(tmp_path / "o" / "mitbih_sample__alexnet__seed0.pt"))
    test = load_dataset("mitbih_sample", SAMPLE_CONFIG).splits["test"]
    stored = read_run(run).predictions("mitbih_sample", "alexnet", 0)["scores"]
    with torch.no_grad():
        np.testing.assert_allclose(scripted(torch.tensor(np.asarray(test.x[:40]))).numpy(), stored[:40], atol=1e-5)
    assert main(["export", "--run", str(run), "--model", "cnn_lstm"]) == 2
    assert "keeps no weights of cnn_lstm" in capsys.readouterr().err
