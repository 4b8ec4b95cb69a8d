"""pipeline.crossruntime: MediaPipe's ImageClassifier agrees with our interpreter on our models."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import _broken_models as broken
from _models import LABELS, sample_images
from pipeline._tf import keras, tf
from pipeline.crossruntime import mediapipe_agreement
from pipeline.errors import ValidationError
from pipeline.metadata import ModelMetadata, write_metadata
from pipeline.validate import run_interpreter

IMAGES = sample_images(64, seed=3)


@pytest.mark.parametrize("build, dtype, tolerance",
                         [(broken.good_uint8, "uint8", 1 / 256), (broken.good_float32, "float32", 1e-5)],
                         ids=["uint8", "float32"])
def test_mediapipe_agrees_with_our_interpreter(build, dtype, tolerance, tmp_path):
    model = build()
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    ours = run_interpreter(model, IMAGES).scores  # fed as the metadata says
    result = mediapipe_agreement(path, IMAGES, ours, LABELS)
    assert result["passed"], result
    assert result["output_dtype"] == dtype and result["tolerance"] == tolerance
    assert result["top1_agreement"] == 1.0 and result["disagreements"] == 0
    assert result["within_tolerance"] and result["max_abs_score_diff"] <= tolerance
    assert result["labels_match"] and result["missing_scores"] == 0 and result["images_unchanged"]
    assert result["images"] == 64 and result["classes"] == 3


def test_disagreement_is_reported():
    model = broken.good_float32()
    ours = run_interpreter(model, IMAGES).scores
    shifted = np.roll(ours, 1, axis=1)  # a reference that is wrong on (almost) every image
    result = mediapipe_agreement(model, IMAGES, shifted, LABELS)
    expected = np.flatnonzero(shifted.argmax(1) != ours.argmax(1))
    assert not result["passed"] and not result["within_tolerance"]
    assert result["disagreement_indices"] == expected.tolist()
    assert result["disagreements"] == len(expected)
    assert result["top1_agreement"] == pytest.approx(1 - len(expected) / 64)


def test_wrong_labels_are_reported():
    model = broken.good_uint8()
    result = mediapipe_agreement(model, IMAGES, run_interpreter(model, IMAGES).scores,
                                 ("cat", "bird", "dog"))
    assert not result["passed"] and not result["labels_match"]
    assert "class 1: metadata says 'dog', expected 'bird'" in result["label_problems"]
    assert "class 1: MediaPipe says 'dog', expected 'bird'" in result["label_problems"]


def test_images_of_another_size_are_refused():
    model = broken.good_uint8()
    big = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValidationError, match="images are 16x16 but <bytes> takes 8x8"):
        mediapipe_agreement(model, big, np.zeros((2, 3)), LABELS)


# ------------------------------------------------------------------------------ MediaPipe passes pixels unchanged


SIDE = 4  # a 4x4 RGB image: 48 "classes", one per pixel value


@functools.lru_cache(maxsize=None)
def _identity_keras():
    inputs = keras.Input((SIDE, SIDE, 3))
    return keras.Model(inputs, keras.layers.Reshape((SIDE * SIDE * 3,))(inputs))


def _identity_meta(lo: float, hi: float, std: float) -> ModelMetadata:
    return ModelMetadata(
        name="identity", description="scores are the input values", version="1", author="tests",
        license="Apache-2.0", labels=tuple(f"v{i}" for i in range(SIDE * SIDE * 3)),
        mean=(0.0,), std=(std,), input_min=lo, input_max=hi, output_is_probability=False,
    )


def _identity_uint8() -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(_identity_keras())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [np.full((1, SIDE, SIDE, 3), v, np.float32)] for v in (0.0, 1.0, 0.5))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return write_metadata(converter.convert(), _identity_meta(0.0, 255.0, 255.0))


def _identity_float() -> bytes:
    model = tf.lite.TFLiteConverter.from_keras_model(_identity_keras()).convert()
    return write_metadata(model, _identity_meta(0.0, 255.0, 1.0))  # mean 0, std 1: raw pixels


@pytest.mark.parametrize("build, scale", [(_identity_float, 1.0), (_identity_uint8, 1 / 255)],
                         ids=["float32", "uint8"])
def test_mediapipe_feeds_the_pixels_unchanged(build, scale):
    """A model whose scores are its input: MediaPipe's scores are the pixels it fed the model."""
    images = sample_images(16, seed=5)[:, :SIDE, :SIDE, :].copy()
    labels = [f"v{i}" for i in range(SIDE * SIDE * 3)]
    pixels = images.reshape(len(images), -1).astype(np.float64) * scale
    result = mediapipe_agreement(build(), images, pixels, labels, atol=1e-6)
    assert result["passed"], result
    assert result["max_abs_score_diff"] <= 1e-6


# ------------------------------------------------------------------------------ the real pipeline


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["model.tflite", "variants/float32.tflite"])
def test_pipeline_models_agree_on_the_whole_test_split(digits_run, variant, capsys):
    from pipeline.architectures import get_spec
    from pipeline.data import load_dataset

    config, result = digits_run
    size = config.data.image_size or get_spec(config.model.architecture).default_size
    dataset = load_dataset(config.data, size)
    path = result.model_dir / variant
    ours = run_interpreter(path.read_bytes(), dataset.x_test).scores
    agreement = mediapipe_agreement(path, dataset.x_test, ours, dataset.class_names)
    with capsys.disabled():
        print(f"\n{variant}: " + ", ".join(f"{k}={agreement[k]}" for k in (
            "images", "top1_agreement", "disagreements", "max_abs_score_diff", "tolerance")))
    assert agreement["passed"], agreement
