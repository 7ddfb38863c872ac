"""An exported ONNX file as a predictor: onnxruntime for the network, the bundle JSON that
`bench export` writes beside it for the preprocessing and the labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ecgharness.errors import ConfigError
from ecgharness.leaderboard.store import BUNDLE_FORMAT


class OnnxModel:
    """Scores examples with onnxruntime; the same attributes as a ModelBundle that predict needs."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        path = Path(path)
        meta_file = path.with_suffix(".json")
        if not path.exists() or not meta_file.exists():
            raise FileNotFoundError(f"{path} and {meta_file} are needed: `bench export` writes both")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != BUNDLE_FORMAT:
            raise ConfigError(f"{meta_file} is not the bundle JSON of an exported model")
        self.path, self.metadata = path, meta
        self.model_name, self.dataset, self.task = meta["model"], meta["dataset"], meta["task"]
        self.class_names = tuple(meta["class_names"])
        self.thresholds = meta.get("thresholds")
        self.preprocessing = meta["preprocessing"]
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.takes_meta = len(self.session.get_inputs()) > 1

    def predict_proba(self, x: np.ndarray, meta: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        out = []
        for i in range(0, len(x), batch_size):
            feed = {"signal": x[i : i + batch_size]}
            if self.takes_meta:
                feed["meta"] = np.asarray(meta[i : i + batch_size], dtype=np.float32)
            out.append(self.session.run(None, feed)[0])
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)
