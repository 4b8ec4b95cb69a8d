"""pipeline.convert and pipeline.export: each recipe on a tiny Keras model, metadata included."""

from __future__ import annotations

import numpy as np
import pytest

import _models
from pipeline.convert import convert_variant, representative_images
from pipeline.tflite_file import parse_model
from pipeline.validate import io_summary

CALIB = _models.sample_images(8, seed=3).astype(np.float32) / 255.0


@pytest.mark.parametrize("recipe, io_dtype, weight_dtypes", [
    ("float32", "float32", {"float32"}),
    # dynamic range quantizes only weight tensors of 1024 elements or more: this conv has 108
    ("dynamic", "float32", {"float32"}),
    ("float16", "float32", {"float16"}),
    ("int8", "uint8", {"int8"}),
])
def test_every_recipe_converts(recipe, io_dtype, weight_dtypes):
    model = convert_variant(_models.keras_model(), recipe, CALIB if recipe == "int8" else None)
    io = io_summary(model)
    assert io["input"]["dtype"] == io_dtype and io["output"]["dtype"] == io_dtype
    parsed = parse_model(model)
    conv_weights = parsed.tensor(next(op for op in parsed.ops if op.opcode == "CONV_2D").inputs[1])
    dtypes = {conv_weights.dtype}
    if not conv_weights.is_constant:  # float16 weights reach the op through a DEQUANTIZE
        producer = next(op for op in parsed.ops if conv_weights.index in op.outputs)
        dtypes = {parsed.tensor(producer.inputs[0]).dtype}
    assert dtypes == weight_dtypes


def test_int8_needs_calibration_and_unknown_recipes_fail():
    with pytest.raises(ValueError, match="needs representative images"):
        convert_variant(_models.keras_model(), "int8", None)
    with pytest.raises(ValueError, match="unknown recipe 'int4'"):
        convert_variant(_models.keras_model(), "int4")


def test_representative_images_are_a_seeded_sample():
    x = np.arange(50 * 2 * 2 * 3, dtype=np.uint8).reshape(50, 2, 2, 3)
    a, b = representative_images(x, 10, seed=1), representative_images(x, 10, seed=1)
    assert np.array_equal(a, b) and len(a) == 10
    assert len(representative_images(x, 100, seed=1)) == 50  # never more than there are


def test_model_metadata_ranges_follow_the_io_dtype():
    from pipeline.architectures import get_spec
    from pipeline.config import PipelineConfig
    from pipeline.export import model_metadata

    spec = get_spec("cnn")
    u8 = model_metadata(PipelineConfig(), ("a", "b"), spec, 32, "uint8")
    f32 = model_metadata(PipelineConfig(), ("a", "b"), spec, 32, "float32")
    assert (u8.input_min, u8.input_max) == (0.0, 255.0)
    assert (f32.input_min, f32.input_max) == (0.0, 1.0)  # (p - 0) / 255
    assert u8.labels == ("a", "b") and "32x32 RGB images into 2 classes (a, b)" in u8.description
