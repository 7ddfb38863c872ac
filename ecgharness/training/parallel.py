"""Data-parallel training: how the ranks of one trial share each epoch (no Ray here).

A trial trained by several workers (processes of one ``torch.distributed`` group, set up by
whoever started them) runs the same loop on every rank. What keeps the ranks in step:

- Every rank draws the same epoch order, from a generator seeded with the run's seed and the
  epoch number (:func:`epoch_generator`), so no rank depends on what another has drawn before.
- Each global batch (the trial's ``batch_size`` examples of that order) is split into
  ``world_size`` consecutive shares whose sizes differ by at most one (:func:`global_batches`);
  rank ``r`` trains on share ``r``. Remainder rule: the last global batch of an epoch is
  trained on when every rank gets at least two examples of it (BatchNorm needs two) and is
  dropped on every rank otherwise, so a batch is skipped by all ranks or by none; one rank
  reproduces the one-worker rule (a last batch of one example is dropped).
- Each rank's loss is scaled by its share of the global batch's normalisation (examples, or
  the class weights of a class-weighted loss), so DDP's gradient average is the gradient of
  the global batch's loss, exactly what one process would compute on the whole batch
  (BatchNorm statistics excepted: each rank normalises its own share, as DDP does by default).
- Only rank 0 checkpoints (DDP keeps every rank's weights and optimiser state equal to rank
  0's); every rank goes on from that checkpoint, and a rank above 0 then reseeds its own
  draws (:func:`reseed`), so every rank resumes at the same epoch.
- Validation runs on the whole validation split on every rank, with the identical weights DDP
  keeps, and rank 0's score is broadcast (:meth:`Shard.agree`), so early stopping, the best
  epoch and the schedulers decide the same on every rank and no rank leaves the loop alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

MIN_PER_RANK = 2  # BatchNorm cannot train on a single example


@dataclass(frozen=True)
class Shard:
    """Which rank of how many this process is.

    Attributes:
        rank: This process's rank in the default process group.
        world_size: Ranks training the trial together.
    """

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} of world size {self.world_size} is not a valid shard")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def agree(self, value: float, device: torch.device) -> float:
        """Rank 0's ``value`` on every rank (``value`` itself for one rank)."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        torch.distributed.broadcast(tensor, src=0)
        return float(tensor.item())

    def total(self, value: torch.Tensor) -> torch.Tensor:
        """The sum of ``value`` over all ranks (a new tensor)."""
        value = value.detach().clone()
        if self.distributed:
            torch.distributed.all_reduce(value)
        return value


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator every rank draws epoch ``epoch``'s order from."""
    return torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + epoch)


def rank_seed(seed: int, rank: int) -> int:
    """Seed of a rank's own random draws (augmentation, crops): rank 0 keeps ``seed``."""
    return seed + 7919 * rank


def reseed(generator: torch.Generator, seed: int, rank: int, epoch: int) -> None:
    """Seed a rank's own draws (``generator`` and torch's) for the epochs after ``epoch``: a
    rank above 0 that goes on from rank 0's checkpoint draws from a seed of its own again."""
    value = rank_seed(seed, rank) * 1_000_003 + epoch
    generator.manual_seed(value)
    torch.manual_seed(value)


@dataclass(frozen=True)
class Batch:
    """One rank's share of one global batch.

    Attributes:
        idx: The rank's examples.
        weight: The rank's part of the global batch's loss normalisation (the shares of all
            ranks sum to 1); the global loss is the sum over ranks of ``weight`` x the rank's
            mean loss.
        size: Examples in the global batch.
    """

    idx: torch.Tensor
    weight: float
    size: int


def _normaliser(y: torch.Tensor, class_weights: torch.Tensor | None) -> torch.Tensor:
    """What a mean-reduced loss divides by: the examples, or their class weights' sum."""
    if class_weights is not None and y.ndim == 1:
        return class_weights[y].sum()
    return torch.tensor(float(len(y)))


def global_batches(order: torch.Tensor, batch_size: int, shard: Shard, y: torch.Tensor,
                   class_weights: torch.Tensor | None = None) -> Iterator[Batch]:
    """This rank's share of each global batch of ``order`` (see the module's remainder rule).

    Args:
        order: The epoch's example order (the same on every rank).
        batch_size: Examples per global batch.
        shard: This rank.
        y: Labels of the training split (for class-weighted normalisation).
        class_weights: Per-class loss weights of a class-weighted single-label loss, or None.
    """
    for start in range(0, len(order), batch_size):
        gidx = order[start:start + batch_size]
        if len(gidx) < MIN_PER_RANK * shard.world_size:
            continue
        idx = torch.tensor_split(gidx, shard.world_size)[shard.rank]
        weight = 1.0
        if shard.distributed:
            weight = float(_normaliser(y[idx], class_weights) / _normaliser(y[gidx], class_weights))
        yield Batch(idx, weight, len(gidx))


def wrap(model: nn.Module, device: torch.device, shard: Shard) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when several ranks train it."""
    if not shard.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return DistributedDataParallel(model, device_ids=ids)
