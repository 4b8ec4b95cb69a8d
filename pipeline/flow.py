"""The main job: dataset -> trained, pruned, int8 TFLite model with metadata, validated.

Public entry point: `run_model(config, force=False) -> ModelResult`. It writes
`<out_dir>/<name>/` (model.tflite, labels.txt, variants/, samples/, eval/, report.json,
report.html) in one atomic rename, and only after every gate on the deployable model has
passed: the int8 quantization spec, accuracy and agreement with Keras, ML Kit's requirements,
MediaPipe's agreement, and the host runtimes' agreement on the evaluation set.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.architectures import ArchitectureSpec, get_spec, prepare_weights
from pipeline.cache import StageCache, stage_key
from pipeline.config import PipelineConfig, config_from_dict
from pipeline.convert import VARIANTS
from pipeline.data import Dataset, dataset_key, load_dataset
from pipeline.errors import ModelMissingError, ValidationError
from pipeline.fsutil import ensure_writable_dir, staged_dir
from pipeline.mlkit import check_mlkit

REPORT_VERSION = 3
APP_DIR = Path(__file__).resolve().parent.parent / "android_app"  # the app's Java (fidelity: JVM row)


@dataclass(frozen=True)
class ModelResult:
    """Where the artifacts are and what the report says; `reused` when nothing was rebuilt."""

    model_dir: Path
    report: dict
    reused: bool

    @property
    def model_path(self) -> Path:
        return self.model_dir / "model.tflite"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Timer:
    """Times named stages (`with timer("convert"):`) and announces each one through `log`."""

    def __init__(self, log: Callable[[str], None] = _log):
        self.times: dict[str, float] = {}
        self.log = log

    def __call__(self, stage: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()
                timer.log(f"==> {stage}")

            def __exit__(self, *exc):
                timer.times[stage] = round(time.perf_counter() - self.t0, 2)
                return False

        return _Ctx()


def run_model(config: PipelineConfig, force: bool = False, log: Callable[[str], None] = _log,
              verbose: int = 2) -> ModelResult:
    """Run every model stage for `config`, reusing cached stages unless `force`."""
    out_root = ensure_writable_dir(Path(config.out_dir))
    model_dir = out_root / config.name
    spec = get_spec(config.model.architecture)
    size = config.data.image_size or spec.default_size
    prepare_weights(config.model.architecture, size, config.model.width, config.model.weights)
    cache = StageCache(out_root / ".cache", enabled=not force)
    timer = _Timer(log)

    data_key = dataset_key(config.data, size)
    final_key = stage_key(data_key, config.model, config.train, config.prune, config.convert,
                          config.metadata, config.validate, config.name, REPORT_VERSION)
    reused = _reuse(model_dir, final_key) if not force else None
    if reused is not None:
        log(f"==> {model_dir}: inputs and options unchanged, reusing it (use --force to rebuild)")
        return ModelResult(model_dir, reused, True)

    with timer("data"):
        dataset, _ = _dataset(config, cache, log)

    sources = _Sources(config, dataset, cache, timer, data_key, verbose)
    variants = _convert_all(config, dataset, spec, sources, timer, log)
    report = _report(config, dataset, spec, sources, variants, timer, final_key)
    with timer("check-mlkit"):
        report["mlkit"] = check_mlkit(variants[config.convert.deployable]["bytes"]).as_dict()
    _gate(config, report)
    keras_scores = sources.test_scores(VARIANTS[config.convert.deployable].source)
    _write(model_dir, config, dataset, variants, report, keras_scores, timer)
    log(f"==> report: {model_dir / 'report.html'}")
    return ModelResult(model_dir, report, False)


def train_only(config: PipelineConfig, force: bool = False, verbose: int = 2) -> dict:
    """Load the data and train (or reuse) the float baseline; report its test accuracy."""
    out_root = ensure_writable_dir(Path(config.out_dir))
    size = config.data.image_size or get_spec(config.model.architecture).default_size
    prepare_weights(config.model.architecture, size, config.model.width, config.model.weights)
    cache = StageCache(out_root / ".cache", enabled=not force)
    dataset, data_key = _dataset(config, cache, _log)
    sources = _Sources(config, dataset, cache, _Timer(), data_key, verbose)
    scores = sources.test_scores("baseline")
    return {
        "test_accuracy": float(np.mean(scores.argmax(1) == dataset.y_test)),
        "reused": sources.reused["baseline"],
        "path": str(cache.entry("keras-baseline", sources.key("baseline"))),
    }


def read_report(model_dir: Path) -> dict:
    """`<model_dir>/report.json`, or ModelMissingError saying how to build (or rebuild) it."""
    path = Path(model_dir) / "report.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ModelMissingError(
            f"no model report at {path}",
            f"build the model first: invoke model --name {Path(model_dir).name}",
        ) from None
    except ValueError as exc:
        raise ModelMissingError(
            f"{path} is not valid JSON ({exc})",
            f"rebuild the model: invoke model --name {Path(model_dir).name} --force",
        ) from None


def evaluate_existing(config: PipelineConfig) -> dict:
    """Validate the files in models/<name>/ again, on the test split recorded in its report."""
    from pipeline.validate import validate_variant

    model_dir = Path(config.out_dir) / config.name
    saved = read_report(model_dir)
    cfg = config_from_dict({**saved["options"], "out_dir": config.out_dir})
    cfg = replace(cfg, validate=config.validate)
    cache = StageCache(Path(cfg.out_dir) / ".cache")
    dataset, data_key = _dataset(cfg, cache, _log)
    sources = _Sources(cfg, dataset, cache, _Timer(), data_key, verbose=0)
    files = {saved["deployable"]: model_dir / "model.tflite"}
    files.update({p.stem: p for p in sorted((model_dir / "variants").glob("*.tflite"))})
    variants = {}
    for name, path in files.items():
        variant = VARIANTS[name]
        _log(f"==> validate:{name}")
        variants[name] = validate_variant(
            path.read_bytes(), dataset.x_test, dataset.y_test,
            sources.test_scores(variant.source), quantized=variant.recipe == "int8",
            threads=cfg.validate.threads, latency_runs=cfg.validate.latency_runs,
        )
    return {**saved, "variants": variants}


def load_split(config: PipelineConfig, log: Callable[[str], None] | None = None) -> Dataset:
    """The dataset `config` describes, from the stage cache next to its models (or built)."""
    cache = StageCache(Path(config.out_dir) / ".cache")
    return _dataset(config, cache, log or (lambda msg: None))[0]


def cached_keras_scores(config: PipelineConfig, dataset: Dataset, source: str) -> np.ndarray | None:
    """Test-split scores of a Keras source if it is in the stage cache; None (never trains)."""
    cache = StageCache(Path(config.out_dir) / ".cache")
    sources = _Sources(config, dataset, cache, _Timer(), dataset.fingerprint, verbose=0)
    if not (cache.entry(f"keras-{source}", sources.key(source)) / ".complete").is_file():
        return None
    return sources.test_scores(source)


def _dataset(config: PipelineConfig, cache: StageCache, log) -> tuple[Dataset, str]:
    size = config.data.image_size or get_spec(config.model.architecture).default_size
    key = dataset_key(config.data, size)
    dataset, _ = cache.get_or_make(
        "data", key, lambda d: _save_dataset(load_dataset(config.data, size, _progress(log)), d),
        _load_dataset,
    )
    log(f"    {len(dataset.class_names)} classes, train/val/test = "
        f"{len(dataset.y_train)}/{len(dataset.y_val)}/{len(dataset.y_test)}, "
        f"{len(dataset.skipped)} file(s) skipped")
    for path, reason in dataset.skipped[:20]:
        log(f"    skipped {path}: {reason}")
    if len(dataset.skipped) > 20:
        log(f"    ... and {len(dataset.skipped) - 20} more (all listed in report.json)")
    return dataset, key


# ---------------------------------------------------------------------------------------------
# Keras sources: each trained once per content key, built only if a variant needs it.

@dataclass(frozen=True)
class Source:
    """A Keras model that variants are converted from.

    Attributes:
      name: registry key, named by `Variant.source`.
      parent: the source it starts from (None for the float baseline).
      options: config -> the options that shape this source (part of its cache key).
      build: (parent model or None, dataset, config, verbose) -> trained tf_keras model.
      load: folder -> model saved as `model.h5` there (override for custom layers, e.g. QAT).
    """

    name: str
    parent: str | None
    options: Callable[[PipelineConfig], tuple]
    build: Callable
    load: Callable[[Path], object] | None = None


def _build_baseline(parent, dataset, c: PipelineConfig, verbose):
    from pipeline.train import train_baseline

    return train_baseline(dataset, c.model, c.train, verbose=verbose)


def _build_pruned(parent, dataset, c: PipelineConfig, verbose):
    from pipeline.prune import prune_model

    return prune_model(parent, dataset, c.model, c.prune, batch_size=c.train.batch_size,
                       seed=c.train.seed, verbose=verbose, train_options=c.train)


def _optimize(fn: str) -> Callable:
    """`pipeline.optimize.<fn>`, imported when first called (QAT, PQAT and 2:4 sources)."""

    def call(*args):
        from pipeline import optimize

        return getattr(optimize, fn)(*args)

    return call


SOURCES: dict[str, Source] = {
    "baseline": Source("baseline", None, lambda c: (c.model, c.train), _build_baseline),
    "pruned": Source("pruned", "baseline",
                     lambda c: (c.prune, c.train.batch_size, c.train.seed), _build_pruned),
    "qat": Source("qat", "baseline", _optimize("qat_options"), _optimize("qat_model"),
                  _optimize("load_quantized")),
    "pqat": Source("pqat", "pruned", _optimize("qat_options"), _optimize("pqat_model"),
                   _optimize("load_quantized")),
    "sparse24": Source("sparse24", "baseline", _optimize("sparse24_options"),
                       _optimize("sparse24_model")),
}


def register_source(source: Source) -> None:
    """Add a Keras source (optimization presets use this, with `convert.register_variant`)."""
    SOURCES[source.name] = source


class _Sources:
    """The Keras sources of one run: each built once per content key, and only if needed."""

    def __init__(self, config: PipelineConfig, dataset: Dataset, cache: StageCache, timer,
                 data_key: str, verbose: int):
        self.config, self.dataset, self.cache, self.timer = config, dataset, cache, timer
        self.data_key = data_key
        self.verbose = verbose
        self.models: dict[str, object] = {}
        self.reused: dict[str, bool] = {}
        self.scores: dict[str, np.ndarray] = {}

    def key(self, name: str) -> str:
        src = SOURCES[name]
        upstream = self.key(src.parent) if src.parent else self.data_key
        return stage_key(upstream, name, *src.options(self.config))

    def get(self, name: str):
        if name not in self.models:
            src = SOURCES[name]

            def make(d: Path):
                parent = self.get(src.parent) if src.parent else None
                model = src.build(parent, self.dataset, self.config, self.verbose)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "HDF5 ... legacy": h5 is what tf_keras loads
                    model.save(str(d / "model.h5"))

            with self.timer(f"keras:{name}"):
                model, reused = self.cache.get_or_make(
                    f"keras-{name}", self.key(name), make,
                    src.load or _load_keras,
                )
                if reused:
                    self.timer.log(f"    reused cached {name} model")
            self.models[name], self.reused[name] = model, reused
        return self.models[name]

    def test_scores(self, name: str) -> np.ndarray:
        from pipeline.train import keras_predict

        if name not in self.scores:
            spec = get_spec(self.config.model.architecture)
            self.scores[name] = keras_predict(self.get(name), self.dataset.x_test, spec.mean, spec.std)
        return self.scores[name]


def _load_keras(d: Path):
    from pipeline._tf import keras

    return keras.models.load_model(str(d / "model.h5"), compile=False)


# ---------------------------------------------------------------------------------------------
# Conversion + metadata + validation of every variant.

def _convert_all(config, dataset, spec, sources, timer, log) -> dict[str, dict]:
    from pipeline.convert import convert_variant, representative_images
    from pipeline.train import normalize
    from pipeline.validate import validate_variant

    names = list(dict.fromkeys([*config.convert.variants, config.convert.deployable]))
    calib = normalize(
        representative_images(dataset.x_train, config.convert.representative_samples,
                              config.data.seed), spec.mean, spec.std)
    out = {}
    for i, name in enumerate(names, 1):
        variant = VARIANTS[name]
        model = sources.get(variant.source)
        with timer(f"convert:{name} ({i}/{len(names)})"):
            raw = convert_variant(model, variant.recipe, calib if variant.recipe == "int8" else None)
            tflite = _with_metadata(raw, config, dataset, spec, variant.io_dtype)
        cross_check = config.validate.mediapipe and name in (config.convert.deployable, "float32")
        with timer(f"validate:{name}" + (" (+ MediaPipe)" if cross_check else "")):
            result = validate_variant(
                tflite, dataset.x_test, dataset.y_test, sources.test_scores(variant.source),
                quantized=variant.recipe == "int8", threads=config.validate.threads,
                latency_runs=config.validate.latency_runs,
                mediapipe_labels=dataset.class_names if cross_check else None,
            )
        result.update(source=variant.source, recipe=variant.recipe,
                      description=variant.description)
        log(f"    {name}: acc {result['accuracy']:.4f}, agreement "
            f"{result['agreement_with_keras']:.4f}, {result['bytes']:,} B "
            f"({result['gzip_bytes']:,} B gzipped)")
        out[name] = {"bytes": tflite, "result": result}
    return out


def model_metadata(config: PipelineConfig, class_names, spec: ArchitectureSpec, size: int,
                   io_dtype: str):
    """The metadata every variant carries: names, labels, normalization, input value range."""
    from pipeline.metadata import ModelMetadata

    if io_dtype == "uint8":
        lo, hi = 0.0, 255.0
    else:
        lo = float(min((0.0 - m) / s for m, s in zip(spec.mean, spec.std)))
        hi = float(max((255.0 - m) / s for m, s in zip(spec.mean, spec.std)))
    names = ", ".join(class_names[:8]) + (", ..." if len(class_names) > 8 else "")
    description = config.metadata.description or (
        f"Classifies {size}x{size} RGB images into {len(class_names)} classes ({names})."
    )
    return ModelMetadata(
        name=config.name, description=description, version=config.metadata.version,
        author=config.metadata.author, license=config.metadata.license,
        labels=tuple(class_names), mean=tuple(spec.mean), std=tuple(spec.std),
        input_min=lo, input_max=hi,
    )


def _with_metadata(raw: bytes, config, dataset, spec, io_dtype) -> bytes:
    from pipeline.metadata import write_metadata

    meta = model_metadata(config, dataset.class_names, spec, dataset.image_size, io_dtype)
    return write_metadata(raw, meta)


# ---------------------------------------------------------------------------------------------
# Report, gates, output.

def _report(config, dataset, spec, sources, variants, timer, final_key) -> dict:
    from pipeline.prune import keras_sparsity

    sources.test_scores("baseline")  # the reference for every accuracy delta and gate
    keras_part = {}
    for name in sources.models:
        scores = sources.test_scores(name)
        keras_part[name] = {
            "test_accuracy": float(np.mean(scores.argmax(1) == dataset.y_test)),
            "sparsity": keras_sparsity(sources.models[name]),
            "reused_from_cache": sources.reused[name],
        }
    return {
        "report_version": REPORT_VERSION,
        "cache_key": final_key,
        "name": config.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": {"name": spec.name, "input_size": dataset.image_size,
                         "mean": list(spec.mean), "std": list(spec.std)},
        "deployable": config.convert.deployable,
        "dataset": dataset.summary(),
        "keras": keras_part,
        "variants": {n: v["result"] for n, v in variants.items()},
        "options": config.to_dict(),
        "environment": _versions(),
    }


def _gate(config: PipelineConfig, report: dict) -> None:
    """Refuse to ship a deployable model that fails any check; list every failure at once."""
    dep = report["variants"][config.convert.deployable]
    float_acc = report["keras"]["baseline"]["test_accuracy"]
    checks = [
        ("quantization spec", dep.get("quantization_ok", True),
         "; ".join(c["name"] + ": " + c["detail"] for c in dep.get("quantization_checks", [])
                   if not c["ok"])),
        (f"accuracy within {config.validate.max_accuracy_drop:.3f} of float32 Keras",
         dep["accuracy"] >= float_acc - config.validate.max_accuracy_drop - 1e-9,
         f"{dep['accuracy']:.4f} vs {float_acc:.4f}"),
        (f"top-1 agreement with Keras >= {config.validate.min_agreement}",
         dep["agreement_with_keras"] >= config.validate.min_agreement,
         f"{dep['agreement_with_keras']:.4f}"),
    ]
    mlkit = report.get("mlkit")
    if mlkit is not None:
        checks.append(("ML Kit custom-model requirements", mlkit["passed"],
                       "; ".join(r["line"] for r in mlkit["requirements"] if not r["ok"])))
    mp = dep.get("mediapipe")
    if mp is not None:
        checks.append(("MediaPipe ImageClassifier agrees with the interpreter", mp["passed"],
                       f"top-1 agreement {mp['top1_agreement']:.4f}, max score difference "
                       f"{mp['max_abs_score_diff']:.3g} (tolerance {mp['tolerance']:.3g})"))
    report["gates"] = [{"name": n, "ok": bool(ok), "detail": d} for n, ok, d in checks]
    failed = [g for g in report["gates"] if not g["ok"]]
    if failed:
        lines = "\n".join(f"  ✗ {g['name']}: {g['detail']}" for g in failed)
        raise ValidationError(
            f"the deployable model ({config.convert.deployable}) failed validation; nothing "
            f"was written to {Path(config.out_dir) / config.name}:\n{lines}\n",
            "fine-tune the pruned model longer (--prune-epochs; small datasets need many), "
            "prune less (--final-sparsity), train longer (--epochs), or relax the gates "
            "(--max-accuracy-drop; validate.min_agreement in pipeline.toml)",
        )


def _write(model_dir: Path, config, dataset, variants, report, keras_scores, timer) -> None:
    """Fill a staging folder, add the evaluation set and fidelity table, then rename it in."""
    from pipeline.android.bundle import write_samples
    from pipeline.fidelity import fidelity_table, format_fidelity
    from pipeline.goldens import write_eval_set
    from pipeline.report import write_report

    deployable = config.convert.deployable
    with staged_dir(model_dir) as stage:
        (stage / "model.tflite").write_bytes(variants[deployable]["bytes"])
        (stage / "labels.txt").write_text("\n".join(dataset.class_names) + "\n", encoding="utf-8")
        (stage / "variants").mkdir()
        for name, v in variants.items():
            if name != deployable:
                (stage / "variants" / f"{name}.tflite").write_bytes(v["bytes"])
        write_samples(dataset.x_test, dataset.y_test, dataset.class_names, stage / "samples")
        (stage / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        with timer("fidelity"):
            write_eval_set(stage, dataset=dataset)
            table = fidelity_table(stage, dataset=dataset, keras_scores=keras_scores,
                                   mediapipe=config.validate.mediapipe, app_dir=APP_DIR)
        report["fidelity"] = table
        report["timings_s"] = timer.times
        if not table["host_agreement"]:
            raise ValidationError(
                "the runtimes on this machine disagree on the evaluation set; nothing was "
                f"written to {model_dir}:\n{format_fidelity(table)}\n",
                "this is a bug in the Python/Java pre- or post-processing: please report it "
                "with the table above",
            )
        (stage / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        with timer("report.html"):
            write_report(stage)


def _reuse(model_dir: Path, final_key: str) -> dict | None:
    try:
        report = json.loads((model_dir / "report.json").read_text())
    except (OSError, ValueError):
        return None
    if report.get("cache_key") != final_key or not (model_dir / "model.tflite").is_file():
        return None
    return report


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert",
                "mediapipe", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _progress(log):
    last = {"pct": -1}

    def report(done: int, total: int):
        pct = int(100 * done / max(total, 1)) // 10 * 10
        if pct != last["pct"]:
            last["pct"] = pct
            log(f"    reading images: {done}/{total} ({pct}%)")

    return report


def _save_dataset(ds: Dataset, d: Path) -> None:
    np.savez(d / "arrays.npz", x_train=ds.x_train, y_train=ds.y_train, x_val=ds.x_val,
             y_val=ds.y_val, x_test=ds.x_test, y_test=ds.y_test)
    (d / "meta.json").write_text(json.dumps({
        "class_names": ds.class_names, "source": ds.source, "fingerprint": ds.fingerprint,
        "skipped": ds.skipped,
    }))


def _load_dataset(d: Path) -> Dataset:
    arrays = np.load(d / "arrays.npz")
    meta = json.loads((d / "meta.json").read_text())
    return Dataset(
        class_names=tuple(meta["class_names"]),
        **{k: arrays[k] for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")},
        source=meta["source"], fingerprint=meta["fingerprint"],
        skipped=tuple(tuple(s) for s in meta["skipped"]),
    )


def summary_table(report: dict) -> str:
    """The terminal summary: one row per variant, the deployable one marked with '*'."""
    head = ("variant", "bytes", "gzip", "x smaller", "accuracy", "agree", "ms 1T", "ms 2T",
            "sparsity", "quant")
    base_gzip = report["variants"].get("float32", {}).get("gzip_bytes")
    rows = []
    for name, v in report["variants"].items():
        lat = v["latency_ms"]
        quant = "-" if "quantization_ok" not in v else ("ok" if v["quantization_ok"] else "FAIL")
        ratio = f"{base_gzip / v['gzip_bytes']:.1f}" if base_gzip else "-"
        rows.append((
            ("*" if name == report["deployable"] else " ") + name, f"{v['bytes']:,}",
            f"{v['gzip_bytes']:,}", ratio, f"{v['accuracy']:.4f}",
            f"{v['agreement_with_keras']:.4f}",
            f"{lat.get('1', {}).get('mean', float('nan')):.3f}",
            f"{lat.get('2', {}).get('mean', float('nan')):.3f}",
            f"{v['sparsity'].get('overall', 0.0):.3f}", quant,
        ))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r) for r in rows]
    keras = report.get("keras", {})
    extra = ", ".join(f"{k} {v['test_accuracy']:.4f}" for k, v in keras.items())
    lines.append(f"Keras test accuracy: {extra}   (* = deployable model.tflite)")
    mp = [f"{n} {v['mediapipe']['top1_agreement']:.4f} (max score diff "
          f"{v['mediapipe']['max_abs_score_diff']:.2g})"
          for n, v in report["variants"].items() if "mediapipe" in v]
    if mp:
        lines.append("MediaPipe ImageClassifier top-1 agreement: " + ", ".join(mp))
    fid = report.get("fidelity")
    if fid:
        rows = ", ".join(f"{k} {r['top1_agreement']:.4f}" for k, r in fid["rows"].items()
                         if r.get("status") == "ok")
        lines.append(f"Fidelity on the {fid['images']}-image evaluation set (top-1 agreement with "
                     f"the interpreter): {rows}")
    if "mlkit" in report:
        lines.append("ML Kit custom-model requirements: "
                     + ("all pass" if report["mlkit"]["passed"] else "FAIL"))
    return "\n".join(lines)
