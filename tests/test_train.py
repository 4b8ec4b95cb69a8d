"""The training recipe (augmentation, schedule, early stopping, class weights), pruning with
BatchNorm, and pretrained backbones through keras.applications' weight files: on tiny data."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipeline.config import ModelOptions, PruneOptions, TrainOptions
from pipeline.data import Dataset
from pipeline.errors import ConfigError
from pipeline.feed import AUGMENT, Augmentation, augment
from pipeline.train import class_weights, lr_at


def _blobs(size=16, per_class=24, classes=3, seed=0) -> Dataset:
    """Learnable tiny data: class c is a bright square in corner c of a dark noisy image."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=(per_class * classes, size, size, 3)).astype(np.uint8)
    y = np.repeat(np.arange(classes), per_class)
    half = size // 2
    for i, c in enumerate(y):
        r0, c0 = (c // 2) * half, (c % 2) * half
        x[i, r0:r0 + half, c0:c0 + half] = rng.integers(180, 255)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    n = len(y)
    a, b = int(n * 0.6), int(n * 0.8)
    return Dataset(("a", "b", "c")[:classes], x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:],
                   source="test blobs", fingerprint="blobs")


# ---------------------------------------------------------------------------------------------
# Pure numpy parts.

def test_augment_is_deterministic_and_in_range():
    images = np.random.default_rng(1).integers(0, 256, size=(6, 20, 20, 3)).astype(np.uint8)
    a = augment(images, AUGMENT["strong"], False, np.random.default_rng(7))
    b = augment(images, AUGMENT["strong"], False, np.random.default_rng(7))
    c = augment(images, AUGMENT["strong"], False, np.random.default_rng(8))
    assert a.shape == images.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 255.0
    assert np.array_equal(augment(images, AUGMENT["none"], False, np.random.default_rng(0)),
                          images.astype(np.float32))


def test_flip_only_when_asked():
    img = np.zeros((1, 8, 8, 3), np.uint8)
    img[0, :, :2] = 255  # a bar on the left
    rng = np.random.default_rng(0)
    flipped = [augment(img, Augmentation(), True, rng)[0] for _ in range(20)]
    assert any(f[:, -2:].mean() > 200 for f in flipped)  # some copies mirrored
    assert any(f[:, :2].mean() > 200 for f in flipped)  # some not
    light = [augment(img, AUGMENT["light"], False, rng)[0] for _ in range(20)]
    assert all(f[:, :3].mean() > f[:, -3:].mean() for f in light)  # never mirrored


def test_class_weights_only_when_unbalanced():
    balanced = np.repeat([0, 1, 2], [10, 11, 9])
    assert class_weights(balanced, 3, "auto") is None
    assert class_weights(balanced, 3, "none") is None
    unbalanced = np.repeat([0, 1], [30, 10])
    w = class_weights(unbalanced, 2, "auto")
    assert w == pytest.approx({0: 40 / 60, 1: 40 / 20})
    assert class_weights(balanced, 3, "balanced")[2] > class_weights(balanced, 3, "balanced")[1]


def test_learning_rate_warms_up_then_decays():
    rates = [lr_at(e, 20, 1e-3, 2, "cosine") for e in range(20)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[2:], rates[3:]))
    assert rates[-1] < 0.05e-3
    assert lr_at(10, 20, 1e-3, 2, "constant") == 1e-3


@pytest.mark.parametrize("kwargs, message", [
    ({"augment": "heavy"}, "train.augment = 'heavy' is not one of none, light, strong"),
    ({"lr_schedule": "step"}, "train.lr_schedule = 'step' is not one of"),
    ({"class_weights": "yes"}, "train.class_weights = 'yes' is not one of"),
    ({"label_smoothing": 1.0}, r"train.label_smoothing = 1.0 is out of range \[0.0, 1.0\)"),
    ({"patience": -1}, r"train.patience = -1 is out of range"),
])
def test_recipe_options_are_checked(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainOptions(**kwargs)


# ---------------------------------------------------------------------------------------------
# Keras.

def test_early_stopping_restores_the_best_epoch():
    from pipeline.architectures import get_spec
    from pipeline.train import keras_predict, train_baseline

    ds = _blobs()
    options = TrainOptions(epochs=60, patience=3, batch_size=16, augment="none", warmup_epochs=0,
                           lr_schedule="constant", learning_rate=0.01)
    model = train_baseline(ds, ModelOptions(), options, verbose=0)
    history = model.history.history
    ran = len(history["val_loss"])
    assert ran < 60  # --epochs is a maximum
    best = int(np.argmin(history["val_loss"]))
    assert ran == best + 1 + 3  # stopped `patience` epochs after the best one
    spec = get_spec("cnn")
    val = model.evaluate((ds.x_val.astype(np.float32) - spec.mean) / spec.std,
                         np.eye(3)[ds.y_val], verbose=0)[0]
    assert val == pytest.approx(history["val_loss"][best], rel=1e-4)  # best weights are back
    assert np.mean(keras_predict(model, ds.x_test, spec.mean, spec.std).argmax(1) == ds.y_test) > 0.9


def test_pruning_with_batchnorm_reaches_the_target_and_folds_into_int8():
    from pipeline.architectures import get_spec
    from pipeline.convert import convert_variant
    from pipeline.prune import keras_sparsity, prune_model
    from pipeline.tflite_file import parse_model
    from pipeline.train import normalize, train_baseline

    ds = _blobs()
    base = train_baseline(ds, ModelOptions(), TrainOptions(epochs=3, batch_size=16), verbose=0)
    pruned = prune_model(base, ds, ModelOptions(), PruneOptions(epochs=2, min_steps=0, final_sparsity=0.8),
                         batch_size=16, verbose=0, train_options=TrainOptions(batch_size=16))
    sparsity = keras_sparsity(pruned)
    per_layer = sparsity["per_layer"]
    assert sparsity["overall"] == pytest.approx(0.8, abs=0.005)  # the target, over all kernels
    assert per_layer["conv1/kernel:0"] < 0.1  # 3x3x3x32 = 864 weights: below min_weights, dense
    assert per_layer["conv2/kernel:0"] == pytest.approx(per_layer["fc1/kernel:0"], abs=0.002)
    assert per_layer["conv2/kernel:0"] > 0.8  # compensates for the dense small layers
    assert any("bn" in layer.name for layer in pruned.layers)
    spec = get_spec("cnn")
    tflite = convert_variant(pruned, "int8", normalize(ds.x_train[:20], spec.mean, spec.std))
    ops = parse_model(tflite).op_counts()
    assert ops.get("CONV_2D") == 3 and not set(ops) & {"MUL", "ADD"}, ops  # BatchNorm folded


# ---------------------------------------------------------------------------------------------
# Pretrained backbones: keras.applications' own file names and cache, never downloaded here.

def _fake_imagenet_file(keras_home, architecture="mobilenet_v3_small_minimalistic"):
    """A weights file built locally from the same architecture, saved under Keras's own name."""
    from pipeline._tf import keras
    from pipeline.architectures import get_spec, keras_cache_dir

    spec = get_spec(architecture)
    name, _, _ = spec.imagenet(32, spec.default_width)
    keras.utils.set_random_seed(3)
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), alpha=1.0, minimalistic=True, include_top=False, weights=None,
        include_preprocessing=False)
    path = keras_cache_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(str(path))
    assert str(path).startswith(str(keras_home))
    return path, backbone


