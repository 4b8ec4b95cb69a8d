"""The evaluation set: a fixed sample of the test split and Python's results on it.

Public entry points: `write_eval_set(model_dir)` -> `models/<name>/eval/` and
`ensure_eval_set(model_dir)` (what the APK build calls), `read_eval_set(eval_dir)`,
`load_test_split(model_dir)`, and `write_samples(...)` (`models/<name>/samples/`: a few test
images per class for the app's sample strip).

The set is a seeded, stratified sample of the test split as PNGs at the model's input size
(`eval/images/NNN.png`, lossless: a decoder gets the exact pixels back) and `eval/eval.json`
with, per image, the true label and what the LiteRT interpreter in Python gave for the same
image and the same model (top-1, dequantized scores, raw output), plus the overall and
per-class accuracy. The APK carries this folder as `assets/eval/`; the on-device
instrumentation (`eval/EvalInstrumentation.java`) runs the app's own classifier over it and
`invoke emulator-test` compares the two, image by image.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.artifacts import EVAL_DIR, EVAL_IMAGES, EVAL_JSON, MODEL, ModelDir
from pipeline.config import config_from_dict
from pipeline.errors import DataError, ModelMissingError, ValidationError
from pipeline.fsutil import sha256_bytes, staged_dir
from pipeline.metadata import read_metadata
from pipeline.runlog import package_version
from pipeline.sources import load_split
from pipeline.validate import run_interpreter

EVAL_FORMAT = 1
DEFAULT_EVAL_COUNT = 100
MAX_SAMPLES = 32  # sample images for the app's strip


def load_test_split(model_dir: Path):
    """The dataset `models/<name>/` was validated on, rebuilt from its report's options.

    Uses the stage cache next to the model folder (`<out>/.cache/`) like `invoke model`; raises
    ModelMissingError when there is no report and DataError when the data changed since.
    """
    folder = ModelDir(model_dir)
    report = folder.read_report()
    config = config_from_dict({**report["options"], "out_dir": str(folder.path.parent)})
    dataset = load_split(config)
    recorded = report.get("dataset", {}).get("fingerprint")
    if recorded and recorded != dataset.fingerprint:
        raise DataError(
            f"the dataset of {folder.path} changed since the model was built "
            f"(fingerprint {dataset.fingerprint[:12]} vs {recorded[:12]} in its report)",
            f"rebuild the model on the current data: invoke model --name {folder.name}",
        )
    return dataset


def stratified_sample(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of a seeded sample of `count` items, classes in proportion (largest remainder).

    Each class gets floor(count * share); the remaining slots go to the largest fractional parts
    (ties to the lower class index). Returned sorted (test-split order).
    """
    labels = np.asarray(labels)
    if int(count) < 1 or len(labels) == 0:
        raise DataError(f"cannot sample {count} item(s) from {len(labels)}",
                        "ask for at least 1 image from a non-empty test split")
    count = min(int(count), len(labels))
    classes, sizes = np.unique(labels, return_counts=True)
    exact = count * sizes / len(labels)
    take = np.floor(exact).astype(int)
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - take[i]), i))
    for i in order[: count - int(take.sum())]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@dataclass(frozen=True)
class EvalSet:
    """An evaluation set and Python's results on it (what `eval/eval.json` holds).

    Attributes:
      images: (N, H, W, 3) uint8 RGB at the model's input size.
      labels: (N,) true class indices; test_indices: their rows in the test split.
      scores: (N, C) dequantized interpreter scores; raw: the output tensor values as given.
      doc: the JSON document written to eval.json.
    """

    images: np.ndarray
    labels: np.ndarray
    test_indices: np.ndarray
    scores: np.ndarray
    raw: np.ndarray
    doc: dict = field(repr=False)


def build_eval_set(model: bytes, dataset, *, count: int = DEFAULT_EVAL_COUNT, seed: int = 0,
                   variant: str = "") -> EvalSet:
    """Sample the test split and run the model on it in Python, as validation does."""
    if len(dataset.y_test) == 0:
        raise DataError("the test split is empty, so there is nothing to evaluate on",
                        "use a dataset with at least 3 images per class")
    meta = read_metadata(model)
    if tuple(meta.labels) != tuple(dataset.class_names):
        raise ValidationError(
            f"the model's labels {list(meta.labels)[:5]}... differ from the dataset's classes "
            f"{list(dataset.class_names)[:5]}...",
            "rebuild the model on this dataset (invoke model --force)",
        )
    idx = stratified_sample(dataset.y_test, count, seed)
    images = np.ascontiguousarray(dataset.x_test[idx])
    labels = dataset.y_test[idx].astype(np.int64)
    result = run_interpreter(model, images)
    top1 = result.scores.argmax(axis=1)
    n_classes = len(meta.labels)
    per_total = np.bincount(labels, minlength=n_classes)
    per_correct = np.bincount(labels[top1 == labels], minlength=n_classes)
    files = [f"{EVAL_IMAGES}/{i:03d}.png" for i in range(len(idx))]
    doc = {
        "format": EVAL_FORMAT,
        "model": MODEL,
        "model_sha256": sha256_bytes(model),
        "variant": variant,
        "labels": list(meta.labels),
        "height": int(images.shape[1]),
        "width": int(images.shape[2]),
        "count": int(len(idx)),
        "seed": int(seed),
        "dataset_fingerprint": dataset.fingerprint,
        "python": {
            "runtime": f"ai_edge_litert {package_version('ai-edge-litert')} interpreter",
            "correct": int((top1 == labels).sum()),
            "accuracy": float(np.mean(top1 == labels)),
            "per_class_correct": [int(v) for v in per_correct],
            "per_class_total": [int(v) for v in per_total],
        },
        "images": [
            {
                "file": files[i],
                "test_index": int(idx[i]),
                "label": int(labels[i]),
                "top1": int(top1[i]),
                "scores": [float(s) for s in result.scores[i]],
                "raw": [float(r) if np.issubdtype(result.raw.dtype, np.floating) else int(r)
                        for r in result.raw[i]],
            }
            for i in range(len(idx))
        ],
    }
    return EvalSet(images, labels, idx, result.scores, result.raw, doc)


