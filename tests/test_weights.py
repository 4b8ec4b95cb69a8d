"""--weights with a local .h5 file: loaded by layer name, counted, refused when nothing matches."""

from __future__ import annotations

import pytest

import _models  # noqa: F401,I001  (puts the checkout on sys.path)
from pipeline.architectures import build_model
from pipeline.errors import ConfigError


def test_weights_of_the_same_architecture_load_every_layer(tmp_path, capsys):
    saved = build_model("cnn", 16, 3)
    path = tmp_path / "same.h5"
    saved.save_weights(str(path))
    model = build_model("cnn", 16, 3, weights=str(path))
    assert all((a == b).all() for a, b in zip(model.get_weights(), saved.get_weights()))
    err = capsys.readouterr().err
    assert "same.h5: weights loaded for" in err and "keep their initial values" not in err


def test_a_partial_match_says_how_many_layers_loaded(tmp_path, capsys):
    path = tmp_path / "three.h5"
    build_model("cnn", 16, 3).save_weights(str(path))
    build_model("cnn", 16, 5, weights=str(path))  # another head: the classifier cannot load
    err = capsys.readouterr().err
    assert "three.h5: weights loaded for" in err and "(the others keep their initial values)" in err


def test_weights_of_another_network_are_refused(tmp_path):
    from pipeline._tf import keras

    inputs = keras.Input((4,))
    other = keras.Model(inputs, keras.layers.Dense(2, name="unrelated")(inputs))
    path = tmp_path / "other.h5"
    other.save_weights(str(path))
    with pytest.raises(ConfigError, match=r"other.h5 matches no layer of .* \(0 of \d+ layers loaded"
                                          r" by name and shape\) - use weights saved from the same"):
        build_model("cnn", 16, 3, weights=str(path))