def test_imagenet_file_names_are_keras_applications_own():
    from pipeline.architectures import get_spec

    assert get_spec("mobilenet_v2").imagenet(96, 0.35)[0] == \
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert get_spec("mobilenet_v2").imagenet(100, 1.0)[0] == \
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    assert get_spec("mobilenet_v3_large").imagenet(96, 0.75)[0] == \
        "weights_mobilenet_v3_large_224_0.75_float_no_top_v2.h5"
    with pytest.raises(ConfigError, match="no ImageNet weights"):
        get_spec("mobilenet_v3_small_minimalistic").imagenet(96, 0.75)


def test_imagenet_offline_fails_at_once_naming_the_file(tmp_path, monkeypatch):
    from dataclasses import replace

    from pipeline import architectures
    from pipeline.config import DataOptions, PipelineConfig
    from pipeline.flow import run_model

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    spec = architectures.ARCHITECTURES["mobilenet_v3_small"]
    name = spec.imagenet(96, 1.0)[0]
    # keras.utils.get_file really runs; its origin is a closed local port (an offline machine).
    monkeypatch.setitem(architectures.ARCHITECTURES, "mobilenet_v3_small", replace(
        spec, imagenet=lambda size, width: (name, "http://127.0.0.1:9/" + name, None)))
    config = PipelineConfig(out_dir=str(tmp_path / "models"),
                            data=DataOptions(data_dir=str(tmp_path / "no-such-folder")),
                            model=ModelOptions("mobilenet_v3_small", weights="imagenet"))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        run_model(config, verbose=0)
    text = str(err.value)
    assert "\n" not in text and name in text
    assert str(tmp_path / "keras" / "models" / name) in text  # where to put it, per KERAS_HOME
    assert "no-such-folder" not in text  # before any data is read
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "models" / "mobilenet_v3_small").exists()


def test_imagenet_weights_from_the_keras_cache_then_fine_tuning(tmp_path, monkeypatch):
    from pipeline._tf import keras
    from pipeline.train import train_baseline

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    _, backbone = _fake_imagenet_file(tmp_path / "keras")
    ds = _blobs(size=32, per_class=10)
    options = TrainOptions(epochs=1, fine_tune_epochs=1, fine_tune_layers=10, batch_size=8,
                           patience=0, warmup_epochs=0)
    model = train_baseline(ds, ModelOptions("mobilenet_v3_small_minimalistic", weights="imagenet"),
                           options, verbose=0)
    by_name = {layer.name: layer for layer in model.layers}
    first_conv = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D))
    # the bottom of the backbone was frozen throughout: still exactly the file's weights
    assert np.array_equal(by_name[first_conv.name].get_weights()[0], first_conv.get_weights()[0])
    bns = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for bn in bns:  # BatchNorm stayed in inference mode: moving statistics untouched
        assert np.array_equal(by_name[bn.name].get_weights()[2], bn.get_weights()[2])
        assert not by_name[bn.name].trainable
    last_conv = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)][-1]
    assert not np.array_equal(by_name[last_conv.name].get_weights()[0], last_conv.get_weights()[0])
    assert by_name["probability"].trainable and by_name[first_conv.name].trainable  # for pruning


def test_local_weights_file_still_loads(tmp_path):
    from pipeline.architectures import build_model

    source = build_model("cnn", 16, 3)
    source.save_weights(str(tmp_path / "w.h5"))
    model = build_model("cnn", 16, 3, weights=str(tmp_path / "w.h5"))
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), model.get_weights()))
    with pytest.raises(ConfigError, match="does not exist"):
        build_model("cnn", 16, 3, weights=str(tmp_path / "missing.h5"))
