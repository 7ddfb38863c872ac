"""The PTB-XL benchmark's baselines have the reference's structure (Strodthoff et al. 2021,
code helme/ecg_ptbxl_benchmarking): parameter counts for 12 leads and 5 classes with the
benchmark's head, and the reference's order of weights and buffers, so its trained weights
would load in order."""

from __future__ import annotations

import pytest
import torch

from ecgmodels import create_model

# Counted from the reference architectures (12 leads, 5 classes, head: one hidden layer of 128).
REFERENCE_PARAMS = {
    "resnet1d_wang": 473_349,
    "fcn_wang": 309_765,
    "xresnet1d101": 1_872_261,
    "xresnet1d50": 953_989,
    "inception1d": 507_653,
    "lstm_bidir": 2_330_629,
    "lstm_ptbxl": 903_685,  # the benchmark's `lstm`: two unidirectional layers of 256 units
}


def bn(n: int) -> list[tuple[int, ...]]:
    """A BatchNorm's state: weight, bias, running mean, running variance, batches tracked."""
    return [(n,), (n,), (n,), (n,), ()]


def head(features: int, classes: int = 5) -> list[tuple[int, ...]]:
    """The benchmark's head after concat pooling: BN, Linear(128), BN, Linear(classes)."""
    return [*bn(features), (128, features), (128,), *bn(128), (classes, 128), (classes,)]


def shapes(name: str) -> list[tuple[int, ...]]:
    model = create_model(name, num_classes=5, in_channels=12)
    return [tuple(v.shape) for v in model.state_dict().values()]


@pytest.mark.parametrize("name, count", REFERENCE_PARAMS.items())
def test_parameter_counts_equal_the_reference(name: str, count: int) -> None:
    model = create_model(name, num_classes=5, in_channels=12)
    assert sum(p.numel() for p in model.parameters()) == count


def test_resnet1d_wang_weights_in_the_reference_order() -> None:
    block = [(128, 128, 5), *bn(128), (128, 128, 3), *bn(128)]
    shortcut = [(128, 128, 1), *bn(128)]  # blocks 2 and 3 downsample (stride 2)
    expected = [(128, 12, 7), *bn(128), *block, *block, *shortcut, *block, *shortcut, *head(256)]
    assert shapes("resnet1d_wang") == expected


def test_fcn_wang_weights_in_the_reference_order() -> None:
    expected = [(128, 12, 8), *bn(128), (256, 128, 5), *bn(256), (128, 256, 3), *bn(128), *head(256)]
    assert shapes("fcn_wang") == expected


def test_xresnet1d50_keeps_64_planes_in_every_stage() -> None:
    stem = [(32, 12, 5), *bn(32), (32, 32, 5), *bn(32), (64, 32, 5), *bn(64)]

    def bottleneck(in_ch: int) -> list[tuple[int, ...]]:
        convs = [(64, in_ch, 1), *bn(64), (64, 64, 5), *bn(64), (256, 64, 1), *bn(256)]
        return convs + ([(256, in_ch, 1), *bn(256)] if in_ch != 256 else [])  # avg-pool shortcuts have no weights

    expected = stem + bottleneck(64) + [s for _ in range(3 + 4 + 6 + 3 - 1) for s in bottleneck(256)] + head(512)
    assert shapes("xresnet1d50") == expected


def test_lstm_ptbxl_is_unidirectional_and_pools_mean_max_last() -> None:
    model = create_model("lstm_ptbxl", num_classes=5, in_channels=12).eval()
    assert not model.lstm.bidirectional and model.lstm.num_layers == 2 and model.lstm.hidden_size == 256
    x = torch.randn(3, 12, 50)
    seq, _ = model.lstm(x.transpose(1, 2))
    torch.testing.assert_close(model.forward_features(x), torch.cat([seq.mean(1), seq.amax(1), seq[:, -1]], 1))


def test_lstm_bidir_last_step_is_each_directions_final_step() -> None:
    model = create_model("lstm_bidir", num_classes=5, in_channels=12, hidden=8).eval()
    x = torch.randn(2, 12, 30)
    seq, (h, _) = model.lstm(x.transpose(1, 2))
    last = model.forward_features(x)[:, -16:]
    torch.testing.assert_close(last, torch.cat([h[-2], h[-1]], dim=1))  # final hidden state of each direction


def test_benchmark_convolutions_start_kaiming_normal() -> None:
    torch.manual_seed(0)
    conv = create_model("resnet1d_wang", num_classes=5, in_channels=12).blocks[0].conv1.weight
    fan_in = conv.shape[1] * conv.shape[2]
    assert abs(conv.std().item() - (2 / fan_in) ** 0.5) < 0.05 * (2 / fan_in) ** 0.5  # kaiming-uniform(a=sqrt 5) is 1/sqrt(3 fan_in)
