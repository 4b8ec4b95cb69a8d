"""The main job: dataset -> trained, pruned, int8 TFLite model with metadata, validated.

Public entry points: `run_model(config, force=False) -> ModelResult`, `train_only(config)` and
`evaluate_existing(config)`. `run_model` writes `<out_dir>/<name>/` (see `pipeline.artifacts`
for its files) in one atomic rename, and only after every gate on the deployable model has
passed (`pipeline.gates`: the int8 quantization spec, accuracy and agreement with Keras, ML Kit's
requirements, MediaPipe's agreement) and the host runtimes agree on the evaluation set
(`pipeline.fidelity`).

This module only calls down: sources (train, prune, recipes) -> export (convert + metadata) ->
validate / mlkit -> eval set / fidelity -> report.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from pipeline.architectures import get_spec, prepare_weights
from pipeline.artifacts import REPORT_VERSION, ModelDir
from pipeline.cache import StageCache, stage_key
from pipeline.config import PipelineConfig, config_from_dict
from pipeline.data import dataset_key, fingerprint_source
from pipeline.datastore import image_size
from pipeline.distribute import Placement, placement_for
from pipeline.errors import DataError, PipelineError, ValidationError
from pipeline.evalset import write_eval_set, write_samples
from pipeline.export import calibration_images, export_variant
from pipeline.fidelity import fidelity_table, format_fidelity
from pipeline.fsutil import ensure_writable_dir, exclusive_lock, staged_dir
from pipeline.candidates import candidates
from pipeline.gates import check_gates, raise_if_failed
from pipeline.mlkit import check_mlkit
from pipeline.prune import keras_sparsity
from pipeline.report import write_report
from pipeline.runlog import Log, Timer, log as default_log, package_versions
from pipeline.sources import KerasSources, run_sources, without_strategy
from pipeline.validate import validate_variant
from pipeline.variants import VARIANTS

APP_DIR = Path(__file__).resolve().parent.parent / "android_app"  # the app's Java (fidelity: JVM row)


@dataclass(frozen=True)
class ModelResult:
    """Where the artifacts are and what the report says; `reused` when nothing was rebuilt."""

    model_dir: Path
    report: dict
    reused: bool

    @property
    def model_path(self) -> Path:
        return ModelDir(self.model_dir).model_path

    @property
    def report_html(self) -> Path:
        return ModelDir(self.model_dir).report_html


def run_model(config: PipelineConfig, force: bool = False, log: Log = default_log,
              verbose: int = 2) -> ModelResult:
    """Run every model stage for `config`, reusing cached stages unless `force`.

    One run at a time per model folder: a second run on the same name is refused at once (the
    lock goes with the process, so a killed run leaves none behind, and the next run removes
    its staging folders).

    Training runs under `config.train.strategy` (`pipeline.distribute`). With several workers
    every worker runs this same job in step (their models are identical); only the chief
    (worker 0) writes `<out_dir>/<name>/`: the others build in a scratch folder they remove.
    """
    out_root = ensure_writable_dir(Path(config.out_dir))
    placement = training_placement(config, out_root)  # first: before any TensorFlow operation
    _check_weights(config)  # an unreachable pretrained backbone fails before any data is read
    if not placement.chief:
        return _run_as_worker(config, out_root, placement, log, verbose)
    folder = ModelDir(out_root / config.name)
    with exclusive_lock(out_root / f".{config.name}.lock", str(folder.path),
                        "wait for that run to finish, or build under another --name"):
        return _run_model(config, folder, force, log, verbose, placement)


def training_placement(config: PipelineConfig, out_root: Path) -> Placement:
    """The strategy of `config.train.strategy`, checkpointing under `<out_dir>/.cache/`."""
    placement = placement_for(config.train.strategy, out_root / ".cache" / "checkpoints")
    if placement.distributed:
        default_log(f"==> training on {placement.name} ({placement.replicas} replicas, global "
                    f"batch {placement.global_batch(config.train.batch_size)})")
    return placement


def _run_as_worker(config: PipelineConfig, out_root: Path, placement: Placement, log: Log,
                   verbose: int) -> ModelResult:
    """A worker that is not the chief: the same job, in step, into a scratch folder."""
    scratch = Path(tempfile.mkdtemp(dir=out_root, prefix=".worker-"))
    try:
        folder = ModelDir(scratch / config.name)
        result = _run_model(replace(config, out_dir=str(scratch)), folder, False, log, verbose,
                            placement, cache_root=out_root / ".cache")  # the data is shared
        log(f"==> worker done: the chief writes {out_root / config.name}")
        return ModelResult(out_root / config.name, result.report, False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_model(config: PipelineConfig, folder: ModelDir, force: bool, log: Log,
               verbose: int, placement: Placement, cache_root: Path | None = None) -> ModelResult:
    cache_root = cache_root or folder.path.parent / ".cache"
    final_key = _final_key(config, placement.replicas)
    # several workers must all train: a chief that reused its folder would leave them waiting
    reused = None if force or placement.multi_worker else _reuse(folder, final_key)
    if reused is not None:
        log(f"==> {folder.path}: inputs and options unchanged, reusing it (use --force to rebuild)")
        return ModelResult(folder.path, reused, True)

    timer = Timer(log)
    sources = run_sources(config, StageCache(cache_root, enabled=not force), timer, verbose,
                          placement=placement)
    chosen = _attempt(config.convert.deployable, config, sources, timer, log, final_key)
    if not chosen.passed:
        chosen = _fallback(folder, chosen, timer, log, verbose)
    _write(folder, chosen.config, chosen.sources, chosen.variants, chosen.report, timer)
    for built in (sources, chosen.sources):  # kept until now when the models are not cached
        built.drop_checkpoints()
    log(f"==> report: {folder.report_html}")
    return ModelResult(folder.path, chosen.report, False)


@dataclass
class _Attempt:
    """One candidate deployable model: its options, sources, converted variants and report."""

    label: str
    config: PipelineConfig
    sources: KerasSources
    variants: dict
    report: dict

    @property
    def passed(self) -> bool:
        return all(g["ok"] for g in self.report["gates"])

    def summary(self) -> dict:
        dep = self.report["variants"][self.config.convert.deployable]
        return {"candidate": self.label, "deployable": self.config.convert.deployable,
                "final_sparsity": self.config.prune.final_sparsity, "accuracy": dep["accuracy"],
                "float_accuracy": self.report["keras"]["baseline"]["test_accuracy"],
                "gzip_bytes": dep["gzip_bytes"], "passed": self.passed,
                "failed_gates": [g["name"] for g in self.report["gates"] if not g["ok"]]}


def _attempt(label: str, config: PipelineConfig, sources: KerasSources, timer: Timer, log: Log,
             final_key: str) -> _Attempt:
    """Convert and validate `config`'s variants and judge its deployable one by every gate."""
    variants = _convert_all(config, sources, timer, log)
    report = _assemble(config, sources, variants, final_key)
    with timer("check-mlkit"):
        report["mlkit"] = check_mlkit(variants[config.convert.deployable]["bytes"]).as_dict()
    report["gates"] = check_gates(config, report)
    return _Attempt(label, config, sources, variants, report)


