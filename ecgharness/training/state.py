"""What a training run holds between epochs, and its checkpoint: everything needed to go on
from the end of an epoch as if the run had never stopped.

A checkpoint is a plain dictionary of tensors, numbers, strings and lists (no pickled
objects), so it loads with ``torch.load(weights_only=True)``. It holds the model, the
optimiser, the learning-rate schedule, every random state the loop draws from (its batch
generator, torch's global generator for dropout, numpy's and Python's), and the run's
progress (:class:`LoopState`: epoch, best score and weights so far, patience count, history).
"""

from __future__ import annotations

import copy
import io
import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ecgharness.config import plain

CHECKPOINT_VERSION = 1


class Checkpoints(Protocol):
    """Where a run keeps its checkpoint: :meth:`load` returns the last one saved (None when
    there is none) and :meth:`save` replaces it."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...


@dataclass
class LoopState:
    """The progress of a training run after ``epoch`` epochs."""

    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    best_val: dict[str, float] = field(default_factory=dict)
    stale: int = 0
    train_time: float = 0.0
    seen: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def improved(self, score: float, epoch: int, metrics: dict[str, float], model: nn.Module) -> None:
        """Count the epoch's validation ``score``: a new best keeps a copy of the weights."""
        if score > self.best_score:
            self.best_score, self.best_epoch, self.best_val, self.stale = score, epoch, metrics, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1


def _numpy_rng() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_rng(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["name"], keys, state["pos"], state["has_gauss"], state["gauss"]))


def _python_rng() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_python_rng(state: list) -> None:
    random.setstate((state[0], tuple(state[1]), state[2]))


def snapshot(progress: LoopState, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
             generator: torch.Generator) -> dict[str, Any]:
    """The checkpoint of a run at the end of ``progress.epoch``."""
    rng = {"generator": generator.get_state(), "torch": torch.get_rng_state(), "numpy": _numpy_rng(),
           "python": _python_rng()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "version": CHECKPOINT_VERSION,
        "epoch": progress.epoch, "best_score": progress.best_score, "best_epoch": progress.best_epoch,
        "best_state": progress.best_state, "best_val": plain(progress.best_val), "stale": progress.stale,
        "train_time": progress.train_time, "seen": progress.seen, "history": [plain(r) for r in progress.history],
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(), "rng": rng,
    }


def restore(state: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
            generator: torch.Generator, what: str = "checkpoint") -> LoopState:
    """Put ``state`` back into the run's objects; the progress to go on from."""
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{what} has checkpoint version {state.get('version')!r}, this version reads "
                         f"{CHECKPOINT_VERSION}; delete it to start the trial afresh")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    generator.set_state(rng["generator"])
    torch.set_rng_state(rng["torch"])
    _set_numpy_rng(rng["numpy"])
    _set_python_rng(rng["python"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return LoopState(epoch=int(state["epoch"]), best_score=float(state["best_score"]),
                     best_epoch=int(state["best_epoch"]), best_state=state["best_state"],
                     best_val=dict(state["best_val"]), stale=int(state["stale"]),
                     train_time=float(state["train_time"]), seen=int(state["seen"]),
                     history=[dict(r) for r in state["history"]])


def to_bytes(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def from_bytes(data: bytes, what: str) -> dict[str, Any]:
    """A checkpoint read back without unpickling code (a damaged file names itself and the fix)."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any damage reads the same to the user
        raise ValueError(f"{what} cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
                         "delete it to start the trial afresh") from exc
