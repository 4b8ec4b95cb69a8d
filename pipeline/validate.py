"""Validation of converted models in the LiteRT interpreter. Public entry point: `validate_variant`.

Every model is fed exactly what its metadata says: a uint8 input gets the RGB pixels as they
are, a float input gets `(pixel - mean) / std` with mean/std read back from the file, one image
at a time (batch 1, as on the phone).
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass

import numpy as np

from pipeline._quiet import native_stderr_captured
from pipeline.crossruntime import mediapipe_agreement
from pipeline.metadata import read_metadata
from pipeline.quantspec import check_quantization, weight_sparsity
from pipeline.tflite_file import parse_model

CHUNK = 512  # images turned into input tensors at a time


@dataclass(frozen=True)
class Interpreted:
    """Scores (N, C) as probabilities, plus the raw output tensor values the interpreter gave."""

    scores: np.ndarray
    raw: np.ndarray


def _interpreter(model: bytes, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    with native_stderr_captured():  # C++: "INFO: Created TensorFlow Lite XNNPACK delegate"
        interp = Interpreter(model_content=model, num_threads=threads)
        interp.allocate_tensors()
    return interp


def input_tensor(images: np.ndarray, detail: dict, mean, std) -> np.ndarray:
    """RGB uint8 images -> the exact input tensor values for an interpreter input `detail`."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.uint8:
        return images.astype(np.uint8)
    real = (images.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    if dtype == np.float32:
        return real
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(real / scale) + zero, info.min, info.max).astype(dtype)


def dequantize(raw: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.issubdtype(raw.dtype, np.integer) and scale:
        return (raw.astype(np.float32) - zero) * scale
    return raw.astype(np.float32)


def io_details(model: bytes) -> tuple[dict, dict]:
    """The interpreter's (input, output) tensor details of a single-input, single-output model."""
    interp = _interpreter(model)
    return interp.get_input_details()[0], interp.get_output_details()[0]


def invoke_each(model: bytes, tensors: np.ndarray, threads: int = 1) -> np.ndarray:
    """Raw output tensors (N, C) for input tensors (N, ...) fed one at a time (batch 1)."""
    interp = _interpreter(model, threads)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    raws = []
    for i in range(len(tensors)):
        interp.set_tensor(inp["index"], tensors[i:i + 1])
        interp.invoke()
        raws.append(interp.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(raws) if raws else np.zeros((0, int(np.prod(out["shape"]))), out["dtype"])


def run_interpreter(model: bytes, images: np.ndarray, threads: int = 1) -> Interpreted:
    """Classify RGB uint8 images one by one, fed as the model's metadata says.

    `images` is an array or a split read from the shards (`streamdata.SplitImages`); it is read
    `CHUNK` images at a time, so a large test split is never in memory whole (as floats)."""
    meta = read_metadata(model)
    inp, out = io_details(model)
    raw = np.concatenate([  # an empty split is one empty chunk
        invoke_each(model, input_tensor(np.asarray(images[i:i + CHUNK]), inp, meta.mean,
                                        meta.std), threads)
        for i in range(0, max(1, len(images)), CHUNK)])
    return Interpreted(scores=dequantize(raw, out), raw=raw)


def latency_ms(model: bytes, image: np.ndarray, threads: int, runs: int) -> dict:
    """Mean and p90 wall time of one single-image `invoke()` after a warm-up."""
    meta = read_metadata(model)
    interp = _interpreter(model, threads)
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], input_tensor(image[None], inp, meta.mean, meta.std))
    for _ in range(min(5, runs)):
        interp.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"mean": float(np.mean(times)), "p90": float(np.percentile(times, 90)),
            "runs": runs}


def io_summary(model: bytes) -> dict:
    inp, out = io_details(model)

    def one(d):
        scale, zero = d["quantization"]
        return {"dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]],
                "scale": float(scale), "zero_point": int(zero)}

    return {"input": one(inp), "output": one(out)}


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """counts[true, predicted] over `classes` classes."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return m


def validate_variant(model: bytes, images: np.ndarray, labels: np.ndarray,
                     keras_scores: np.ndarray, *, quantized: bool, threads=(1, 2),
                     latency_runs: int = 50, mediapipe_labels: tuple[str, ...] | None = None
                     ) -> dict:
    """Everything the report says about one converted model (see README: report.json).

    With `mediapipe_labels` (the class names), MediaPipe's ImageClassifier classifies the same
    images and is compared with this interpreter run (`report["mediapipe"]`).
    """
    parsed = parse_model(model)
    result = run_interpreter(model, images)
    top1 = result.scores.argmax(axis=1)
    keras_top1 = keras_scores.argmax(axis=1)
    report = {
        "bytes": len(model),
        "gzip_bytes": len(gzip.compress(model, 9)),
        "accuracy": float(np.mean(top1 == labels)),
        "keras_accuracy": float(np.mean(keras_top1 == labels)),
        "agreement_with_keras": float(np.mean(top1 == keras_top1)),
        "disagreements_with_keras": [int(i) for i in np.flatnonzero(top1 != keras_top1)],
        "max_score_diff_vs_keras": float(np.max(np.abs(result.scores - keras_scores))),
        "latency_ms": {str(t): latency_ms(model, images[0], t, latency_runs) for t in threads},
        "sparsity": weight_sparsity(parsed),
        "io": io_summary(model),
        "op_counts": parsed.op_counts(),
        "confusion_matrix": confusion_matrix(labels, top1, keras_scores.shape[1]).tolist(),
    }
    if mediapipe_labels is not None:
        report["mediapipe"] = mediapipe_agreement(model, images, result.scores, mediapipe_labels)
    if quantized:
        checks = check_quantization(parsed, io_dtype="uint8")
        report["quantization_checks"] = [
            {"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks
        ]
        report["quantization_ok"] = all(c.ok for c in checks)
    return report
