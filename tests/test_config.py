"""Options: ranges, TOML < CLI precedence, and the exact messages users see."""

import pytest

from pipeline.config import (ConvertOptions, ModelOptions, PipelineConfig, PruneOptions,
                             TrainOptions, config_from_dict, load_config)
from pipeline.errors import ConfigError


@pytest.mark.parametrize("kwargs, message", [
    ({"final_sparsity": 1.0}, "prune.final_sparsity = 1.0 is out of range [0.0, 1.0)"),
    ({"final_sparsity": -0.1}, "prune.final_sparsity = -0.1 is out of range [0.0, 1.0)"),
    ({"epochs": 0}, "prune.epochs = 0 is out of range (0, 10000]"),
    ({"initial_sparsity": 0.9, "final_sparsity": 0.5}, "prune.initial_sparsity (0.9) is above"),
])
def test_prune_ranges(kwargs, message):
    with pytest.raises(ConfigError) as err:
        PruneOptions(**kwargs)
    assert str(err.value).startswith(message)


def test_boundaries_accepted():
    PruneOptions(initial_sparsity=0.0, final_sparsity=0.999)
    TrainOptions(epochs=1)


@pytest.mark.parametrize("epochs", [0, -3])
def test_epochs_must_be_positive(epochs):
    with pytest.raises(ConfigError, match=r"train.epochs = -?\d+ is out of range \(0, 10000\]"):
        TrainOptions(epochs=epochs)


def test_unknown_architecture_lists_known():
    with pytest.raises(ConfigError) as err:
        ModelOptions(architecture="resnet999")
    assert "model.architecture = 'resnet999' is not a known architecture" in str(err.value)
    assert "cnn" in err.value.fix and "mobilenet_v2" in err.value.fix


def test_unknown_variant():
    with pytest.raises(ConfigError, match="convert variant 'int4' is unknown"):
        ConvertOptions(variants=("int4",))


def test_bad_name():
    with pytest.raises(ConfigError, match="cannot name a model folder"):
        PipelineConfig(name="../evil")


def test_toml_then_cli(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('name = "flowers"\n[train]\nepochs = 7\nbatch_size = 16\n'
                    '[validate]\nthreads = [1]\n')
    cfg = load_config(toml, {"train.epochs": "3", "prune.final_sparsity": None})
    assert cfg.name == "flowers"
    assert cfg.train.epochs == 3          # CLI wins (and strings are coerced)
    assert cfg.train.batch_size == 16     # file beats default
    assert cfg.prune.final_sparsity == PruneOptions().final_sparsity  # None falls through
    assert cfg.validate.threads == (1,)


def test_unknown_key_in_file(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text("[train]\nepoch = 7\n")
    with pytest.raises(ConfigError, match=r"unknown option 'train.epoch' in .*p.toml"):
        load_config(toml)


def test_not_a_number():
    with pytest.raises(ConfigError, match="train.epochs = 'many' is not a number"):
        load_config(None, {"train.epochs": "many"})


def test_invalid_toml(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text("[train\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(toml)


def test_round_trip_through_dict():
    cfg = PipelineConfig.quick(name="x")
    assert config_from_dict(cfg.to_dict()) == cfg
