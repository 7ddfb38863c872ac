"""From a model's declared input to the tensors it is fed, and which datasets can feed it.

signal -> (x,); signal+meta -> (x, meta); image -> (images,); signal+image -> (x, images).
Images (GAF/MTF) are computed from the signal batch by batch on the device, never stored.
A model that declares signal + metadata needs a dataset with metadata (:func:`compatible`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ecgharness.datasets.base import PreparedDataset
from ecgmodels import InputKind, model_info

InputFn = Callable[[torch.Tensor, "torch.Tensor | None"], tuple[torch.Tensor, ...]]


def input_fn(model: nn.Module, device: torch.device) -> InputFn:
    """A function (signal batch, metadata batch) -> positional inputs of ``model``."""
    kind = model.input_kind
    if kind == InputKind.SIGNAL:
        return lambda x, meta: (x,)
    if kind == InputKind.SIGNAL_META:
        def with_meta(x: torch.Tensor, meta: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
            if meta is None:
                raise ValueError(f"{type(model).__name__} takes metadata but the batch has none")
            return x, meta
        return with_meta
    from ecgmodels.layers.images import SignalToImage

    to_image = SignalToImage(tuple(model.image_kinds), model.image_size).to(device)
    if kind == InputKind.IMAGE:
        return lambda x, meta: (to_image(x),)
    return lambda x, meta: (x, to_image(x))


def compatible(model: str, dataset: PreparedDataset) -> str | None:
    """Why ``model`` cannot run on ``dataset``, or None when it can."""
    kind = model_info(model).input_kind
    if kind == InputKind.SIGNAL_META and not dataset.has_meta:
        return f"model {model!r} takes signal + patient metadata; dataset {dataset.name!r} has no metadata"
    return None  # image inputs are made from the signal on the trial's device


def check_compatible(model: str, dataset: PreparedDataset) -> None:
    """Raise ValueError when ``model`` cannot run on ``dataset``."""
    if compatible(model, dataset) is not None:
        raise ValueError(f"model {model!r} takes metadata but dataset {dataset.name!r} has none")
