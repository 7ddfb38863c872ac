"""Export a kept model to ONNX or TorchScript, checked against torch on real examples.

The exported graph is :class:`~ecgharness.inference.bundle.ProbabilityModel`: signals (and
metadata) in, probabilities out, with GAF/MTF images and test-time windows inside, and a
dynamic batch axis. ONNX files are written with torch's TorchScript-based exporter (opset
17) and run with onnxruntime on real test examples, at two batch sizes; the largest
absolute difference of probabilities from torch must stay within :data:`TOLERANCE`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ecgharness.errors import ConfigError
from ecgharness.inference.bundle import ModelBundle, ProbabilityModel
from ecgharness.training.inputs import InputFn
from ecgmodels import InputKind
from ecgmodels.layers.images import gramian_angular_field

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
OPSET = 17
FORMATS = ("onnx", "torchscript")


class ExportError(ConfigError):
    """The model cannot be exported in the asked format, or the export disagrees with torch."""


@dataclass(frozen=True)
class Exported:
    """An exported file and how closely it reproduces torch on real examples."""

    path: Path
    format: str
    examples: int
    max_abs_diff: float
    runtime: str  # what ran the exported file


def _inputs(bundle: ModelBundle, x: np.ndarray, meta: np.ndarray | None) -> tuple[torch.Tensor, ...]:
    signal = torch.tensor(np.asarray(x, dtype=np.float32))
    if not bundle.takes_meta:
        return (signal,)
    return signal, torch.tensor(np.asarray(meta, dtype=np.float32))


def _check(path: Path, fmt: str, runtime: str, reference: np.ndarray, got: np.ndarray) -> Exported:
    diff = float(np.max(np.abs(got - reference))) if reference.size else 0.0
    if not np.isfinite(diff) or diff > TOLERANCE:
        raise ExportError(f"{path}: {runtime} differs from torch by up to {diff:.3g} in probability "
                          f"(tolerance {TOLERANCE:g}); the exported file is not trustworthy")
    return Exported(path, fmt, len(reference), diff, runtime)


def _graph_images(bundle: ModelBundle) -> InputFn | None:
    """The model's GAF images computed out of place, which the ONNX exporter traces faithfully
    (None for models without images). MTF images are refused: their quantile binning needs
    ``searchsorted``, which no ONNX opset up to 17 has."""
    kinds = getattr(bundle.model, "image_kinds", None)
    if not kinds:
        return None
    if "mtf" in kinds:
        raise ExportError(f"cannot export {bundle.model_name} ({bundle.dataset}) to ONNX: its Markov Transition "
                          "Field images bin each signal by its quantiles with torch.searchsorted, which ONNX "
                          "(opset 17) cannot express. Use --format torchscript (the transform stays inside the "
                          "graph), or train a GASF/GADF image model for ONNX.")
    size = bundle.model.image_size

    def images(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([gramian_angular_field(x, size, "summation" if k == "gasf" else "difference")
                          for k in kinds], dim=1)

    if bundle.model.input_kind == InputKind.IMAGE:
        return lambda x, meta: (images(x),)
    return lambda x, meta: (x, images(x))


def export_onnx(bundle: ModelBundle, out: Path, x: np.ndarray, meta: np.ndarray | None = None) -> Exported:
    """Write ``out`` (.onnx) and compare onnxruntime with :meth:`ModelBundle.predict_proba` on
    ``x`` (real examples)."""
    import onnxruntime as ort

    net = ProbabilityModel(bundle, _graph_images(bundle)).eval()
    inputs = _inputs(bundle, x, meta)
    names = ["signal", "meta"][: len(inputs)]
    axes = {name: {0: "batch"} for name in [*names, "probabilities"]}
    example = tuple(t[: min(2, len(t))] for t in inputs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
            torch.onnx.export(net, example, str(out), input_names=names, output_names=["probabilities"],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    except Exception as exc:  # the exporter raises many types for operators it cannot express
        out.unlink(missing_ok=True)
        raise ExportError(_refusal(bundle, "ONNX", exc)) from None
    reference = bundle.predict_proba(x, meta)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    try:
        got = np.concatenate([session.run(None, {n: t[i : i + 64].numpy() for n, t in zip(names, inputs)})[0]
                              for i in range(0, len(inputs[0]), 64)])
        single = session.run(None, {n: t[:1].numpy() for n, t in zip(names, inputs)})[0]
    except Exception as exc:  # onnxruntime rejects graphs it cannot run
        raise ExportError(_refusal(bundle, "onnxruntime", exc)) from None
    result = _check(out, "onnx", f"onnxruntime {ort.__version__}", reference, got)
    return _check(out, "onnx", result.runtime, reference[:1], single) and result


def export_torchscript(bundle: ModelBundle, out: Path, x: np.ndarray, meta: np.ndarray | None = None) -> Exported:
    """Write ``out`` (.pt, TorchScript by tracing) and compare the reloaded module with torch on ``x``."""
    net = ProbabilityModel(bundle).eval()
    inputs = _inputs(bundle, x, meta)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(net, tuple(t[: min(2, len(t))] for t in inputs), check_trace=False)
            traced.save(str(out))
    except Exception as exc:
        out.unlink(missing_ok=True)
        raise ExportError(_refusal(bundle, "TorchScript", exc)) from None
    loaded = torch.jit.load(str(out))
    with torch.no_grad():
        reference, got = bundle.predict_proba(x, meta), loaded(*inputs).numpy()
    return _check(out, "torchscript", f"torch.jit {torch.__version__}", reference, got)


def _refusal(bundle: ModelBundle, target: str, exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    hint = " Try --format torchscript." if target != "TorchScript" else ""
    return f"cannot export {bundle.model_name} ({bundle.dataset}) to {target}: {type(exc).__name__}: {first}.{hint}"