def _fallback(folder: ModelDir, first: _Attempt, timer: Timer, log: Log, verbose: int) -> _Attempt:
    """Try the candidates in order (`pipeline.candidates`); the first that passes is shipped.
    When none does, the failed run is written to `<name>.rejected/` and ValidationError says so."""
    tried = [first]
    for cand in candidates(first.config):
        missed = ", ".join(tried[-1].summary()["failed_gates"])
        log(f"==> fallback: {tried[-1].label} missed a gate ({missed}); trying {cand.label}")
        sources = KerasSources(cand.config, first.sources.dataset, first.sources.cache, timer,
                               first.sources.data_key, verbose, first.sources.placement)
        attempt = _attempt(cand.label, cand.config, sources, timer, log, first.report["cache_key"])
        tried.append(attempt)
        if attempt.passed:
            attempt.report["fallback"] = {
                "tried": [t.summary() for t in tried], "chosen": cand.label,
                "why": f"{first.label} missed {', '.join(first.summary()['failed_gates'])}"}
            log(f"==> shipping {cand.label}: the first candidate that passes every gate")
            return attempt
    _reject(folder, tried, timer)


def _reject(folder: ModelDir, tried: list[_Attempt], timer: Timer) -> None:
    """Write the failed run's report to `<name>.rejected/` and raise ValidationError."""
    first = tried[0]
    rejected = ModelDir(folder.rejected_path)
    report = {**first.report, "fallback": {"tried": [t.summary() for t in tried], "chosen": None},
              "timings_s": timer.times}
    deployable = first.config.convert.deployable
    with staged_dir(rejected.path) as path:
        stage = ModelDir(path)
        stage.write_models(first.variants[deployable]["bytes"],
                           {n: v["bytes"] for n, v in first.variants.items() if n != deployable},
                           first.sources.dataset.class_names)
        stage.write_report(report)
        write_report(stage.path)
    raise_if_failed(first.config, first.report["gates"], [t.summary() for t in tried[1:]],
                    rejected.report_html)


