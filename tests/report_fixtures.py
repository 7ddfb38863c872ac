"""A small stored run written in the results-store layout, for report and leaderboard tests.

Three models of different skill score the same 240 test beats of the five AAMI classes
(Q absent from the test set, so its sensitivity and AUROC are undefined), two seeds each.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ecgharness.evaluation.metrics import classification_metrics

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
    """Write a completed run folder holding ``models`` x ``seeds`` on ``dataset``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predictions").mkdir(exist_ok=True)
    config = config or {"split": "interpatient", "leads": ["MLII"]}
    labels = stored_labels()
    runs, metrics, trials, history = [], [], [], []
    for model in models:
        m_index = RANK[model]
        for seed in seeds:
            scores = model_scores(model, seed, labels)
            np.savez_compressed(folder / "predictions" / f"{dataset}__{model}__seed{seed}.npz", scores=scores,
                                labels=labels, class_names=np.array(CLASSES))
            values = classification_metrics(labels, scores, CLASSES)
            metrics += [{"suite": "tiny", "dataset": dataset, "model": model, "seed": seed, "split": "test",
                         "metric": k, "value": v} for k, v in values.items()]
            runs.append({"dataset": dataset, "model": model, "seed": seed, "params": PARAMS[model],
                         "train_time_s": 10.0 + 5 * m_index + seed, "throughput": 5000.0 - 1000 * m_index,
                         "epochs": 4, "best_epoch": 3, "device": "cpu", "test_examples": len(labels),
                         "headline": "macro_f1", "val_score": values["macro_f1"], "task": "multiclass",
                         "thresholds": "", "config": json.dumps(hparams or {"lr": 0.001})})
        for t in range(3):
            trial_id = f"{model[:4]}{t:04d}"
            stopped = t == 2
            epochs = 2 if stopped else 4
            trials.append({"dataset": dataset, "model": model, "trial_id": trial_id,
                           "status": "stopped by ASHA" if stopped else "completed", "epochs": epochs,
                           "best_val_score": 0.2 + 0.1 * SKILL[model] - 0.05 * t, "headline": "macro_f1",
                           "reason": "", "config": json.dumps({"lr": 10 ** -(2 + t)})})
            for epoch in range(1, epochs + 1):
                history.append({"dataset": dataset, "model": model, "epoch": epoch, "train_loss": 1.5 / epoch,
                                "val_loss": 1.6 / epoch + 0.05, "score": 0.1 * SKILL[model] * epoch / 4,
                                "trial_id": trial_id})
    pd.DataFrame(runs).to_csv(folder / "final_runs.csv", index=False)
    pd.DataFrame(metrics).to_csv(folder / "final_metrics.csv", index=False)
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(history).to_csv(folder / "trial_history.csv", index=False)
    pd.DataFrame(columns=["dataset", "model", "stage", "reason"]).to_csv(folder / "failures.csv", index=False)
    (folder / "suite.yaml").write_text(yaml.safe_dump({"name": "tiny"}))
    (folder / "provenance.json").write_text(json.dumps({
        "created": "2026-12-04T12:00:00", "git": {"commit": "0123456789abcdef"},
        "datasets": {dataset: {"config": config, "notes": {"protocol": "inter-patient (de Chazal DS1/DS2)"}}},
    }))
    return folder
