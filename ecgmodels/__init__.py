"""ecgmodels: the ECG model zoo.

>>> from ecgmodels import create_model, list_models
>>> model = create_model("cnn_lstm", num_classes=5, in_channels=1)

Adding an architecture is one new file in this package that defines the model and
decorates its builders with :func:`register_model`; list it in ``_MODEL_MODULES``.
"""

from __future__ import annotations

import importlib

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.factory import create_model, list_models, model_info, register_model

_MODEL_MODULES = (
    "cnn_lstm",
    "rhythm_attention",
    "resnet_se",
    "resnet_se_bigru_meta",
    "beat_cnn_rr",
    "recurrent",
    "wang",
    "inception1d",
    "xresnet1d",
    "image_cnn",
    "joint_fusion",
)

for _module in _MODEL_MODULES:
    importlib.import_module(f"ecgmodels.{_module}")

__all__ = [
    "ECGModel",
    "InputKind",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
]
