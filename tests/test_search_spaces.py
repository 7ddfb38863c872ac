"""Search-space compiler: packaged spaces compile and sample; bad entries get clear errors."""

from __future__ import annotations

import pytest
from ray.tune.search.sample import Categorical, Float, Integer

from ecgharness.errors import ConfigError
from ecgharness.search_spaces import load_search_space, parse_space, search_space_files
from ecgharness.training.config import TrainConfig, split_hyperparameters
from ecgmodels import create_model, list_models


@pytest.mark.parametrize("model", list_models())
def test_every_model_has_a_space_that_samples_buildable_configs(model: str) -> None:
    space = load_search_space(model)
    for key in ("lr", "batch_size", "weight_decay", "dropout"):
        assert key in space.params, f"{model} space lacks {key}"
    for seed in range(5):
        config = space.sample(seed)
        model_hp = split_hyperparameters(TrainConfig(), config).model
        create_model(model, num_classes=5, **model_hp)  # must not raise


def test_compiles_to_tune_domains_with_inclusive_randint() -> None:
    space = parse_space("rhythm_attention", {
        "lr": {"loguniform": [1e-4, 1e-2]},
        "batch_size": {"choice": [32, 64]},
        "dropout": {"uniform": [0.1, 0.5]},
        "layers": {"randint": [1, 3]},
        "heads": 4,
    }, "test")
    tune_space = space.to_tune()
    assert isinstance(tune_space["lr"], Float) and tune_space["lr"].lower == 1e-4
    assert isinstance(tune_space["batch_size"], Categorical) and tune_space["batch_size"].categories == [32, 64]
    assert isinstance(tune_space["layers"], Integer) and (tune_space["layers"].lower, tune_space["layers"].upper) == (1, 4)
    assert tune_space["heads"] == 4
    values = {space.sample(s)["layers"] for s in range(60)}
    assert values == {1, 2, 3}
    lrs = [space.sample(s)["lr"] for s in range(60)]
    assert all(1e-4 <= v <= 1e-2 for v in lrs)


@pytest.mark.parametrize("entries,message", [
    ({"lr": {"logunifrom": [1e-4, 1e-2]}}, "unknown distribution 'logunifrom'; valid: loguniform, uniform, choice, randint"),
    ({"lr": {"loguniform": [0, 1e-2]}}, "loguniform needs low > 0"),
    ({"dropout": {"uniform": [0.5, 0.1]}}, r"needs low < high, got \[0.5, 0.1\]"),
    ({"dropout": {"uniform": [0.1]}}, r"takes \[low, high\] numbers"),
    ({"lstm_hidden": {"choice": []}}, "choice needs at least one value"),
    ({"lstm_hidden": {"randint": [1.5, 3]}}, "randint takes integer bounds"),
    ({"lstm_hiden": {"choice": [32]}}, "'lstm_hiden' is neither .* valid keys: lr, batch_size, weight_decay, .*, conv_width, lstm_hidden"),
    ({"loss": {"choice": ["cross_entropy", "focall"]}}, "loss: 'focall' is not one of 'cross_entropy', 'focal'"),
    ({"augment_shift": {"uniform": [0, 5]}}, "augment_shift: expected an integer"),
    ({"lr": [1e-4, 1e-2]}, "expected a plain value or one of"),
])
def test_malformed_entries_are_rejected_by_name(entries: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_space("cnn_lstm", entries, "my_space.yaml")


def test_unknown_model_lists_valid_models() -> None:
    with pytest.raises(ConfigError, match="unknown model .cnn.; valid models: alexnet, beat_cnn_rr, bigru, .*, cnn_lstm, "):
        load_search_space("cnn")


def test_yaml_file_errors(tmp_path) -> None:
    bad = tmp_path / "space.yaml"
    bad.write_text("models: [cnn_lstm]\nspace: {lr: {loguniform: [1e-4, 1e-2]}\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_search_space("cnn_lstm", bad)
    bad.write_text("models: [cnn_lstm]\nspaces: {}\n")
    with pytest.raises(ConfigError, match="unknown key 'spaces'"):
        load_search_space("cnn_lstm", bad)


def test_packaged_files_cover_each_model_once() -> None:
    import yaml

    seen = []
    for path in search_space_files():
        seen += yaml.safe_load(path.read_text())["models"]
    assert sorted(seen) == sorted(list_models())
