"""Training samples per second: the harness's loop vs a seed-style loop, same model, same data.

The harness's loop (:func:`ecgharness.training.loop.train_model`) keeps whole splits as
tensors on the device and draws each batch by indexing them; its class-weighted loss,
gradient clipping and (``--bf16``, on CUDA) bf16 autocast are what every trial runs. The
seed-style loop is the usual PyTorch recipe: a ``DataLoader`` over CPU tensors (shuffled,
batch 128, main process), each batch moved to the device, fp32, AdamW and cross-entropy.
Both train the same architecture with the same default hyperparameters on the same
seeded synthetic split; only training epochs are timed (the harness's ``_train_epoch``,
the body of every trial, against the seed loop's epochs), after one untimed warm-up epoch
each. On a CPU the default clock is the process's CPU time with one torch thread, so other
work on a shared machine does not enter the rates; ``--clock wall`` times elapsed seconds. The two loops take turns ``--repeats`` times and each keeps its
best rate, so a machine shared with other work disturbs the comparison less.

Usage: python benchmarks/throughput.py [--models cnn_lstm,resnet_se,resnet1d_wang]
       [--n 768] [--length 256] [--leads 1] [--epochs 2] [--repeats 2] [--device cpu|cuda] [--bf16] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ecgharness.datasets.base import PreparedDataset, Split
from ecgharness.training import loop
from ecgharness.training.config import TrainConfig, split_hyperparameters
from ecgharness.training.loop import model_kwargs, seed_everything
from ecgmodels import create_model

BATCH = 128
CLASSES = ("N", "S", "V")


def synthetic(n: int, leads: int, length: int, seed: int = 0) -> PreparedDataset:
    """Seeded 3-class signals: a class-specific bump over noise, on every lead."""
    rng = np.random.default_rng(seed)

    def split(count: int) -> Split:
        y = rng.integers(0, len(CLASSES), count)
        t = np.linspace(0, 1, length, dtype=np.float32)
        bump = np.exp(-((t[None, :] - (0.3 + 0.2 * y[:, None])) ** 2) / 0.002)
        x = bump[:, None, :] + rng.normal(0, 0.5, (count, leads, length))
        return Split(x.astype(np.float32), y.astype(np.int64))

    return PreparedDataset(name="throughput", config={}, class_names=CLASSES, headline="macro_f1",
                           splits={"train": split(n), "val": split(max(BATCH, n // 8))}, cache_key="")


def harness(ds: PreparedDataset, model: str, epochs: int, device: torch.device, bf16: bool, clock) -> float:
    """The harness's training epochs (its ``_build`` and ``_train_epoch``, what ``train_model`` runs)."""
    seed_everything(0)
    training = TrainConfig(max_epochs=epochs, patience=epochs, precision="bf16" if bf16 else "fp32")
    run = loop._build(ds, model, split_hyperparameters(training, {"batch_size": BATCH}), 0, device)
    loop._train_epoch(run)  # warm-up
    _sync(device)
    start, seen = clock(), 0
    for _ in range(epochs):
        seen += loop._train_epoch(run)[1]
    _sync(device)
    return seen / (clock() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seed_style(ds: PreparedDataset, model_name: str, epochs: int, device: torch.device, clock) -> float:
    seed_everything(0)
    settings = split_hyperparameters(TrainConfig(), {"batch_size": BATCH})
    model = create_model(model_name, **model_kwargs(ds, model_name, settings)).to(device)
    train = ds.splits["train"]
    loader = DataLoader(TensorDataset(torch.tensor(train.x), torch.tensor(train.y)), batch_size=BATCH,
                        shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.optimiser.lr)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> int:
        model.train()
        seen = 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
        return seen

    epoch()  # warm-up
    _sync(device)
    start, seen = clock(), 0
    for _ in range(epochs):
        seen += epoch()
    _sync(device)
    return seen / (clock() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnn_lstm,resnet_se,resnet1d_wang")
    parser.add_argument("--n", type=int, default=768, help="training examples")
    parser.add_argument("--length", type=int, default=256, help="samples per example")
    parser.add_argument("--leads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per loop (after one warm-up)")
    parser.add_argument("--repeats", type=int, default=2, help="turns of each loop; the best rate counts")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--bf16", action="store_true", help="harness loop in bf16 autocast (CUDA only)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: 1 with --clock cpu, else torch's)")
    parser.add_argument("--clock", default="cpu", choices=("cpu", "wall"),
                        help="cpu: the process's CPU seconds (steady on a shared machine); wall: elapsed time")
    args = parser.parse_args()
    device = torch.device(args.device)
    clock = time.process_time if args.clock == "cpu" and device.type == "cpu" else time.perf_counter
    if args.threads or clock is time.process_time:
        torch.set_num_threads(args.threads or 1)
    ds = synthetic(args.n, args.leads, args.length)
    steps = args.epochs * -(-args.n // BATCH)
    print(f"{args.n} examples x {args.leads} leads x {args.length} samples, batch {BATCH}, {steps} timed steps "
          f"per loop, best of {args.repeats}, device {device}, harness {'bf16' if args.bf16 and device.type == 'cuda' else 'fp32'}, "
          f"{torch.get_num_threads()} threads, {'CPU' if clock is time.process_time else 'wall'} seconds")
    print(f"{'model':<16}{'seed-style /s':>15}{'harness /s':>13}{'ratio':>8}")
    for model in args.models.split(","):
        seed = ours = 0.0
        for _ in range(args.repeats):
            seed = max(seed, seed_style(ds, model, args.epochs, device, clock))
            ours = max(ours, harness(ds, model, args.epochs, device, args.bf16, clock))
        print(f"{model:<16}{seed:>15.1f}{ours:>13.1f}{ours / seed:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
