"""Registry of model architectures: name -> spec with input size, normalization and builder.

Normalization belongs to the architecture: the Keras model is fed `(pixel - mean) / std`, and
the same mean/std are written into the .tflite metadata for the app.

Pretrained backbones (`model.weights = "imagenet"`) come from keras.applications' own weight
files, under the names keras.applications gives them, in the Keras cache
(`$KERAS_HOME/models/`, default `~/.keras/models/`). `prepare_weights` finds the file there or
downloads it once through `keras.utils.get_file`; offline it fails at once, naming the file and
where to put it. The file is then handed to the keras.applications constructor, which loads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.errors import ConfigError
from pipeline.runlog import log


@dataclass(frozen=True)
class ArchitectureSpec:
    """One trainable architecture.

    Attributes:
      name: registry key.
      description: one line for `--help` and the report.
      default_size: default square input side in pixels.
      min_size: smallest input side it accepts.
      mean, std: per-channel normalization the model is trained with.
      build: (input_shape, num_classes, width, backbone_weights) -> uncompiled tf_keras Model,
        softmax output; `backbone_weights` is None or a keras.applications weights file.
      default_width: width multiplier used when model.width is 0.
      imagenet: (image_size, width) -> (file name, origin, file hash or None) of the Keras
        ImageNet weights for the backbone, or raises ConfigError; None = no pretrained weights.
    """

    name: str
    description: str
    default_size: int
    min_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    build: Callable
    default_width: float = 1.0
    imagenet: Callable | None = None


HEAD_LAYERS = ("dropout", "probability")  # the new head on a pretrained backbone (by name)


def _build_cnn(input_shape, num_classes, width, backbone_weights=None):
    """Three Conv-BatchNorm-ReLU blocks; the int8 conversion folds each BatchNorm into its Conv."""
    from pipeline._tf import keras

    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, filters in enumerate((32, 64, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        # momentum 0.9: the moving statistics (what inference and the converted model use)
        # must catch up within the few hundred steps a small dataset gives.
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        x = layers.MaxPooling2D(name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout_fc")(x)
    x = layers.Dense(128, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probability")(x)
    return keras.Model(inputs, outputs, name="cnn")


def _with_head(base, inputs, num_classes, name, from_scratch: bool):
    """Dropout + softmax Dense on a keras.applications backbone built on `inputs`."""
    from pipeline._tf import keras

    x = keras.layers.Dropout(0.2, name="dropout")(base.output)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probability")(x)
    model = keras.Model(inputs, outputs, name=name)
    if from_scratch:
        # keras.applications uses BatchNorm momentum 0.999, tuned for ImageNet-length runs: on
        # a small dataset trained from scratch the moving statistics never catch up, and
        # inference mode (what gets converted) stays at chance. 0.9 tracks them within a few
        # hundred steps. Pretrained statistics are kept as they are.
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
    return model


def _build_mobilenet_v2(input_shape, num_classes, width, backbone_weights=None):
    from pipeline._tf import keras

    # input_tensor keeps the layers flat (one functional graph): tfmot cannot prune nested models.
    inputs = keras.Input(shape=input_shape, name="image")
    base = keras.applications.MobileNetV2(
        input_tensor=inputs, alpha=width, include_top=False, pooling="avg",
        weights=str(backbone_weights) if backbone_weights else None,
    )
    return _with_head(base, inputs, num_classes, "mobilenet_v2", backbone_weights is None)


def _mobilenet_v3(kind: str, minimalistic: bool) -> Callable:
    def build(input_shape, num_classes, width, backbone_weights=None):
        from pipeline._tf import keras

        ctor = keras.applications.MobileNetV3Small if kind == "small" else keras.applications.MobileNetV3Large
        inputs = keras.Input(shape=input_shape, name="image")
        base = ctor(input_tensor=inputs, alpha=width, minimalistic=minimalistic,
                    include_top=False, pooling="avg", include_preprocessing=False,
                    weights=str(backbone_weights) if backbone_weights else None)
        name = f"mobilenet_v3_{kind}" + ("_minimalistic" if minimalistic else "")
        return _with_head(base, inputs, num_classes, name, backbone_weights is None)

    return build


def _v2_imagenet(image_size: int, width: float):
    from pipeline._tf import keras

    if width not in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
        raise ConfigError(f"model.width = {width} has no ImageNet weights for mobilenet_v2",
                          "use model.width 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4")
    rows = image_size if image_size in (96, 128, 160, 192, 224) else 224  # as keras.applications
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(width)}_{rows}_no_top.h5"
    return name, _app_module(keras.applications.MobileNetV2).BASE_WEIGHT_PATH + name, None


def _v3_imagenet(kind: str, minimalistic: bool) -> Callable:
    def files(image_size: int, width: float):
        from pipeline._tf import keras

        allowed = (1.0,) if minimalistic else (0.75, 1.0)
        if width not in allowed:
            raise ConfigError(
                f"model.width = {width} has no ImageNet weights for this MobileNetV3",
                f"use model.width {' or '.join(str(a) for a in allowed)}")
        key = f"{kind}{'_minimalistic' if minimalistic else ''}_224_{width}_float"
        name = f"weights_mobilenet_v3_{key}_no_top_v2.h5"
        module = _app_module(keras.applications.MobileNetV3Small)
        return name, module.BASE_WEIGHT_PATH + name, module.WEIGHTS_HASHES[key][1]

    return files


def _app_module(ctor):
    """The keras.applications module defining `ctor`: its own download folder and hashes."""
    import importlib

    return importlib.import_module(ctor.__module__)


_MOBILENET_NORM = dict(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5))  # to [-1, 1]

ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "cnn": ArchitectureSpec(
        name="cnn",
        description="small 3-block CNN with BatchNorm (default; fast on 2 cores)",
        default_size=32,
        min_size=8,
        mean=(0.0, 0.0, 0.0),
        std=(255.0, 255.0, 255.0),
        build=_build_cnn,
    ),
    "mobilenet_v2": ArchitectureSpec(
        name="mobilenet_v2",
        description="MobileNetV2 (width = model.width, default 0.35); random, imagenet or local weights",
        default_size=96, min_size=32, build=_build_mobilenet_v2, default_width=0.35,
        imagenet=_v2_imagenet, **_MOBILENET_NORM,
    ),
}
for _kind in ("small", "large"):
    for _mini in (False, True):
        _name = f"mobilenet_v3_{_kind}" + ("_minimalistic" if _mini else "")
        ARCHITECTURES[_name] = ArchitectureSpec(
            name=_name,
            description=f"MobileNetV3 {_kind}" + (" minimalistic (no hard-swish or SE: quantizes "
                                                   "best)" if _mini else "")
            + "; random, imagenet or local weights",
            default_size=96, min_size=32, build=_mobilenet_v3(_kind, _mini), default_width=1.0,
            imagenet=_v3_imagenet(_kind, _mini), **_MOBILENET_NORM,
        )


def get_spec(name: str) -> ArchitectureSpec:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(
            f"unknown architecture {name!r}", f"use one of: {', '.join(sorted(ARCHITECTURES))}"
        ) from None


def build_model(name: str, image_size: int, num_classes: int, *, width: float = 0.0,
                weights: str | None = None):
    """Build an uncompiled tf_keras model.

    `weights`: None, "imagenet" (the backbone's Keras weights file, see `prepare_weights`) or a
    local weights file (loaded by layer name, mismatched layers skipped).
    """
    spec = get_spec(name)
    if image_size < spec.min_size:
        raise ConfigError(
            f"data.image_size = {image_size} is too small for {name}",
            f"use at least {spec.min_size}",
        )
    width = width or spec.default_width
    backbone = prepare_weights(name, image_size, width, weights) if weights == "imagenet" else None
    model = spec.build((image_size, image_size, 3), num_classes, width, backbone)
    if weights and weights != "imagenet":
        _load_weights(model, Path(weights))
    return model


def keras_cache_dir() -> Path:
    """Where keras.applications' weight files live: $KERAS_HOME/models, else ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def prepare_weights(name: str, image_size: int, width: float, weights: str | None) -> Path | None:
    """Check (and for "imagenet", fetch) the weights file before any data is loaded.

    Returns the local file, or None without weights. "imagenet": the file keras.applications
    names for this backbone, from the Keras cache or downloaded into it once; offline, a
    ConfigError naming the file and the folder to put it in.
    """
    if not weights:
        return None
    if weights != "imagenet":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise _missing_weights(path)
        return path
    spec = get_spec(name)
    if spec.imagenet is None:
        raise ConfigError(f"model.weights = 'imagenet' is not available for {name}",
                          "use a MobileNet architecture (e.g. mobilenet_v3_small_minimalistic), "
                          "a local .h5 file, or no weights")
    file_name, origin, file_hash = spec.imagenet(image_size, width or spec.default_width)
    cached = keras_cache_dir() / file_name
    if cached.is_file():
        return cached
    return _download(file_name, origin, file_hash, cached)


def _download(file_name: str, origin: str, file_hash: str | None, cached: Path) -> Path:
    from pipeline._tf import keras

    try:
        return Path(keras.utils.get_file(file_name, origin, cache_subdir="models",
                                         cache_dir=str(cached.parent.parent), file_hash=file_hash))
    except Exception as exc:  # URLError, HTTPError, OSError, ValueError (bad hash) ...
        reason = (str(exc).splitlines() or [type(exc).__name__])[0].split(" -- ")[-1]
        raise ConfigError(
            f"the ImageNet weights file {file_name} is not in the Keras cache and could not be "
            f"downloaded ({reason[:160]})",
            f"copy {file_name} (keras.applications' file) to {cached} (the folder follows "
            "$KERAS_HOME), or train without --weights imagenet",
        ) from None


def _stored_shapes(path: Path) -> dict[str, list[tuple]]:
    """Layer name -> the shapes of its weights in a Keras .h5 weights (or model) file."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        out = {}
        for name in group.attrs.get("layer_names", []):
            name = name.decode() if isinstance(name, bytes) else str(name)
            layer = group[name]
            weights = [w.decode() if isinstance(w, bytes) else str(w)
                       for w in layer.attrs.get("weight_names", [])]
            out[name] = [tuple(layer[w].shape) for w in weights]
    return out


def _missing_weights(path: Path) -> ConfigError:
    return ConfigError(
        f"model.weights file {path} does not exist",
        "give the path of a local Keras .h5 weights file, 'imagenet', or leave model.weights unset",
    )


def _load_weights(model, path: Path) -> int:
    """Load `path` by layer name; returns how many layers got weights from it (and says so).

    A file that matches no layer of the model is an error: it was saved from another network.
    """
    if not path.is_file():
        raise _missing_weights(path)
    layers = [layer for layer in model.layers if layer.weights]
    try:
        stored = _stored_shapes(path)
        model.load_weights(str(path), by_name=True, skip_mismatch=True)
    except Exception as exc:  # h5py / Keras raise many types for a bad file
        raise ConfigError(
            f"model.weights file {path} could not be loaded ({exc})",
            "use a Keras .h5 weights file saved from the same architecture",
        ) from None
    loaded = sum(stored.get(layer.name) == [tuple(w.shape) for w in layer.weights] for layer in layers)
    if loaded == 0:
        raise ConfigError(
            f"model.weights file {path} matches no layer of {model.name} (0 of {len(layers)} "
            "layers loaded by name and shape)",
            "use weights saved from the same architecture (and --width / --image-size), or leave "
            "model.weights unset")
    log(f"    {path.name}: weights loaded for {loaded} of {len(layers)} layers"
        + ("" if loaded == len(layers) else " (the others keep their initial values)"))
    return loaded
