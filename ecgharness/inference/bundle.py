"""A kept model: the weights of a final run and everything needed to use them again.

Every final run of ``bench run`` stores ``weights/<dataset>__<model>__seed<k>.safetensors``
in its run folder (:func:`weights_path`) with a JSON file of the same stem holding the
model's name and constructor arguments, the trial's hyperparameters, the dataset's
preprocessing (its config, sampling rate, leads, window, the statistics fitted on the
training split, RR-feature settings), the class names, the validation thresholds of a
multi-label task and the test-time windows of the training config. :func:`load_bundle`
reads both without unpickling anything: tensors from safetensors, the rest from JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgharness.datasets.base import PreparedDataset
from ecgharness.errors import ConfigError
from ecgharness.leaderboard.store import BUNDLE_FORMAT, weights_file
from ecgharness.training import techniques, views
from ecgharness.training.config import TrainConfig, split_hyperparameters
from ecgharness.training.inputs import InputFn, input_fn
from ecgharness.training.loop import model_kwargs
from ecgmodels import InputKind, create_model

BUNDLE_VERSION = 1


@dataclass
class ModelBundle:
    """A trained model ready to score new examples.

    Attributes:
        model: The network, in eval mode, on CPU.
        model_name: Registered model name.
        dataset: Dataset it was trained on.
        seed: Seed of the final run.
        config: The trial's hyperparameters.
        task: ``multiclass`` or ``multilabel`` (as ``PreparedDataset.task``).
        class_names: Label names, index = class id.
        thresholds: Multi-label decision thresholds chosen on validation (None otherwise).
        preprocessing: Dataset name and config, sampling rate, leads, signal length, window,
            metadata names and the statistics fitted on the training split.
        test_time: Test-time windows of the training config (``window``/``stride`` in samples,
            ``aggregate``); empty when the model scores whole examples.
        view: What the model saw of each prepared example (``cut``: the sample range of a
            narrower beat window, ``zscore``: z-scored again, ``use_metadata``), see
            :mod:`ecgharness.training.views`.
        metadata: The whole JSON the bundle was loaded from.
    """

    model: torch.nn.Module
    model_name: str
    dataset: str
    seed: int
    config: dict
    task: str
    class_names: tuple[str, ...]
    thresholds: list[float] | None
    preprocessing: dict
    test_time: dict = field(default_factory=dict)
    view: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray, meta: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
        """Probabilities (n, classes) of examples ``x`` shaped like a prepared split's ``.x``
        (``meta`` like its ``.meta``): softmax over classes, or sigmoid per class (multi-label),
        through the model's input adapter (GAF/MTF images ...) and its test-time windows."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"examples must be (n, leads, samples), got shape {x.shape}")
        leads = self.preprocessing.get("in_channels")
        if leads is not None and x.shape[1] != leads:
            raise ValueError(f"examples have {x.shape[1]} lead(s); {self.model_name} was trained on {leads}")
        if self.takes_meta and meta is None:
            raise ValueError(f"{self.model_name} takes metadata ({', '.join(self.preprocessing['meta_names'])}) "
                             "beside the signal; pass meta")
        net = ProbabilityModel(self)
        out = []
        for i in range(0, len(x), batch_size):
            xb = torch.tensor(x[i : i + batch_size])
            args = (xb,) if not self.takes_meta else (xb, torch.tensor(np.asarray(meta[i : i + batch_size]),
                                                                        dtype=torch.float32))
            out.append(net(*args))
        if not out:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        return torch.cat(out).numpy()

    @property
    def takes_meta(self) -> bool:
        return self.model.input_kind == InputKind.SIGNAL_META


class ProbabilityModel(torch.nn.Module):
    """A bundle's network as one module from signals (and metadata) to probabilities: input
    adapter (GAF/MTF images), test-time windows and softmax/sigmoid included, so exported
    graphs compute exactly what :meth:`ModelBundle.predict_proba` does."""

    def __init__(self, bundle: ModelBundle, inputs: InputFn | None = None) -> None:
        super().__init__()
        self.model = bundle.model
        self.inputs = inputs or input_fn(bundle.model, torch.device("cpu"))
        self.multilabel = bundle.multilabel
        self.window = int(bundle.test_time.get("window", 0))
        self.stride = int(bundle.test_time.get("stride", 0))
        self.aggregate = bundle.test_time.get("aggregate", "max")
        self.cut = bundle.view.get("cut")  # the trial's beat window inside the prepared one
        self.zscore = bool(bundle.view.get("zscore"))
        self.use_metadata = bool(bundle.view.get("use_metadata", True))

    def forward(self, signal: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        if self.cut:
            signal = signal[..., self.cut[0] : self.cut[1]]
            if self.zscore:  # as the datasets and training.views z-score a window
                signal = techniques.zscore(signal)
        if meta is not None and not self.use_metadata:
            meta = meta * 0.0
        if self.window:
            windows = techniques.sliding_windows(signal, self.window, self.stride)
            n, w = windows.shape[:2]
            mw = None if meta is None else meta.repeat_interleave(w, dim=0)
            logits = self.model(*self.inputs(windows.reshape(n * w, *windows.shape[2:]), mw)).reshape(n, w, -1)
            return techniques.aggregate_windows(logits, self.multilabel, self.aggregate)
        logits = self.model(*self.inputs(signal, meta)).float()
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)


