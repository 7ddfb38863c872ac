"""Data-parallel shards: every rank's share of each global batch, and DDP's gradient against
one process's gradient on the same global batch (plain torch as the oracle)."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from ecgharness.training import parallel
from ecgharness.training.parallel import Shard, global_batches


def test_two_ranks_partition_every_global_batch() -> None:
    order = torch.randperm(103, generator=parallel.epoch_generator(3, 1))
    assert torch.equal(order, torch.randperm(103, generator=parallel.epoch_generator(3, 1)))  # same on every rank
    y = torch.zeros(103, dtype=torch.long)
    shares = [list(global_batches(order, 10, Shard(r, 2), y)) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) == 10  # the last global batch (3 examples) cannot give each rank 2
    for a, b in zip(*shares):
        assert abs(len(a.idx) - len(b.idx)) <= 1 and a.size == b.size == len(a.idx) + len(b.idx)
        assert abs(a.weight + b.weight - 1) < 1e-12
    seen = torch.cat([s.idx for rank in shares for s in rank])
    assert sorted(seen.tolist()) == sorted(order[:100].tolist())  # none twice, none dropped but the remainder
    one = list(global_batches(order, 10, Shard(0, 1), y))
    assert len(one) == 11 and torch.equal(torch.cat([b.idx for b in one]), order)  # one rank: every example


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def _rank(rank: int, port: int, x, y, weights, out) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    shard = Shard(rank, 2)
    model = _model()
    net = parallel.wrap(model, torch.device("cpu"), shard)
    batch = next(global_batches(torch.arange(len(y)), len(y), shard, y, weights))
    loss = nn.CrossEntropyLoss(weight=weights)(net(x[batch.idx]), y[batch.idx])
    (loss * (batch.weight * shard.world_size)).backward()  # as the training loop scales it
    out[rank] = [p.grad.clone() for p in model.parameters()]
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_gradient_equals_one_process_gradient_on_the_global_batch() -> None:
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(7, 6, generator=gen), torch.tensor([0, 0, 1, 2, 2, 2, 1])  # 7: shares of 4 and 3
    weights = torch.tensor([0.5, 2.0, 1.0])  # class-weighted: the shares' weight sums differ
    model = _model()
    nn.CrossEntropyLoss(weight=weights)(model(x), y).backward()
    oracle = [p.grad for p in model.parameters()]
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_rank, args=(_free_port(), x, y, weights, out), nprocs=2, join=True)
        for rank in range(2):
            for got, want in zip(out[rank], oracle):
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value, message", [(0, "workers_per_trial must be a whole number >= 1, got 0"),
                                            (1.5, "expected an integer, got 1.5")])
def test_workers_per_trial_must_be_a_whole_number_of_at_least_one(value, message) -> None:
    from ecgharness.benchmark.suite import parse_suite
    from ecgharness.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_suite({"name": "s", "datasets": ["synthetic"], "models": ["cnn_lstm"],
                     "resources": {"workers_per_trial": value}}, "s.yaml")


def test_a_multi_worker_trial_takes_its_workers_resources_from_the_slots() -> None:
    from ecgharness.benchmark.observers import ClusterInfo
    from ecgharness.benchmark.ray_session import trial_slots

    cluster = ClusterInfo("a", True, 1, {"CPU": 8.0, "GPU": 4.0}, True)
    assert trial_slots(cluster, 1, 0) == 8 and trial_slots(cluster, 1, 0, workers=2) == 4
    assert trial_slots(cluster, 1, 1, workers=2) == 2 and trial_slots(cluster, 1, 0.5, workers=2) == 4



class _Stop(Exception):
    pass


def _train_ranks(rank: int, port: int, root: str, stop_after: int, out) -> None:
    """Rank ``rank`` of a two-rank cnn_lstm run (checkpointed under ``root``); every rank stops
    once epoch ``stop_after`` is saved and reported."""
    from ecgharness.benchmark.checkpoints import CheckpointFile
    from ecgharness.datasets import load_dataset
    from ecgharness.training.config import TrainConfig
    from ecgharness.training.loop import train_model

    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    data = load_dataset("synthetic", {"n_per_class": 30, "length": 96, "noise": 0.5}, use_cache=False)
    config = {"lr": 3e-3, "batch_size": 16, "conv_width": 8, "lstm_hidden": 8, "dropout": 0.0}

    def report(row: dict) -> None:
        if row["epoch"] == stop_after:
            raise _Stop()

    saved = CheckpointFile(root, "t")
    try:
        outcome = train_model(data, "cnn_lstm", config, TrainConfig(max_epochs=4, patience=4, scheduler="plateau"),
                              seed=5, report=report, checkpoints=saved, shard=Shard(rank, 2),
                              evaluate_test=rank == 0)
        out[rank] = {"history": outcome.history, "restored": saved.restored_epoch,
                     "weights": outcome.weights, "test": outcome.test_scores}
    except _Stop:
        out[rank] = {"stopped": True}
    torch.distributed.destroy_process_group()


def _two_ranks(root, stop_after: int) -> dict:
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_train_ranks, args=(_free_port(), str(root), stop_after, out), nprocs=2, join=True)
        return dict(out)


@pytest.mark.slow
def test_a_two_rank_run_resumed_from_rank_0s_checkpoint_ends_as_the_uninterrupted_run(tmp_path) -> None:
    whole = _two_ranks(tmp_path / "whole", stop_after=0)
    assert _two_ranks(tmp_path / "resumed", stop_after=2) == {0: {"stopped": True}, 1: {"stopped": True}}
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["t.pt"]  # rank 0's only
    resumed = _two_ranks(tmp_path / "resumed", stop_after=0)
    for rank in (0, 1):  # both ranks went on from epoch 2 and trained the same epochs as without the stop
        assert resumed[rank]["restored"] == 2
        assert [r["epoch"] for r in resumed[rank]["history"]] == [1, 2, 3, 4]
        assert [r["train_loss"] for r in resumed[rank]["history"]] == [r["train_loss"] for r in whole[rank]["history"]]
        assert [r["score"] for r in resumed[rank]["history"]] == [r["score"] for r in whole[rank]["history"]]
    assert (resumed[0]["test"] == whole[0]["test"]).all()
    for name, value in whole[0]["weights"].items():
        assert (resumed[0]["weights"][name] == value).all(), name
