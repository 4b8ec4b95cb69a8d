"""Registry of model architectures: name -> spec with input size, normalization and builder.

Normalization belongs to the architecture: the Keras model is fed `(pixel - mean) / std`, and
the same mean/std are written into the .tflite metadata for the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class ArchitectureSpec:
    """One trainable architecture.

    Attributes:
      name: registry key.
      description: one line for `--help` and the report.
      default_size: default square input side in pixels.
      min_size: smallest input side it accepts.
      mean, std: per-channel normalization the model is trained with.
      build: (input_shape, num_classes, width) -> uncompiled tf_keras Model, softmax output.
    """

    name: str
    description: str
    default_size: int
    min_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    build: Callable


def _build_cnn(input_shape, num_classes, width):
    from pipeline._tf import keras

    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(128, activation="relu", name="fc1")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probability")(x)
    return keras.Model(inputs, outputs, name="cnn")


def _build_mobilenet_v2(input_shape, num_classes, width):
    from pipeline._tf import keras

    # input_tensor keeps the layers flat (one functional graph): tfmot cannot prune nested models.
    inputs = keras.Input(shape=input_shape, name="image")
    base = keras.applications.MobileNetV2(
        input_tensor=inputs, alpha=width, include_top=False, weights=None, pooling="avg"
    )
    x = keras.layers.Dropout(0.2, name="dropout")(base.output)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probability")(x)
    model = keras.Model(inputs, outputs, name="mobilenet_v2")
    # keras.applications uses BatchNorm momentum 0.999, tuned for ImageNet-length runs: on a
    # small dataset trained from scratch the moving statistics never catch up, and inference
    # mode (what gets converted) stays at chance. 0.9 tracks them within a few hundred steps.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return model


ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "cnn": ArchitectureSpec(
        name="cnn",
        description="small 3-block CNN (default; fast on 2 cores)",
        default_size=32,
        min_size=8,
        mean=(0.0, 0.0, 0.0),
        std=(255.0, 255.0, 255.0),
        build=_build_cnn,
    ),
    "mobilenet_v2": ArchitectureSpec(
        name="mobilenet_v2",
        description="MobileNetV2 (width multiplier model.width), trained from scratch or local weights",
        default_size=96,
        min_size=32,
        mean=(127.5, 127.5, 127.5),
        std=(127.5, 127.5, 127.5),
        build=_build_mobilenet_v2,
    ),
}


def get_spec(name: str) -> ArchitectureSpec:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(
            f"unknown architecture {name!r}", f"use one of: {', '.join(sorted(ARCHITECTURES))}"
        ) from None


def build_model(name: str, image_size: int, num_classes: int, *, width: float = 0.35,
                weights: str | None = None):
    """Build an uncompiled tf_keras model; optionally load a local weights file (by layer name)."""
    spec = get_spec(name)
    if image_size < spec.min_size:
        raise ConfigError(
            f"data.image_size = {image_size} is too small for {name}",
            f"use at least {spec.min_size}",
        )
    model = spec.build((image_size, image_size, 3), num_classes, width)
    if weights:
        _load_weights(model, Path(weights))
    return model


def _load_weights(model, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(
            f"model.weights file {path} does not exist",
            "give the path of a local Keras .h5 weights file, or leave model.weights unset",
        )
    try:
        model.load_weights(str(path), by_name=True, skip_mismatch=True)
    except Exception as exc:  # h5py / Keras raise many types for a bad file
        raise ConfigError(
            f"model.weights file {path} could not be loaded ({exc})",
            "use a Keras .h5 weights file saved from the same architecture",
        ) from None