def train_only(config: PipelineConfig, force: bool = False, verbose: int = 2) -> dict:
    """Load the data and train (or reuse) the float baseline; report its test accuracy."""
    out_root = ensure_writable_dir(Path(config.out_dir))
    placement = training_placement(config, out_root)  # first: before any TensorFlow operation
    _check_weights(config)
    cache = StageCache(out_root / ".cache", enabled=not force)
    sources = run_sources(config, cache, Timer(default_log), verbose, placement=placement)
    return {
        "test_accuracy": sources.test_accuracy("baseline"),
        "reused": sources.reused["baseline"],
        "path": str(sources.entry("baseline")),
    }


def evaluate_existing(config: PipelineConfig, log: Log = default_log) -> dict:
    """Validate the files in models/<name>/ again, on the test split recorded in its report."""
    folder = ModelDir(Path(config.out_dir) / config.name)
    saved = folder.verify()
    cfg = config_from_dict({**saved["options"], "out_dir": config.out_dir})
    cfg = replace(cfg, validate=config.validate)
    sources = run_sources(cfg, StageCache(Path(cfg.out_dir) / ".cache"), Timer(None), 0, log)
    variants = {}
    for name, path in folder.model_files(saved["deployable"]).items():
        variant = VARIANTS[name]
        log(f"==> validate:{name}")
        variants[name] = validate_variant(
            folder.verified_bytes(path), sources.dataset.x_test, sources.dataset.y_test,
            sources.test_scores(variant.source), quantized=variant.quantized,
            threads=cfg.validate.threads, latency_runs=cfg.validate.latency_runs,
        )
    return {**saved, "variants": variants}


def model_to_package(config: PipelineConfig, *, rebuild: bool = False, force: bool = False,
                     data_given: bool = False, log: Log = default_log) -> ModelResult:
    """What `build-apk` packages: `models/<name>/` as it is (checked), built only when it does not
    exist or when asked (`rebuild` or `force`: with `config`'s options; `data_given`: new
    data), and never replaced by a model of other data than it was trained on."""
    folder = ModelDir(Path(config.out_dir) / config.name)
    if not folder.has_report():
        return run_model(config, force=force, log=log)
    report = folder.verify()
    if rebuild or force or data_given:
        _refuse_other_data(folder, report, config)
        return run_model(config, force=force, log=log)
    log(describe(folder.path, report))
    return ModelResult(folder.path, report, True)


def describe(model_dir: Path, report: dict) -> str:
    """One line: which model this is (name, dataset, when it was made)."""
    ds = report.get("dataset", {})
    classes = ds.get("classes") or []
    return (f"==> packaging {model_dir}: {report.get('name', Path(model_dir).name)}, "
            f"{len(classes)} classes ({', '.join(map(str, classes[:5]))}"
            f"{', ...' if len(classes) > 5 else ''}) from {ds.get('source', 'unknown data')}, "
            f"created {report.get('created', 'at an unknown time')}")


def _refuse_other_data(folder: ModelDir, report: dict, config: PipelineConfig) -> None:
    """DataError when `config` names other data than the folder's model was trained on."""
    recorded = report.get("dataset", {}).get("content")
    if recorded is not None:
        same = recorded == fingerprint_source(config.data)
    else:  # a report from before content hashes: compare the folders named
        saved = report.get("options", {}).get("data", {}).get("data_dir")
        same = _same_path(saved, config.data.data_dir)
    if not same:
        wanted = config.data.data_dir or "the embedded digits"
        raise DataError(
            f"{folder.path} holds a model trained on {report.get('dataset', {}).get('source')}; "
            f"{wanted} is other data, and a build never replaces a model of other data",
            f"build the new model under another name (--name), or delete {folder.path} first")


