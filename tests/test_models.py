"""Contract tests over every registered model, for the input each declares."""

from __future__ import annotations

import pytest
import torch

from ecgmodels import InputKind, create_model, list_models, model_info, register_model
from ecgmodels.registry import Registry

MODELS = list_models()
META = 13


def inputs(model, batch: int, in_channels: int, length: int) -> tuple[torch.Tensor, ...]:
    """Random inputs of the kind ``model`` declares."""
    kind = model.input_kind
    x = torch.randn(batch, in_channels, length)
    if kind == InputKind.SIGNAL_META:
        return x, torch.randn(batch, META)
    if kind in (InputKind.IMAGE, InputKind.SIGNAL_IMAGE):
        size = model.image_size
        images = torch.rand(batch, in_channels * len(model.image_kinds), size, size) * 2 - 1
        return (images,) if kind == InputKind.IMAGE else (x, images)
    return (x,)


def build(name: str, num_classes: int, in_channels: int = 1, **hparams):
    if model_info(name).input_kind in (InputKind.IMAGE, InputKind.SIGNAL_IMAGE):
        hparams.setdefault("image_size", 32)  # small images keep the CPU tests fast
    if model_info(name).input_kind == InputKind.SIGNAL_META:
        hparams["meta_features"] = META
    return create_model(name, num_classes=num_classes, in_channels=in_channels, **hparams)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("in_channels,length", [(1, 252), (12, 187)])
def test_output_shape_gradients_and_finiteness(name: str, in_channels: int, length: int) -> None:
    torch.manual_seed(0)
    model = build(name, 5, in_channels)
    for module in model.modules():  # zero-initialised norm scales (xresnet) would block gradients at init
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            torch.nn.init.ones_(module.weight)
    out = model(*inputs(model, 4, in_channels, length))
    assert out.shape == (4, 5)
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing}"
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, f"parameters whose gradient is exactly zero: {zero}"


@pytest.mark.parametrize("name", MODELS)
def test_features_then_head_equals_forward(name: str) -> None:
    torch.manual_seed(0)
    model = build(name, 3).eval()
    args = inputs(model, 2, 1, 200)
    z = model.forward_features(*args)
    assert z.shape == (2, model.num_features)
    torch.testing.assert_close(model.forward_head(z), model(*args))


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_model(name: str) -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = build(name, 4).eval()
        torch.manual_seed(8)
        outs.append(model(*inputs(model, 2, 1, 128)))
    torch.testing.assert_close(outs[0], outs[1])


def test_every_model_declares_its_input() -> None:
    kinds = {name: model_info(name).input_kind for name in MODELS}
    assert kinds["cnn_lstm"] == InputKind.SIGNAL
    assert kinds["resnet_se_bigru_meta"] == InputKind.SIGNAL_META
    assert kinds["resnet18"] == InputKind.IMAGE and kinds["joint_fusion"] == InputKind.SIGNAL_IMAGE
    model = build("vgg", 3, 12, images="gasf+mtf", image_size=64)
    assert model.image_kinds == ("gasf", "mtf") and model.image_size == 64


@pytest.mark.parametrize("name", [n for n in MODELS if model_info(n).input_kind.value != "signal+meta"])
def test_multilabel_head_shape(name: str) -> None:
    model = build(name, 7, 12).eval()
    assert model(*inputs(model, 3, 12, 250)).shape == (3, 7)


@pytest.mark.parametrize("attention", ["none", "channel", "spatial", "cbam"])
def test_image_attention_variants(attention: str) -> None:
    model = build("resnet18", 5, 1, attention=attention, width=8)
    assert model(*inputs(model, 2, 1, 100)).shape == (2, 5)
    with pytest.raises(ValueError, match="unknown attention 'cbm'"):
        build("alexnet", 5, 1, attention="cbm")


def test_unknown_model_names_valid_ones() -> None:
    with pytest.raises(KeyError) as err:
        create_model("cnn_lstn", num_classes=5)
    message = str(err.value)
    assert "cnn_lstn" in message and "Did you mean 'cnn_lstm'" in message and "resnet_se" in message


def test_unknown_hyperparameter_lists_valid_ones() -> None:
    with pytest.raises(TypeError, match="no hyperparameter 'hiden'.*lstm_hidden"):
        create_model("cnn_lstm", num_classes=5, hiden=3)


def test_registry_rejects_duplicates_and_positional_builders() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)
    with pytest.raises(ValueError, match="already registered"):
        register_model(_dup_cnn_lstm)
    with pytest.raises(TypeError, match="keyword-only"):
        register_model(_positional)


def _dup_cnn_lstm(*, num_classes: int):  # registered under the name of an existing model
    raise AssertionError


_dup_cnn_lstm.__name__ = "cnn_lstm"


def _positional(num_classes: int):
    raise AssertionError
