"""pipeline.validate: feeding as the metadata says, the invoke loop, and the recorded figures."""

from __future__ import annotations

import numpy as np
import pytest

import _models
from pipeline.metadata import ModelMetadata, write_metadata
from pipeline.validate import (confusion_matrix, dequantize, input_tensor, invoke_each, io_details,
                               run_interpreter, validate_variant)


def _with_meta(model: bytes, lo: float, hi: float) -> bytes:
    return write_metadata(model, ModelMetadata(
        name="tiny", description="", version="1", author="tests", license="Apache-2.0",
        labels=_models.LABELS, mean=(0.0,), std=(255.0,), input_min=lo, input_max=hi))


def test_input_tensor_per_dtype():
    px = np.array([[[[0, 128, 255]]]], dtype=np.uint8)
    assert input_tensor(px, {"dtype": np.uint8}, (0,), (255,)).tolist() == px.tolist()
    f = input_tensor(px, {"dtype": np.float32}, (0,), (255,))
    assert f.dtype == np.float32 and f.ravel().tolist() == pytest.approx([0, 128 / 255, 1])
    q = input_tensor(px, {"dtype": np.int8, "quantization": (1 / 255, -128)}, (0,), (255,))
    assert q.ravel().tolist() == [-128, 0, 127]


def test_dequantize_uses_scale_and_zero_point():
    raw = np.array([[0, 128, 256 - 1]], dtype=np.uint8)
    assert dequantize(raw, {"quantization": (1 / 256, 0)}).ravel().tolist() == pytest.approx(
        [0, 0.5, 255 / 256])
    assert dequantize(np.array([0.25], np.float32), {"quantization": (0.0, 0)}).tolist() == [0.25]


def test_run_interpreter_feeds_as_the_metadata_says():
    """The float model fed (p / 255) and the int8 model fed p agree on the top-1 of most images."""
    images = _models.sample_images(12, seed=5)
    f = run_interpreter(_with_meta(_models.float_model(), 0.0, 1.0), images)
    q = run_interpreter(_with_meta(_models.int8_model(), 0.0, 255.0), images)
    assert f.scores.shape == q.scores.shape == (12, 3)
    assert np.allclose(f.scores.sum(1), 1.0, atol=1e-5)
    assert np.abs(f.scores - q.scores).max() < 0.05


def test_invoke_each_is_batch_one_and_handles_empty_input():
    model = _with_meta(_models.int8_model(), 0.0, 255.0)
    inp, out = io_details(model)
    raw = invoke_each(model, _models.sample_images(3))
    assert raw.shape == (3, 3) and raw.dtype == out["dtype"]
    assert invoke_each(model, _models.sample_images(0)).shape == (0, 3)


def test_confusion_matrix_counts_true_by_predicted():
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_validate_variant_records_what_the_report_needs():
    model = _with_meta(_models.int8_model(), 0.0, 255.0)
    images = _models.sample_images(10, seed=2)
    labels = np.arange(10) % 3
    keras = run_interpreter(model, images).scores
    r = validate_variant(model, images, labels, keras, quantized=True, threads=(1,), latency_runs=2)
    assert r["bytes"] == len(model) and 0 < r["gzip_bytes"]
    assert r["agreement_with_keras"] == 1.0 and r["max_score_diff_vs_keras"] == 0.0
    assert set(r["latency_ms"]) == {"1"} and r["latency_ms"]["1"]["runs"] == 2
    assert r["quantization_ok"] and r["quantization_checks"]
    assert np.array(r["confusion_matrix"]).sum() == 10
    assert r["io"]["input"]["dtype"] == "uint8"
