"""Model registry: builders registered by name, created with keyword hyperparameters."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from ecgmodels.base import ECGModel, InputKind
from ecgmodels.registry import Registry

Builder = Callable[..., ECGModel]

MODELS: Registry[Builder] = Registry("model")

# Arguments every builder takes; the rest of its keyword arguments are hyperparameters.
_STRUCTURAL = ("num_classes", "in_channels", "meta_features")


def register_model(builder: Builder | None = None, *, fixed: tuple[str, ...] = ()) -> Any:
    """Register a keyword-only model builder under its function name.

    Use bare (``@register_model``) or with ``fixed`` naming the model-class arguments the
    builder sets itself (``@register_model(fixed=("cell",))``), which are then not
    hyperparameters. The builder's return annotation must be an :class:`ECGModel`
    subclass: it tells the harness the input the model declares before anything is built.
    """

    def decorator(fn: Builder) -> Builder:
        params = inspect.signature(fn).parameters
        positional = [
            p.name for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if positional:
            raise TypeError(f"model builder {fn.__name__} must be keyword-only, got {positional}")
        if "num_classes" not in params:
            raise TypeError(f"model builder {fn.__name__} must take num_classes")
        fn.__ecg_fixed__ = tuple(fixed)  # type: ignore[attr-defined]
        return MODELS.register()(fn)

    return decorator(builder) if builder is not None else decorator


@dataclass(frozen=True)
class ModelInfo:
    """What the harness needs to know about a registered model without building it."""

    name: str
    input_kind: InputKind
    hyperparameters: dict[str, Any]  # name -> default
    doc: str


def model_info(name: str) -> ModelInfo:
    """Input kind and hyperparameters (with defaults) of a registered model.

    Hyperparameters are the builder's keyword-only arguments and, when the builder
    forwards ``**hparams``, the keyword arguments of the model class it returns.
    """
    builder = MODELS.get(name)
    sig = inspect.signature(builder)
    model_cls = sig.return_annotation
    if isinstance(model_cls, str):  # postponed annotations
        model_cls = builder.__globals__[model_cls]
    hparams: dict[str, Any] = {}
    params = sig.parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        fixed = getattr(builder, "__ecg_fixed__", ())
        for p in inspect.signature(model_cls.__init__).parameters.values():
            if p.name not in ("self", *_STRUCTURAL, *fixed) and p.default is not p.empty:
                hparams[p.name] = p.default
    for p in params:
        if p.name not in _STRUCTURAL and p.kind == p.KEYWORD_ONLY:
            hparams[p.name] = p.default
    doc = inspect.getdoc(builder) or ""
    return ModelInfo(name, model_cls.input_kind, hparams, doc.splitlines()[0] if doc else "")


def create_model(
    name: str, *, num_classes: int, in_channels: int = 1, meta_features: int | None = None, **hparams: Any
) -> ECGModel:
    """Build the registered model ``name``.

    ``meta_features`` is the width of the metadata vector, for models whose input is
    signal + metadata.

    Raises:
        KeyError: unknown model name (the message lists the valid ones).
        TypeError: a hyperparameter the builder does not take (the message lists the valid ones).
    """
    builder = MODELS.get(name)
    valid = model_info(name).hyperparameters
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise TypeError(
            f"model {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(sorted(valid)) or '(none)'}"
        )
    if meta_features is not None:
        hparams["meta_features"] = meta_features
    return builder(num_classes=num_classes, in_channels=in_channels, **hparams)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, optionally filtered by a glob such as ``"resnet*"``."""
    return MODELS.names(pattern)