def _same_path(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _check_weights(config: PipelineConfig) -> None:
    m = config.model
    prepare_weights(m.architecture, image_size(config), m.width, m.weights)


def _final_key(config: PipelineConfig, replicas: int = 1) -> str:
    data_key = dataset_key(config.data, image_size(config))
    return stage_key(data_key, config.model, without_strategy(config.train), config.prune,
                     config.convert, config.metadata, config.validate, config.name,
                     REPORT_VERSION, *([("replicas", replicas)] if replicas > 1 else []))


def _reuse(folder: ModelDir, final_key: str) -> dict | None:
    """The folder's report when it was built from exactly these inputs and options."""
    try:
        report = folder.read_report()
    except PipelineError:
        return None
    if report.get("cache_key") != final_key or not folder.model_path.is_file():
        return None
    return folder.verify()  # a file changed on disk is an error, never reused or shipped


def _mediapipe_on(config: PipelineConfig, log: Log) -> bool:
    """validate.mediapipe, when MediaPipe (the `crosscheck` extra) is installed; else say so."""
    if config.validate.mediapipe and importlib.util.find_spec("mediapipe") is None:
        log("    MediaPipe is not installed: cross-check skipped "
            "(pip install -e '.[crosscheck]', or set validate.mediapipe = false)")
        return False
    return config.validate.mediapipe


def _convert_all(config: PipelineConfig, sources: KerasSources, timer: Timer, log: Log) -> dict:
    """{variant: {"bytes", "result"}}: each variant converted, with metadata, and validated."""
    dataset = sources.dataset
    names = list(dict.fromkeys([*config.convert.variants, config.convert.deployable]))
    calib = calibration_images(config, dataset)
    out, mediapipe = {}, _mediapipe_on(config, log)
    for i, name in enumerate(names, 1):
        variant = VARIANTS[name]
        model = sources.get(variant.source)
        with timer(f"convert:{name} ({i}/{len(names)})"):
            tflite = export_variant(model, variant, calib, config, dataset)
        cross_check = mediapipe and name in (config.convert.deployable, "float32")
        with timer(f"validate:{name}" + (" (+ MediaPipe)" if cross_check else "")):
            result = validate_variant(
                tflite, dataset.x_test, dataset.y_test, sources.test_scores(variant.source),
                quantized=variant.quantized, threads=config.validate.threads,
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


def _assemble(config: PipelineConfig, sources: KerasSources, variants: dict, final_key: str) -> dict:
    """report.json's content, before the ML Kit check, the gates and the fidelity table."""
    dataset = sources.dataset
    spec = get_spec(config.model.architecture)
    sources.test_scores("baseline")  # the reference for every accuracy delta and gate
    keras_part = {name: {"test_accuracy": sources.test_accuracy(name),
                         "sparsity": keras_sparsity(model),
                         "reused_from_cache": sources.reused[name]}
                  for name, model in sources.models.items()}
    return {
        "report_version": REPORT_VERSION,
        "cache_key": final_key,
        "name": config.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": {"name": spec.name, "input_size": dataset.image_size,
                         "mean": list(spec.mean), "std": list(spec.std)},
        "deployable": config.convert.deployable,
        "dataset": {**dataset.summary(), "content": fingerprint_source(config.data)},
        "keras": keras_part,
        "variants": {n: v["result"] for n, v in variants.items()},
        "options": config.to_dict(),
        "environment": package_versions(),
    }


def _write(folder: ModelDir, config: PipelineConfig, sources: KerasSources, variants: dict,
           report: dict, timer: Timer) -> None:
    """Fill a staging folder, add the evaluation set and fidelity table, then rename it in."""
    deployable = config.convert.deployable
    dataset = sources.dataset
    keras_scores = sources.test_scores(VARIANTS[deployable].source)
    with staged_dir(folder.path) as path:
        stage = ModelDir(path)
        stage.write_models(variants[deployable]["bytes"],
                           {n: v["bytes"] for n, v in variants.items() if n != deployable},
                           dataset.class_names)
        write_samples(dataset.x_test, dataset.y_test, dataset.class_names, stage.samples_dir)
        stage.write_report(report)
        with timer("fidelity"):
            write_eval_set(stage.path, dataset=dataset)
            table = fidelity_table(stage.path, dataset=dataset, keras_scores=keras_scores,
                                   mediapipe=config.validate.mediapipe, app_dir=APP_DIR)
        report["fidelity"] = table
        report["timings_s"] = timer.times
        report["artifacts"] = stage.checksums()  # what every reader checks the files against
        if not table["host_agreement"]:
            raise ValidationError(
                "the runtimes on this machine disagree on the evaluation set; nothing was "
                f"written to {folder.path}:\n{format_fidelity(table)}\n",
                "this is a bug in the Python/Java pre- or post-processing: please report it "
                "with the table above",
            )
        stage.write_report(report)
        with timer("report.html"):
            write_report(stage.path)
    shutil.rmtree(folder.rejected_path, ignore_errors=True)  # an earlier failure's report