def write_eval_set(model_dir: Path, *, dataset=None, count: int = DEFAULT_EVAL_COUNT,
                   seed: int | None = None) -> Path:
    """Write `<model_dir>/eval/` (PNGs + eval.json) for `<model_dir>/model.tflite`; return it.

    `dataset`: the Dataset the model was validated on (None = rebuild it from report.json).
    `seed`: None = the data seed recorded in report.json (the split's seed). The folder is
    replaced as a whole.
    """
    folder = ModelDir(model_dir)
    model = folder.model_bytes()
    report = folder.read_report()
    if dataset is None:
        dataset = load_test_split(model_dir)
    if seed is None:
        seed = int(report.get("options", {}).get("data", {}).get("seed", 0))
    ev = build_eval_set(model, dataset, count=count, seed=seed,
                        variant=str(report.get("deployable", "")))
    dest = folder.eval_dir
    with staged_dir(dest) as stage:
        (stage / EVAL_IMAGES).mkdir()
        for entry, pixels in zip(ev.doc["images"], ev.images):
            Image.fromarray(pixels, "RGB").save(stage / entry["file"], format="PNG")
        (stage / EVAL_JSON).write_text(json.dumps(ev.doc, indent=1) + "\n", encoding="utf-8")
    return dest


def ensure_eval_set(model_dir: Path, *, dataset=None) -> Path:
    """`<model_dir>/eval/`, written first when missing or made for another model.tflite.

    What the APK build calls before bundling (the folder goes to `assets/eval/`). A folder whose
    report records checksums has its evaluation set checked instead: a changed file is an
    IntegrityError, and nothing is regenerated from a model that failed its check.
    """
    folder = ModelDir(model_dir)
    dest = folder.eval_dir
    if folder.recorded_checksums() is not None:  # written with the model: checked, never rewritten
        folder.verify(f"{EVAL_DIR}/")
        folder.model_bytes()
        return dest
    doc = folder.read_eval_doc()
    try:
        current = (doc is not None and doc.get("format") == EVAL_FORMAT
                   and doc.get("model_sha256") == sha256_bytes(folder.model_bytes())
                   and all((dest / e["file"]).is_file() for e in doc.get("images", [])))
    except (KeyError, TypeError):
        current = False
    return dest if current else write_eval_set(model_dir, dataset=dataset)


def read_eval_set(eval_dir: Path) -> tuple[dict, np.ndarray]:
    """eval.json and the decoded RGB pixels of its images, (N, H, W, 3) uint8."""
    eval_dir = Path(eval_dir)
    try:
        doc = json.loads((eval_dir / EVAL_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelMissingError(
            f"no evaluation set at {eval_dir / EVAL_JSON}",
            "write it with pipeline.evalset.write_eval_set(models/<name>) (invoke build-apk does)",
        ) from None
    images = []
    for entry in doc["images"]:
        with Image.open(eval_dir / entry["file"]) as img:
            images.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
    shape = (0, doc["height"], doc["width"], 3)
    return doc, (np.stack(images) if images else np.zeros(shape, np.uint8))


def write_samples(images, labels, class_names, dest: Path, per_class: int = 2) -> tuple[Path, ...]:
    """Save sample images for the app's strip as PNG files in `dest` (for the model stage).

    `images`: (N, H, W, 3) uint8 RGB, e.g. the test split; `labels`: N class indices into
    `class_names`. Takes the first `per_class` images of each class, round-robin over the
    classes, at most MAX_SAMPLES in all; files are named `<nn>_<class>.png` so the strip
    shows them by class. PNG keeps the pixels exact (JPEG would not).
    """
    labels = np.asarray(labels)
    picks = [[int(i) for i in np.flatnonzero(labels == c)[:per_class]] for c in range(len(class_names))]
    order = [row[k] for k in range(per_class) for row in picks if k < len(row)][:MAX_SAMPLES]
    shape, dtype = tuple(np.shape(images)), getattr(images, "dtype", None)
    if len(shape) != 4 or shape[-1] != 3 or dtype != np.uint8 or shape[0] != len(labels):
        raise DataError(
            f"sample images must be (N, H, W, 3) uint8 with one label each, got {shape} {dtype} "
            f"and {len(labels)} labels", "pass the dataset's x_test and y_test",
        )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for n, (image, label) in enumerate(zip(np.asarray(images[order]), labels[order])):  # the picks only
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(class_names[int(label)])).strip("._") or "class"
        path = dest / f"{n:02d}_{safe}.png"
        Image.fromarray(image).save(path)
        written.append(path)
    return tuple(written)
