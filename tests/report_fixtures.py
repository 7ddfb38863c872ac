"""A small stored run written in the results-store layout, for report and leaderboard tests.

Three models of different skill score the same 240 test beats of the five AAMI classes
(Q absent from the test set, so its sensitivity and AUROC are undefined), two seeds each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ecgharness.evaluation.metrics import classification_metrics
from ecgharness.leaderboard.store import FinalRecord, RunWriter, TrialRecord

CLASSES = ("N", "S", "V", "F", "Q")
SKILL = {"strong": 2.5, "fair": 1.2, "weak": 0.4}
PARAMS = {"strong": 120_345, "fair": 48_000, "weak": 9_876}
RANK = {"strong": 0, "fair": 1, "weak": 2}


def stored_labels() -> np.ndarray:
    return np.repeat(np.arange(4), [150, 40, 35, 15])  # N, S, V, F; no Q


def model_scores(model: str, seed: int, labels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1000 * seed + sum(map(ord, model)))
    logits = rng.normal(size=(len(labels), len(CLASSES)))
    logits[np.arange(len(labels)), labels] += SKILL[model]
    logits[:, 4] -= 3  # Q is rarely predicted
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def write_run(folder: Path, models=tuple(SKILL), seeds=(0, 1), dataset: str = "mitbih",
              config: dict | None = None, hparams: dict | None = None) -> Path:
    """Write a completed run folder holding ``models`` x ``seeds`` on ``dataset``, with the
    store's own writer (so the format is the one the runner writes)."""
    config = config or {"split": "interpatient", "leads": ["MLII"]}
    labels = stored_labels()
    writer = RunWriter(folder, "tiny")
    writer.create({"name": "tiny"}, {
        "created": "2026-12-04T12:00:00", "git": {"commit": "0123456789abcdef"},
        "datasets": {dataset: {"config": config, "notes": {"protocol": "inter-patient (de Chazal DS1/DS2)"}}},
    })
    for model in models:
        m_index = RANK[model]
        for seed in seeds:
            scores = model_scores(model, seed, labels)
            values = classification_metrics(labels, scores, CLASSES)
            writer.add_final(FinalRecord(
                dataset=dataset, model=model, seed=seed, config=hparams or {"lr": 0.001}, task="multiclass",
                headline="macro_f1", class_names=CLASSES, metrics=values, scores=scores, labels=labels,
                thresholds=None, params=PARAMS[model], train_time_s=10.0 + 5 * m_index + seed,
                throughput=5000.0 - 1000 * m_index, epochs=4, best_epoch=3, device="cpu",
                val_score=values["macro_f1"]))
        for t in range(3):
            trial_id = f"{model[:4]}{t:04d}"
            stopped = t == 2
            epochs = 2 if stopped else 4
            writer.add_trial(TrialRecord(
                dataset=dataset, model=model, trial_id=trial_id, status="stopped by ASHA" if stopped else "completed",
                epochs=epochs, best_val_score=0.2 + 0.1 * SKILL[model] - 0.05 * t, headline="macro_f1", reason="",
                config={"lr": 10 ** -(2 + t)}))
            writer.add_history(dataset, model, [
                {"epoch": epoch, "train_loss": 1.5 / epoch, "val_loss": 1.6 / epoch + 0.05,
                 "score": 0.1 * SKILL[model] * epoch / 4, "trial_id": trial_id} for epoch in range(1, epochs + 1)])
    writer.save()
    return folder
