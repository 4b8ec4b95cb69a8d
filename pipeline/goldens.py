"""What Python expects the app to do, written down: the evaluation set and the golden vectors.

Two outputs, both from a built `models/<name>/` and the test split it was validated on:

* `write_eval_set(model_dir)` -> `models/<name>/eval/`: a fixed, seeded, stratified sample of the
  test split as PNGs at the model's input size (`eval/images/NNN.png`, lossless: a decoder gets the
  exact pixels back) and `eval/eval.json` with, per image, the true label and what the LiteRT
  interpreter in Python gave for the same image and the same model (top-1, dequantized scores,
  raw output), plus the overall and per-class accuracy. The APK carries this folder as
  `assets/eval/`; the on-device instrumentation (`eval/EvalInstrumentation.java`) runs the app's
  own classifier over it and `invoke emulator-test` compares the two, image by image.

* `write_goldens(model_dir, dest)` -> golden vectors for the host-JVM tests of the app's pure Java
  classes (`android_app/app/src/test/`): for a set of RGB images (the eval PNGs, and synthetic
  images of other sizes so the Java resize is exercised), the exact input-tensor bytes Python
  feeds the interpreter (`imageops.resize_rgb`, then `validate.input_tensor`), the interpreter's
  raw output bytes and the ranked labels and scores Python derives from them; for the deployable
  model and the float32 variant (the float normalization path). `run_jvm_goldens(dest)` compiles
  the app's `core` classes with those tests, runs them with JUnit and returns what Java produced.

Layout of a golden folder (plain text and raw bytes, so the Java side needs no JSON library):
  models.tsv   one line per model: key, file, labels file, input type, height, width, input
               scale bits, input zero point, output type, output scale bits, output zero point,
               classes, mean bits (3, comma-separated), std bits (3), as Python reads them
  cases.tsv    one line per (image, model): id, model key, source (eval|synthetic), width,
               height, true label (-1 if none), rgb file, input file, output file, ranking
               (class indices, best first, ties by index), scores (float32 bits, class order)
  models/      the .tflite files and their labels (one per line, as Python's reader gives them)
  data/        <image>.rgb (packed RGB, row-major; <image>.png beside it for eval images, the
               file the APK ships), <id>.in (input tensor), <id>.out (output tensor)
Floats are written as the hex bits of their float32 value so both sides compare exactly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.errors import DataError, ModelMissingError, ToolchainError, ValidationError
from pipeline.fsutil import sha256_bytes, staged_dir

EVAL_DIR = "eval"  # in models/<name>/ and in the APK's assets
EVAL_JSON = "eval.json"
EVAL_IMAGES = "images"
EVAL_FORMAT = 1
DEFAULT_EVAL_COUNT = 100
# Synthetic golden images (height, width): smaller than, equal to and larger than the input,
# including >= 2x in one or both axes (box pre-shrink) and odd sizes (centre crop, rounding).
SYNTHETIC_SIZES = ((1, 1), (5, 7), (31, 33), (47, 20), (64, 64), (96, 17), (12, 70), (123, 250), (300, 200))
GOLDEN_FORMAT = 1
JUNIT_MAIN = "org.junit.runner.JUnitCore"
JVM_TIMEOUT_S = 300
_TEST_SOURCES = Path("app/src/test/java")
_MAIN_SOURCES = Path("app/src/main/java")


# ----------------------------------------------------------------------------- the test split


def load_test_split(model_dir: Path):
    """The dataset `models/<name>/` was validated on, rebuilt from its report's options.

    Uses the stage cache next to the model folder (`<out>/.cache/`) like `invoke model`; raises
    ModelMissingError when there is no report and DataError when the data changed since.
    """
    from pipeline.config import config_from_dict
    from pipeline.flow import load_split

    model_dir = Path(model_dir)
    report = _report(model_dir)
    config = config_from_dict({**report["options"], "out_dir": str(model_dir.parent)})
    dataset = load_split(config)
    recorded = report.get("dataset", {}).get("fingerprint")
    if recorded and recorded != dataset.fingerprint:
        raise DataError(
            f"the dataset of {model_dir} changed since the model was built "
            f"(fingerprint {dataset.fingerprint[:12]} vs {recorded[:12]} in report.json)",
            f"rebuild the model on the current data: invoke model --name {model_dir.name}",
        )
    return dataset


def _report(model_dir: Path) -> dict:
    from pipeline.flow import read_report

    return read_report(model_dir)


def _model_bytes(model_dir: Path, file: str = "model.tflite") -> bytes:
    path = Path(model_dir) / file
    try:
        return path.read_bytes()
    except OSError:
        raise ModelMissingError(
            f"no model at {path}", f"build it first: invoke model --name {Path(model_dir).name}"
        ) from None


# ----------------------------------------------------------------------------- the eval set


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
    from pipeline.metadata import read_metadata
    from pipeline.validate import run_interpreter

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
        "model": "model.tflite",
        "model_sha256": sha256_bytes(model),
        "variant": variant,
        "labels": list(meta.labels),
        "height": int(images.shape[1]),
        "width": int(images.shape[2]),
        "count": int(len(idx)),
        "seed": int(seed),
        "dataset_fingerprint": dataset.fingerprint,
        "python": {
            "runtime": f"ai_edge_litert {_version('ai-edge-litert')} interpreter",
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
    from PIL import Image

    model_dir = Path(model_dir)
    model = _model_bytes(model_dir)
    report = _report(model_dir)
    if dataset is None:
        dataset = load_test_split(model_dir)
    if seed is None:
        seed = int(report.get("options", {}).get("data", {}).get("seed", 0))
    ev = build_eval_set(model, dataset, count=count, seed=seed,
                        variant=str(report.get("deployable", "")))
    dest = model_dir / EVAL_DIR
    with staged_dir(dest) as stage:
        (stage / EVAL_IMAGES).mkdir()
        for entry, pixels in zip(ev.doc["images"], ev.images):
            Image.fromarray(pixels, "RGB").save(stage / entry["file"], format="PNG")
        (stage / EVAL_JSON).write_text(json.dumps(ev.doc, indent=1) + "\n", encoding="utf-8")
    return dest


def ensure_eval_set(model_dir: Path, *, dataset=None) -> Path:
    """`<model_dir>/eval/`, written first when missing or made for another model.tflite.

    What the APK build calls before bundling (the folder goes to `assets/eval/`).
    """
    model_dir = Path(model_dir)
    dest = model_dir / EVAL_DIR
    try:
        doc = json.loads((dest / EVAL_JSON).read_text(encoding="utf-8"))
        current = (doc.get("format") == EVAL_FORMAT
                   and doc.get("model_sha256") == sha256_bytes(_model_bytes(model_dir))
                   and all((dest / e["file"]).is_file() for e in doc.get("images", [])))
    except (OSError, ValueError, KeyError, TypeError):
        current = False
    return dest if current else write_eval_set(model_dir, dataset=dataset)


def read_eval_set(eval_dir: Path) -> tuple[dict, np.ndarray]:
    """eval.json and the decoded RGB pixels of its images, (N, H, W, 3) uint8."""
    from PIL import Image

    eval_dir = Path(eval_dir)
    try:
        doc = json.loads((eval_dir / EVAL_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelMissingError(
            f"no evaluation set at {eval_dir / EVAL_JSON}",
            "write it with pipeline.goldens.write_eval_set(models/<name>) (invoke build-apk does)",
        ) from None
    images = []
    for entry in doc["images"]:
        with Image.open(eval_dir / entry["file"]) as img:
            images.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
    shape = (0, doc["height"], doc["width"], 3)
    return doc, (np.stack(images) if images else np.zeros(shape, np.uint8))


# ----------------------------------------------------------------------------- golden vectors


@dataclass(frozen=True)
class _Golden:
    key: str
    model: bytes
    meta: object
    inp: dict
    out: dict


def _interpret(model: bytes, tensors: np.ndarray, inp: dict, out: dict) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model, num_threads=1)
    interp.allocate_tensors()
    raws = []
    for t in tensors:
        interp.set_tensor(inp["index"], t[None])
        interp.invoke()
        raws.append(interp.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(raws)


def _details(model: bytes) -> tuple[dict, dict]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model)
    return interp.get_input_details()[0], interp.get_output_details()[0]


def _bits(values) -> str:
    return ",".join(f"{v:08x}" for v in np.asarray(values, dtype="<f4").view("<u4"))


def _three(values) -> list[float]:
    values = list(values)
    return values * 3 if len(values) == 1 else values


def ranking(scores: np.ndarray) -> np.ndarray:
    """Class indices best first; equal scores in class-index order (as OutputDecoder.top)."""
    scores = np.asarray(scores, dtype=np.float32)
    return np.lexsort((np.arange(len(scores)), -scores))


def synthetic_images(sizes=SYNTHETIC_SIZES, seed: int = 0) -> list[np.ndarray]:
    """Seeded RGB images of the given (height, width): noise, a gradient and flat areas."""
    rng = np.random.default_rng(seed)
    out = []
    for k, (h, w) in enumerate(sizes):
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        if k % 2:  # smooth content too: gradients exercise the fixed-point weights
            yy, xx = np.mgrid[0:h, 0:w]
            img[..., 0] = (255 * xx // max(w - 1, 1)).astype(np.uint8)
            img[..., 1] = (255 * yy // max(h - 1, 1)).astype(np.uint8)
            img[: h // 3, : w // 3] = (0, 255, 17)
        out.append(img)
    return out


def write_goldens(model_dir: Path, dest: Path, *, variants=("float32",), eval_dir: Path | None = None,
                  synthetic=SYNTHETIC_SIZES, seed: int = 0) -> dict:
    """Write golden vectors for `<model_dir>/model.tflite` (key "model") and `variants/<v>.tflite`.

    Images: the eval set (`eval_dir`, default `<model_dir>/eval/` when it exists) and synthetic
    images of the `synthetic` sizes. Returns a summary (models, case counts). `dest` is replaced.
    """
    from pipeline.imageops import resize_rgb
    from pipeline.metadata import read_metadata
    from pipeline.validate import dequantize, input_tensor

    model_dir = Path(model_dir)
    models = [("model", _model_bytes(model_dir))]
    for v in variants:
        models.append((v, _model_bytes(model_dir, f"variants/{v}.tflite")))
    goldens = []
    for key, data in models:
        inp, out = _details(data)
        goldens.append(_Golden(key, data, read_metadata(data), inp, out))

    eval_dir = Path(eval_dir) if eval_dir is not None else model_dir / EVAL_DIR
    images: list[tuple[str, str, int, np.ndarray]] = []  # (name, source, true label, rgb)
    pngs: dict[str, Path] = {}
    if (eval_dir / EVAL_JSON).is_file():
        doc, pixels = read_eval_set(eval_dir)
        for entry, px in zip(doc["images"], pixels):
            name = f"eval{Path(entry['file']).stem}"
            images.append((name, "eval", entry["label"], px))
            pngs[name] = eval_dir / entry["file"]
    for k, px in enumerate(synthetic_images(synthetic, seed)):
        images.append((f"syn{k}_{px.shape[1]}x{px.shape[0]}", "synthetic", -1, px))
    if not images:
        raise DataError("no images for golden vectors (no eval set and no synthetic sizes)",
                        f"write the eval set first: pipeline.goldens.write_eval_set({model_dir})")

    model_rows, case_rows = [], []
    with staged_dir(Path(dest)) as stage:
        (stage / "models").mkdir()
        (stage / "data").mkdir()
        for name, _, _, px in images:
            (stage / "data" / f"{name}.rgb").write_bytes(px.tobytes())
            if name in pngs:  # the asset as shipped, for a decoder check on the Java side
                shutil.copyfile(pngs[name], stage / "data" / f"{name}.png")
        for g in goldens:
            (stage / "models" / f"{g.key}.tflite").write_bytes(g.model)
            (stage / "models" / f"{g.key}.labels.txt").write_text(
                "".join(f"{label}\n" for label in g.meta.labels), encoding="utf-8")
            h, w = int(g.inp["shape"][1]), int(g.inp["shape"][2])
            in_scale, in_zero = g.inp["quantization"]
            out_scale, out_zero = g.out["quantization"]
            model_rows.append([
                g.key, f"models/{g.key}.tflite", f"models/{g.key}.labels.txt",
                np.dtype(g.inp["dtype"]).name.upper(), h, w, _bits([in_scale]), int(in_zero),
                np.dtype(g.out["dtype"]).name.upper(), _bits([out_scale]), int(out_zero),
                len(g.meta.labels), _bits(_three(g.meta.mean)), _bits(_three(g.meta.std)),
            ])
            resized = np.stack([resize_rgb(px, h, w) for _, _, _, px in images])
            tensors = input_tensor(resized, g.inp, g.meta.mean, g.meta.std)
            raw = _interpret(g.model, tensors, g.inp, g.out)
            scores = dequantize(raw, g.out)
            for i, (name, source, label, px) in enumerate(images):
                case = f"{name}@{g.key}"
                (stage / "data" / f"{case}.in").write_bytes(_le(tensors[i]))
                (stage / "data" / f"{case}.out").write_bytes(_le(raw[i]))
                case_rows.append([
                    case, g.key, source, px.shape[1], px.shape[0], label, f"data/{name}.rgb",
                    f"data/{case}.in", f"data/{case}.out",
                    ",".join(str(int(c)) for c in ranking(scores[i])), _bits(scores[i]),
                ])
        _write_tsv(stage / "models.tsv", model_rows)
        _write_tsv(stage / "cases.tsv", case_rows)
        (stage / "README.txt").write_text(
            f"Golden vectors (format {GOLDEN_FORMAT}) written by pipeline/goldens.py from "
            f"{model_dir}.\nSee the module docstring for the layout.\n", encoding="utf-8")
    return {"dest": str(dest), "models": [g.key for g in goldens], "images": len(images),
            "cases": len(case_rows)}


def _le(array: np.ndarray) -> bytes:
    """Tensor values as the interpreter holds them on a little-endian device."""
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def _write_tsv(path: Path, rows) -> None:
    lines = []
    for row in rows:
        cells = [str(c) for c in row]
        if any("\t" in c or "\n" in c for c in cells):
            raise ValueError(f"a golden-vector field contains a tab or line break: {cells}")
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_cases(goldens_dir: Path) -> list[dict]:
    """cases.tsv as dicts (id, model, source, width, height, label, ranking, scores)."""
    cases = []
    for line in (Path(goldens_dir) / "cases.tsv").read_text(encoding="utf-8").splitlines():
        c = line.split("\t")
        cases.append({
            "id": c[0], "model": c[1], "source": c[2], "width": int(c[3]), "height": int(c[4]),
            "label": int(c[5]), "ranking": [int(x) for x in c[9].split(",")],
            "scores": _floats(c[10]),
        })
    return cases


def _floats(bits: str) -> list[float]:
    if not bits:
        return []
    return [float(x) for x in np.array([int(b, 16) for b in bits.split(",")], "<u4").view("<f4")]


# ----------------------------------------------------------------------------- host JVM


@dataclass(frozen=True)
class JvmRun:
    """One run of the host-JVM golden tests.

    Attributes:
      passed: JUnit reported success.
      tests: tests run; failures: failed tests.
      output: JUnit's console output (the failures' messages name the first differing bytes).
      results: per case id, what Java produced: input_equal, ranking_equal, top1, scores.
      seconds: compile and run times.
    """

    passed: bool
    tests: int
    failures: int
    output: str
    results: dict
    seconds: dict


def jvm_tools() -> tuple[Path, Path]:
    """(javac, java) from JAVA_HOME or PATH, or ToolchainError with the install command."""
    home = os.environ.get("JAVA_HOME")
    found = []
    for name in ("javac", "java"):
        path = Path(home) / "bin" / name if home else None
        if path is None or not path.is_file():
            which = shutil.which(name)
            path = Path(which) if which else None
        if path is None:
            raise ToolchainError(
                f"{name} (a JDK) is not on PATH, so the app's Java classes cannot be tested on the host",
                "install a JDK: sudo apt-get install default-jdk-headless (or set JAVA_HOME)",
            )
        found.append(path)
    return found[0], found[1]


def junit_classpath(options=None) -> list[Path]:
    """JUnit 4 and Hamcrest jars, fetched once with Maven into the cache outside the repository."""
    from pipeline.android.toolchain import MAVEN_ARTIFACTS, ToolchainOptions, resolve_artifact

    options = options or ToolchainOptions(install=False)
    return [resolve_artifact(MAVEN_ARTIFACTS[k], options) for k in ("junit", "hamcrest")]


def core_sources(app_dir: Path) -> list[Path]:
    """The app's pure Java classes: every `core/` package under app/src/main/java."""
    root = Path(app_dir) / _MAIN_SOURCES
    files = sorted(p for p in root.rglob("*.java") if p.parent.name == "core")
    if not files:
        raise ToolchainError(f"no core Java sources under {root}/**/core/",
                             "pass the repository's android_app/ folder")
    bad = [p for p in files if re.search(r"^\s*import\s+(android|androidx)\.", p.read_text("utf-8"), re.M)]
    if bad:
        raise ValidationError(
            f"core classes must not use android.* (they run on the host JVM): {', '.join(map(str, bad))}",
            "move the Android-specific code out of the core package",
        )
    return files