def weights_path(run_dir: Path, dataset: str, model: str, seed: int) -> Path:
    """Where the final run (``dataset``, ``model``, ``seed``) of ``run_dir`` keeps its weights."""
    return weights_file(run_dir, dataset, model, seed)


def preprocessing_of(ds: PreparedDataset) -> dict[str, Any]:
    """What a new record must go through to look like ``ds``'s examples (JSON-ready)."""
    return {
        "dataset": ds.name, "config": ds.config, "sampling_rate": ds.sampling_rate,
        "leads": list(ds.notes.get("leads") or ds.config.get("leads") or []),
        "in_channels": ds.in_channels, "signal_length": ds.signal_length,
        "meta_names": list(ds.meta_names), "fitted": ds.notes.get("fitted", {}),
        "protocol": ds.notes.get("protocol", ""), "scored_classes": ds.notes.get("scored_classes"),
    }


def bundle_metadata(ds: PreparedDataset, model_name: str, config: dict[str, Any], training: TrainConfig,
                    seed: int, thresholds: list[float] | None) -> dict[str, Any]:
    """The JSON kept beside a final run's weights: model, hyperparameters, preprocessing, labels."""
    settings = split_hyperparameters(training, config)
    loop, rate = settings.loop, ds.sampling_rate or 0
    test_time = {}
    if loop.tta_window_s > 0 and rate:
        _, (window, stride) = techniques.windows(ds.name, rate, loop)
        test_time = {"window_s": loop.tta_window_s, "window": window, "stride": stride,
                     "aggregate": loop.tta_aggregate}
    return {
        "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "model": model_name,
        "model_kwargs": model_kwargs(ds, model_name, settings), "dataset": ds.name, "seed": seed,
        "config": dict(config), "task": ds.task, "class_names": list(ds.class_names),
        "thresholds": None if thresholds is None else [float(t) for t in thresholds],
        "headline": ds.headline, "preprocessing": preprocessing_of(ds), "test_time": test_time,
        "view": view_of(ds, loop),
    }


def view_of(ds: PreparedDataset, loop: TrainConfig) -> dict[str, Any]:
    """The part of each prepared example the model was trained on (:mod:`ecgharness.training.views`):
    the cut of a wider beat window, z-scored again, and whether it saw the metadata."""
    view: dict[str, Any] = {"use_metadata": loop.use_metadata}
    window = ds.notes.get("beat_window")
    if loop.beat_context_s is not None and window and ds.sampling_rate:
        view["cut"] = list(views.window_bounds(window, ds.sampling_rate, loop.beat_context_s))
        view["zscore"] = bool(window.get("zscore"))
    return view


def load_bundle(path: Path) -> ModelBundle:
    """The model kept at ``path`` (the ``.safetensors`` file, or its ``.json``), loaded on CPU.

    Raises:
        FileNotFoundError: either file is missing.
        ConfigError: the JSON is not a bundle of a version this ecgharness reads, or the
            weights do not fit the model it describes.
    """
    from safetensors.torch import load_file

    path = Path(path)
    weights, meta_file = path.with_suffix(".safetensors"), path.with_suffix(".json")
    for file in (weights, meta_file):
        if not file.exists():
            raise FileNotFoundError(f"{file} not found: a kept model is a .safetensors file with a .json beside it "
                                    "(written by `bench run` into the run folder's weights/)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != BUNDLE_FORMAT or not isinstance(meta.get("version"), int):
        raise ConfigError(f"{meta_file} is not an ecgharness model bundle (format {meta.get('format')!r})")
    if meta["version"] > BUNDLE_VERSION:
        raise ConfigError(f"{meta_file} is a bundle of version {meta['version']}; this ecgharness reads up to "
                          f"version {BUNDLE_VERSION}: upgrade ecgharness")
    model = create_model(meta["model"], **meta["model_kwargs"])
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error type for anything else
        raise ConfigError(f"{weights} is not a safetensors file ({type(exc).__name__}: {exc}); kept weights "
                          "are never read from pickles") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"{weights} does not fit model {meta['model']!r} {meta['model_kwargs']}: {exc}") from None
    model.eval()
    return ModelBundle(
        model=model, model_name=meta["model"], dataset=meta["dataset"], seed=int(meta["seed"]),
        config=meta["config"], task=meta["task"], class_names=tuple(meta["class_names"]),
        thresholds=meta.get("thresholds"), preprocessing=meta["preprocessing"],
        test_time=meta.get("test_time") or {}, view=meta.get("view") or {}, metadata=meta,
    )
