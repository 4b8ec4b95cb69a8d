"""Conversion of Keras models to TFLite. Public entry point: `convert_variant`.

A variant (`pipeline.variants`) is a Keras *source* (the float baseline, the pruned model, ...)
and a *recipe* (float32, dynamic-range, float16, full int8 with uint8 input and output); this
module applies the recipe.
"""

from __future__ import annotations

import warnings

import numpy as np

from pipeline.variants import RECIPES


def convert_variant(model, recipe: str, representative: np.ndarray | None = None) -> bytes:
    """Convert a tf_keras model with one recipe; `representative` is normalized float input.

    The int8 recipe needs `representative` (calibration images from the training split).
    """
    from pipeline._tf import native_stderr_captured, tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if recipe == "float32":
        pass
    elif recipe == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif recipe == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif recipe == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("the int8 recipe needs representative images")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    else:
        raise ValueError(f"unknown recipe {recipe!r}; use one of {RECIPES}")
    with warnings.catch_warnings(), native_stderr_captured():  # C++: "fully_quantize: 0, ..."
        warnings.simplefilter("ignore")  # "Statistics for quantized inputs were expected..."
        return bytes(converter.convert())


def _representative(images: np.ndarray):
    def gen():
        for i in range(len(images)):
            yield [images[i:i + 1].astype(np.float32)]

    return gen


def representative_images(x_train: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded sample of training images (uint8) for int8 calibration."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x_train))[:count]
    return x_train[np.sort(idx)]