def host_test_sources(app_dir: Path) -> list[Path]:
    return sorted((Path(app_dir) / _TEST_SOURCES).rglob("*.java"))


def run_jvm_goldens(goldens_dir: Path, *, app_dir: Path = Path("android_app"),
                    work_dir: Path | None = None, classpath: list[Path] | None = None,
                    timeout: int = JVM_TIMEOUT_S) -> JvmRun:
    """Compile the app's core classes + host tests (`javac --release 8`) and run them with JUnit.

    The tests read `goldens_dir` (system property `goldens.dir`) and write what Java produced
    to `jvm-results.tsv` there (`goldens.results`). Raises ToolchainError when no JDK or JUnit.
    """
    javac, java = jvm_tools()
    jars = classpath if classpath is not None else junit_classpath()
    goldens_dir = Path(goldens_dir).resolve()
    sources = core_sources(app_dir) + host_test_sources(app_dir)
    tests = _test_classes(Path(app_dir) / _TEST_SOURCES)
    own_tmp = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="jvm-goldens-")) if own_tmp else Path(work_dir)
    try:
        classes = work / "classes"
        classes.mkdir(parents=True, exist_ok=True)
        cp = os.pathsep.join(str(p) for p in jars)
        t0 = time.perf_counter()
        res = subprocess.run(
            [str(javac), "--release", "8", "-encoding", "UTF-8", "-nowarn", "-Xlint:-options",
             "-cp", cp, "-d", str(classes), *map(str, sources)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        t_compile = time.perf_counter() - t0
        if res.returncode != 0:
            raise ValidationError(f"javac failed on the app's core classes and host tests:\n"
                                  f"{_tail(res.stdout, 30)}",
                                  "fix the Java error above (Java 8, no android.* in core/)")
        results_file = goldens_dir / "jvm-results.tsv"
        results_file.unlink(missing_ok=True)
        t0 = time.perf_counter()
        res = subprocess.run(
            [str(java), f"-Dgoldens.dir={goldens_dir}", f"-Dgoldens.results={results_file}",
             "-Dfile.encoding=UTF-8", "-cp", os.pathsep.join([str(classes), cp]), JUNIT_MAIN, *tests],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        t_run = time.perf_counter() - t0
    except subprocess.TimeoutExpired as exc:
        raise ValidationError(f"the host-JVM tests did not finish within {timeout} s ({exc.cmd[0]})",
                              "run them by hand to see where they hang") from None
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    ok = re.search(r"^OK \((\d+) tests?\)", res.stdout, re.M)
    bad = re.search(r"^Tests run: (\d+),\s+Failures: (\d+)", res.stdout, re.M)
    tests_run = int(ok.group(1)) if ok else int(bad.group(1)) if bad else 0
    failures = 0 if ok else int(bad.group(2)) if bad else 1
    return JvmRun(passed=res.returncode == 0 and bool(ok), tests=tests_run, failures=failures,
                  output=res.stdout, results=_read_results(results_file),
                  seconds={"compile": round(t_compile, 2), "run": round(t_run, 2)})


def _test_classes(root: Path) -> list[str]:
    names = []
    for p in sorted(root.rglob("*Test.java")):
        names.append(".".join(p.relative_to(root).with_suffix("").parts))
    if not names:
        raise ToolchainError(f"no *Test.java host tests under {root}", "restore android_app/app/src/test/")
    return names


def _read_results(path: Path) -> dict:
    out = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        c = line.split("\t")
        if len(c) < 5:
            continue
        out[c[0]] = {"input_equal": c[1] == "1", "ranking_equal": c[2] == "1", "top1": int(c[3]),
                     "scores": _floats(c[4])}
    return out


def _tail(text: str, n: int) -> str:
    return "\n".join((text or "").strip().splitlines()[-n:])


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"
