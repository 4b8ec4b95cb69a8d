"""Validate the model contract with a real consumer of it: MediaPipe's ImageClassifier.

The `.tflite` metadata (labels, normalization) is the contract between Python and the app. Our
own reader agreeing with our own writer proves little, so we hand the model to MediaPipe's
`ImageClassifier` (the same C++ task code that runs on Android), let it read labels and
normalization from the metadata itself, and compare its scores with our interpreter's:

    result = run_interpreter(model_bytes, x_test)           # pipeline.validate
    agreement = mediapipe_agreement(model_bytes, x_test, result.scores, class_names)
    agreement["within_tolerance"], agreement["top1_agreement"]

Images must already be at the model's input size, so MediaPipe does no resize of its own
(a different resize alone moved digits accuracy 6.5 points, docs/FACTS.md); this is checked,
not assumed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.errors import ModelFileError, PipelineError, ValidationError
from pipeline.metadata import read_metadata
from pipeline.runlog import package_version
from pipeline.tflite_file import parse_model

FLOAT_SCORE_TOLERANCE = 1e-5  # float32 output: only rounding differences are acceptable
UINT8_SCORE_TOLERANCE = 1.0 / 256.0  # uint8 output: one quantization step of a softmax output


def mediapipe_agreement(
    model: str | os.PathLike | bytes,
    images: np.ndarray,
    reference_scores: np.ndarray,
    labels: Sequence[str],
    *,
    atol: float | None = None,
) -> dict:
    """Classify `images` with MediaPipe's ImageClassifier and compare with `reference_scores`.

    Args:
        model: the `.tflite` file (path or bytes), with metadata (labels; normalization for
            float32 input: MediaPipe applies it itself).
        images: uint8 RGB pixels, shape (N, H, W, 3), H and W equal to the model's input size.
        reference_scores: (N, C) float scores from our interpreter (dequantized), in label order.
        labels: the C class names, in output order; must equal the metadata labels.
        atol: score tolerance; default one quantization step for uint8 output (1/256 for a
            softmax output, or the output scale if larger) and 1e-5 for float32 output.

    Returns:
        A JSON-ready dict: `images`, `classes`, `output_dtype`, `top1_agreement` (fraction),
        `disagreements` (count), `disagreement_indices`, `max_abs_score_diff`, `tolerance`,
        `within_tolerance`, `labels_match` (MediaPipe's category names == metadata labels ==
        `labels`), `label_problems` (the first few mismatches), `missing_scores` (categories
        MediaPipe did not return), `images_unchanged` (MediaPipe's image holds our pixels
        byte for byte) and `passed` (all of: 100% top-1, within tolerance, labels match,
        nothing missing, images unchanged).

    Raises:
        ValidationError: the inputs do not fit the model (wrong image size, score shape), or
            MediaPipe cannot load the model or classify an image.
    """
    data, source = _model_bytes(model)
    images = np.asarray(images)
    reference = np.asarray(reference_scores, dtype=np.float64)
    labels = [str(x) for x in labels]
    height, width, out_dtype, out_scale, meta_labels = _model_facts(data, source)
    _check_inputs(images, reference, labels, height, width, source)
    n, classes = reference.shape
    tolerance = _tolerance(atol, out_dtype, out_scale)

    with _model_file(model, data) as path:
        scores, names, missing, unchanged = _classify_all(path, source, images, classes)

    problems = _label_problems(meta_labels, names, labels, classes)
    result = {
        "runtime": f"mediapipe {package_version('mediapipe')} ImageClassifier",
        "images": int(n),
        "classes": int(classes),
        "output_dtype": out_dtype,
        **_score_agreement(reference, scores, tolerance),
        "labels_match": not problems,
        "label_problems": problems[:10],
        "missing_scores": int(missing),
        "images_unchanged": bool(unchanged),
    }
    result["passed"] = bool(not result["disagreements"] and result["within_tolerance"]
                            and not problems and not missing and unchanged)
    return result


def _score_agreement(reference: np.ndarray, scores: np.ndarray, tolerance: float) -> dict:
    """Top-1 agreement and the largest score difference (MediaPipe's NaN: a missing score)."""
    ours, theirs = reference.argmax(axis=1), np.nan_to_num(scores, nan=-1.0).argmax(axis=1)
    disagree = np.flatnonzero(ours != theirs)
    finite = np.isfinite(scores)
    diff = float(np.max(np.abs(scores[finite] - reference[finite]))) if finite.any() else float("nan")
    return {
        "top1_agreement": float(1.0 - len(disagree) / len(reference)),
        "disagreements": int(len(disagree)),
        "disagreement_indices": [int(i) for i in disagree],
        "max_abs_score_diff": diff,
        "tolerance": tolerance,
        "within_tolerance": bool(finite.all() and diff <= tolerance + 1e-12),
    }


def _model_bytes(model) -> tuple[bytes, str]:
    source = "<bytes>" if isinstance(model, bytes) else str(model)
    try:
        return (model if isinstance(model, bytes) else Path(model).read_bytes()), source
    except OSError as exc:
        raise ModelFileError(f"cannot read {source} ({exc.strerror or exc})",
                             "check the path: pass an existing .tflite file") from None


def _tolerance(atol: float | None, out_dtype: str, out_scale: float) -> float:
    if atol is not None:
        return float(atol)
    if out_dtype == "uint8":  # one quantization step, whatever the output scale is
        return max(UINT8_SCORE_TOLERANCE, out_scale)
    return FLOAT_SCORE_TOLERANCE


def _label_problems(meta_labels, names, labels, classes: int) -> list[str]:
    """How the metadata's and MediaPipe's category names differ from the expected labels."""
    problems = []
    if meta_labels is None:
        problems.append("the model's metadata has no labels")
    elif len(meta_labels) != classes:
        problems.append(f"metadata has {len(meta_labels)} labels, the output has {classes} classes")
    for i in range(classes):
        if meta_labels is not None and i < len(meta_labels) and meta_labels[i] != labels[i]:
            problems.append(f"class {i}: metadata says {meta_labels[i]!r}, expected {labels[i]!r}")
        if names[i] is not None and names[i] != labels[i]:
            problems.append(f"class {i}: MediaPipe says {names[i]!r}, expected {labels[i]!r}")
    return problems


def _model_facts(data: bytes, source: str):
    """Input H, W, output dtype and scale, and the metadata labels (None if unreadable)."""
    try:
        parsed = parse_model(data)
    except PipelineError as exc:
        raise ValidationError(f"{source} is not a loadable TFLite model ({exc.problem})",
                              "run `invoke check-mlkit` on it to see what is wrong") from None
    if len(parsed.inputs) != 1 or len(parsed.outputs) != 1:
        raise ValidationError(
            f"{source} has {len(parsed.inputs)} input(s) and {len(parsed.outputs)} output(s); "
            "MediaPipe's ImageClassifier needs one image input and one score output",
            "run `invoke check-mlkit` on it to see what is wrong")
    inp, out = parsed.tensor(parsed.inputs[0]), parsed.tensor(parsed.outputs[0])
    if len(inp.shape) != 4:
        raise ValidationError(f"{source}: input shape {inp.shape} is not 1xHxWx3",
                              "run `invoke check-mlkit` on it to see what is wrong")
    scale = float(out.scales[0]) if out.scales else 0.0
    try:
        meta_labels = list(read_metadata(data).labels)
    except PipelineError:
        meta_labels = None
    return int(inp.shape[1]), int(inp.shape[2]), str(out.dtype), scale, meta_labels


def _check_inputs(images, reference, labels, height, width, source) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValidationError(
            f"images must be uint8 RGB of shape (N, H, W, 3), got {images.dtype} {images.shape}",
            "pass the dataset's uint8 pixels (e.g. Dataset.x_test), not normalized floats")
    if not len(images):
        raise ValidationError("no images were given", "pass the test split's images (N >= 1)")
    if images.shape[1:3] != (height, width):
        raise ValidationError(
            f"images are {images.shape[1]}x{images.shape[2]} but {source} takes {height}x{width}; "
            "MediaPipe would resize them with its own method, which is not what the app does",
            f"resize to {height}x{width} with pipeline.imageops.resize_rgb first")
    if reference.ndim != 2 or reference.shape[0] != images.shape[0]:
        raise ValidationError(
            f"reference_scores must have shape (N, C) with N = {images.shape[0]} images, "
            f"got {reference.shape}", "pass our interpreter's scores for the same images")
    if reference.shape[1] != len(labels):
        raise ValidationError(
            f"reference_scores have {reference.shape[1]} classes but {len(labels)} labels were given",
            "pass the class names in output order")


def _classify_all(path: str, source: str, images: np.ndarray, classes: int):
    """MediaPipe's scores (N, C) (NaN where a class was not returned), class names, counts."""
    from pipeline._tf import native_stderr_captured  # before mediapipe: it imports TensorFlow

    try:
        import mediapipe as mp
    except ImportError:
        raise ValidationError("MediaPipe is not installed",
                              "pip install -e '.[crosscheck]' (./setup.sh does), or set "
                              "validate.mediapipe = false") from None
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

    scores = np.full((len(images), classes), np.nan)
    names: list[str | None] = [None] * classes
    missing, unchanged = 0, True
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=path),
                                     max_results=classes)
    try:
        with native_stderr_captured():  # C++: "INFO: Created TensorFlow Lite XNNPACK delegate"
            classifier = ImageClassifier.create_from_options(options)
    except Exception as exc:  # noqa: BLE001 - MediaPipe raises ValueError/RuntimeError
        raise ValidationError(f"MediaPipe's ImageClassifier could not load {source}: {exc}",
                              "run `invoke check-mlkit` on it; MediaPipe and ML Kit need "
                              "the same metadata") from None
    with classifier:
        for i, pixels in enumerate(images):
            pixels = np.ascontiguousarray(pixels)
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels)
            unchanged &= bool(image.width == pixels.shape[1] and image.height == pixels.shape[0]
                              and np.array_equal(image.numpy_view(), pixels))
            try:
                result = classifier.classify(image)
            except Exception as exc:  # noqa: BLE001
                raise ValidationError(f"MediaPipe failed to classify image {i}: {exc}",
                                      "run `invoke check-mlkit` on the model") from None
            seen = 0
            for head in result.classifications[:1]:
                for cat in head.categories:
                    if 0 <= cat.index < classes:
                        scores[i, cat.index] = cat.score
                        names[cat.index] = cat.category_name
                        seen += 1
            missing += classes - seen
    return scores, names, missing, unchanged


@contextlib.contextmanager
def _model_file(model, data: bytes):
    """A path MediaPipe can open: the caller's file, or the bytes in a private temporary file."""
    if not isinstance(model, bytes):
        yield str(model)
        return
    fd, path = tempfile.mkstemp(suffix=".tflite", prefix="mediapipe-check-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
