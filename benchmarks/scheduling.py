"""Slot utilisation of a suite: pair after pair (one Tune experiment per pair, final seeds
after every search) vs the one schedule (every pair in one experiment, a pair's final seeds as
soon as its search ends).

The trials are stand-ins that sleep for each epoch (uneven: every pair has its own epoch time
and a trial's time grows with one of its sampled values), so the figures measure scheduling only; they
go through the harness's real searcher (one Optuna study per pair), scheduler (ASHA per pair)
and Tune callbacks. Final seeds are Ray tasks of the same size that sleep for the full number
of epochs. A slot is busy from the moment a trial or final task starts its work until it
returns; utilisation = busy slot-seconds / (slots x wall time). The wall time includes the
start-up of the Tune experiment and of the trials' worker processes (they import torch), a
fixed cost that weighs on a suite of minutes and not on one of hours; the last line leaves it out.

Usage: python benchmarks/scheduling.py [--pairs 6] [--trials 8] [--slots 4] [--epoch-s 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ray import tune

from ecgharness.benchmark.multiplex import Budgets, PairSearch, hyperparameters, pair_of
from ecgharness.benchmark.observers import Observers, Pair
from ecgharness.benchmark.schedule import run_schedule
from ecgharness.leaderboard.store import RunWriter
from ecgharness.search_spaces.compiler import parse_space

MODELS = ("cnn_lstm", "resnet_se", "gru", "bigru", "lstm", "bilstm", "rhythm_attention", "fcn_wang")
SPACE = {"lr": {"loguniform": [1.0e-4, 1.0e-2]}, "weight_decay": {"uniform": [0.0, 0.5]}}


def sleepy_trial(config: dict, epoch_s: dict, max_epochs: int, log: str) -> None:
    """A stand-in trial: sleeps per epoch, reports a score that depends on its config."""
    start, key, hp = time.time(), pair_of(config), hyperparameters(config)
    best = 0.0
    try:
        for epoch in range(1, max_epochs + 1):
            time.sleep(epoch_s[key] * (0.5 + hp["weight_decay"] * 2))
            score = 1.0 - abs(hp["lr"] - 1e-3) * 50 - 0.5 / epoch
            best = max(best, score)
            tune.report({"epoch": epoch, "score": score, "best_score": best})
    finally:
        with open(log, "a") as f:
            f.write(f"{start} {time.time()}\n")


def sleepy_final(seconds: float, log: str) -> None:
    start = time.time()
    time.sleep(seconds)
    with open(log, "a") as f:
        f.write(f"{start} {time.time()}\n")


def searches(pairs: int, trials: int, max_epochs: int) -> list[PairSearch]:
    out = []
    for i in range(pairs):
        model = MODELS[i % len(MODELS)]
        pair = Pair(f"ds{i // len(MODELS)}", model)
        out.append(PairSearch(pair, parse_space(model, SPACE, "benchmark"), trials, max_concurrent=2, seed=i,
                              grace_period=1, reduction_factor=2, max_epochs=max_epochs, headline="score"))
    return out


def run(mode: str, plan: list[PairSearch], args: argparse.Namespace, folder: Path) -> tuple[float, float, float]:
    """Wall seconds, busy slot-seconds and seconds until the first trial started, of the suite
    in ``mode`` (sequential or schedule)."""
    import ray

    log = str(folder / f"{mode}.log")
    epoch_s = {s.key: args.epoch_s * (0.5 + 1.5 * i / max(1, len(plan) - 1)) for i, s in enumerate(plan)}
    trainable = tune.with_resources(tune.with_parameters(sleepy_trial, epoch_s=epoch_s, max_epochs=args.max_epochs,
                                                         log=log), {"cpu": 1})
    final = ray.remote(sleepy_final).options(num_cpus=1)
    writer = RunWriter(folder / mode, "bench")
    (folder / mode).mkdir()
    pending = []

    def submit(pair: Pair, best) -> None:
        if best is not None:
            seconds = epoch_s[pair.label] * args.max_epochs
            pending.extend(final.remote(seconds, log) for _ in range(args.seeds))

    start, started = time.perf_counter(), time.time()
    if mode == "schedule":
        run_schedule(plan, trainable, storage=str(folder / "tune"), name=mode, writer=writer, observers=Observers(),
                     budgets=Budgets(plan), on_searched=submit, slots=args.slots)
    else:  # today's path: one experiment per pair, one after another, then every final seed
        held = []
        for i, s in enumerate(plan):
            run_schedule([s], trainable, storage=str(folder / "tune"), name=f"{mode}{i}", writer=writer,
                         observers=Observers(), budgets=Budgets([s]), on_searched=lambda p, b: held.append((p, b)),
                         slots=args.slots)
        for pair, best in held:
            submit(pair, best)
    ray.get(pending)
    wall = time.perf_counter() - start
    spans = [(float(a), float(b)) for a, b in (line.split() for line in Path(log).read_text().splitlines())]
    return wall, sum(b - a for a, b in spans), min(a for a, _ in spans) - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=2, help="final seeds per pair")
    parser.add_argument("--epoch-s", type=float, default=1.0, help="mean seconds of a stand-in epoch")
    args = parser.parse_args()
    import ray

    ray.init(address="local", num_cpus=args.slots, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    plan = searches(args.pairs, args.trials, args.max_epochs)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("sequential", "schedule"):
            rows[mode] = run(mode, plan, args, Path(tmp))
    ray.shutdown()
    print(f"{args.pairs} pairs x {args.trials} trials (ASHA grace 1, reduction 2, {args.max_epochs} epochs, "
          f"2 per pair at once), {args.seeds} final seeds per pair, {args.slots} slots")
    (w0, b0, f0), (w1, b1, f1) = rows["sequential"], rows["schedule"]
    u0, u1 = b0 / (args.slots * w0), b1 / (args.slots * w1)
    v0, v1 = b0 / (args.slots * (w0 - f0)), b1 / (args.slots * (w1 - f1))
    print(f"{'':<34}{'pair after pair':>16}{'one schedule':>14}{'ratio':>8}")
    print(f"{'wall time (s)':<34}{w0:>16.1f}{w1:>14.1f}{w0 / w1:>7.2f}x")
    print(f"{'busy slot-seconds':<34}{b0:>16.1f}{b1:>14.1f}")
    print(f"{'slot utilisation':<34}{u0:>16.2f}{u1:>14.2f}{u1 / u0:>7.2f}x")
    print(f"{'  start-up: first trial after (s)':<34}{f0:>16.1f}{f1:>14.1f}")
    print(f"{'  utilisation after start-up':<34}{v0:>16.2f}{v1:>14.2f}{v1 / v0:>7.2f}x")


if __name__ == "__main__":
    main()
