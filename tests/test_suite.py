"""Suite YAML parsing, overrides and validation errors."""

from __future__ import annotations

import pytest

from ecgharness.benchmark.suite import list_suites, load_suite, parse_suite, with_overrides
from ecgharness.errors import ConfigError


def test_packaged_suites_load() -> None:
    assert {"quick", "mitbih"} <= set(list_suites())
    quick = load_suite("quick")
    assert [d.name for d in quick.datasets] == ["mitbih_sample"]
    assert [m.name for m in quick.models] == ["cnn_lstm", "rhythm_attention", "resnet_se"]
    assert quick.final.seeds == (0, 1, 2)


def test_suite_spaces_apply_however_the_model_is_selected() -> None:
    suite = with_overrides(load_suite("quick"), models=["all"])
    spaces = {m.name: m.space for m in suite.models}
    assert spaces["xresnet1d101"]["width"] == 8 and spaces["resnet_se"]["blocks_per_stage"] == 1
    only = with_overrides(load_suite("quick"), models=["vgg"])
    assert only.models[0].space["image_size"] == 32


def test_overrides_apply_and_all_expands() -> None:
    suite = with_overrides(load_suite("quick"), models=["all"], num_samples=2, max_epochs=3, seeds=[5])
    from ecgmodels import list_models

    assert sorted(m.name for m in suite.models) == list_models()
    assert suite.search.num_samples == 2 and suite.training.max_epochs == 3 and suite.final.seeds == (5,)


@pytest.mark.parametrize("data,message", [
    ({"datasets": ["mitbih_sample"], "models": ["cnn_lstm"], "serach": {}}, "unknown key 'serach'; valid keys: name"),
    ({"datasets": ["mitbih_sample"], "models": ["cnn_lstm"], "search": {"num_sample": 3}},
     "search: unknown key 'num_sample'; valid keys: num_samples"),
    ({"datasets": ["mitbih_sampel"], "models": ["cnn_lstm"]}, "unknown dataset 'mitbih_sampel'. Did you mean 'mitbih_sample'"),
    ({"datasets": ["mitbih_sample"], "models": ["lstm_cnn"]}, "unknown model 'lstm_cnn'"),
    ({"datasets": [{"name": "mitbih", "config": {"split": "random"}}], "models": ["cnn_lstm"]},
     "split: 'random' is not one of 'interpatient', 'intrapatient'"),
    ({"datasets": [{"name": "mitbih", "config": {"val_records": [100]}}], "models": ["cnn_lstm"]},
     r"val_records \[100\] are not DS1 records"),
    ({"datasets": ["mitbih_sample"], "models": ["cnn_lstm"], "training": {"max_epochs": "ten"}},
     "training.max_epochs: expected an integer"),
    ({"datasets": ["mitbih_sample"], "models": [{"name": "cnn_lstm", "space": {"lr": {"uniform": [1, 0]}}}]},
     "needs low < high"),
    ({"models": ["cnn_lstm"]}, "'datasets' is required"),
    ({"datasets": ["mitbih_sample"], "models": ["cnn_lstm"], "search": {"time_budget_s": 0}},
     "time_budget_s must be positive seconds"),
    ({"datasets": ["mitbih_sample"], "models": ["cnn_lstm"], "spaces": {"cnn_lstn": {}}},
     "spaces: unknown model 'cnn_lstn'"),
    ({"datasets": ["mitbih_sample"], "models": ["cnn_lstm"], "resources": {"max_failures": -1}},
     "resources: max_failures must be a whole number >= 0, got -1"),
])
def test_invalid_suites_name_the_problem(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_suite(data, "my_suite.yaml")


def test_unknown_suite_and_bad_yaml(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown suite 'quik'; valid suites: .*quick"):
        load_suite("quik")
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [mitbih_sample\nmodels: [cnn_lstm]\n")
    with pytest.raises(ConfigError, match=f"{bad}: invalid YAML"):
        load_suite(str(bad))


def test_incompatible_pairs_are_refused_naming_both() -> None:
    from ecgharness.training.inputs import compatible
    from ecgharness.datasets import load_dataset

    sample = load_dataset("mitbih_sample", {"rr_features": False})  # beats without their RR features
    reason = compatible("resnet_se_bigru_meta", sample)
    assert reason == ("model 'resnet_se_bigru_meta' takes signal + patient metadata; "
                      "dataset 'mitbih_sample' has no metadata")
    assert compatible("cnn_lstm", sample) is None
    assert compatible("alexnet", sample) is None and compatible("joint_fusion", sample) is None  # images from the signal
    assert compatible("resnet_se_bigru_meta", load_dataset("mitbih_sample")) is None  # RR features as metadata
