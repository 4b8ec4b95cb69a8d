"""Invoke tasks: parse options, call the `pipeline` package, turn its errors into clean exits.

Options resolve as: command line > config file (`pipeline.toml`, or --config) > defaults.
Run `invoke --list` for the tasks and `invoke --help <task>` for their options.
"""

from __future__ import annotations

import functools
import sys

from invoke import Exit, task

CONFIG_FILE = "pipeline.toml"

_MODEL_HELP = {
    "data": "image folder with one subfolder per class (default: the embedded digits set)",
    "name": "model name; outputs go to <out>/<name>/ (default: digits)",
    "out": "output root folder (default: models)",
    "config": f"TOML config file (default: {CONFIG_FILE} if present)",
    "architecture": "network: cnn (default), mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large "
                    "(+ _minimalistic: quantizes best)",
    "weights": "'imagenet' (MobileNets: pretrained backbone from the Keras cache, downloaded once) "
               "or a local Keras .h5 weights file to start from",
    "width": "MobileNet width multiplier (default: the architecture's, v2 0.35, v3 1.0)",
    "augment": "training augmentation preset: none, light (default) or strong",
    "image_size": "square model input side in pixels (default: the architecture's)",
    "epochs": "most training epochs of the float baseline (early stopping usually ends sooner)",
    "batch_size": "training batch size",
    "learning_rate": "Adam learning rate for training",
    "seed": "seed for the data split and for training",
    "initial_sparsity": "pruning: sparsity at the start of the schedule, in [0, 1)",
    "final_sparsity": "pruning: target fraction of zero weights, in [0, 1)",
    "prune_epochs": "pruning: fine-tuning epochs",
    "variants": "comma-separated variants to convert (see README)",
    "latency_runs": "timed invocations per variant and thread count",
    "quick": "tiny epochs and few latency runs (smoke test; not for shipping)",
    "force": "rebuild every stage even if inputs and options are unchanged",
}


def _clean_errors(fn):
    """Show a PipelineError as one line with its fix, and exit non-zero (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from pipeline.errors import PipelineError

        try:
            return fn(*args, **kwargs)
        except PipelineError as exc:
            raise Exit(f"error: {exc}", code=2) from None

    return wrapper


def _config(data=None, name=None, out=None, config=None, architecture=None, weights=None,
            image_size=None, epochs=None, batch_size=None, learning_rate=None, seed=None,
            initial_sparsity=None, final_sparsity=None, prune_epochs=None, variants=None,
            latency_runs=None, quick=False, width=None, augment=None):
    from pipeline.config import load_config

    overrides = {
        "name": name, "out_dir": out,
        "data.data_dir": data, "data.image_size": image_size,
        "model.architecture": architecture, "model.weights": weights,
        "train.epochs": epochs, "train.batch_size": batch_size,
        "train.learning_rate": learning_rate, "train.seed": seed, "data.seed": seed,
        "prune.initial_sparsity": initial_sparsity, "prune.final_sparsity": final_sparsity,
        "prune.epochs": prune_epochs, "convert.variants": variants,
        "validate.latency_runs": latency_runs,
        "model.width": width, "train.augment": augment,
    }
    if data and not name:
        from pathlib import Path

        overrides["name"] = Path(data).expanduser().resolve().name
    cfg = load_config(config or CONFIG_FILE)  # defaults < file
    if quick:
        cfg = cfg.quickened()  # < --quick
    return load_config(None, overrides, base=cfg)  # < the other options given


_OPT_HELP = {
    "presets": "comma-separated optimization presets to add as variants: qat, pqat, sparse24, or all",
    "deployable": "the variant shipped as model.tflite (e.g. pqat_int8); default: pruned_int8",
    "sweep": "comma-separated pruning targets to try, e.g. 0.5,0.7,0.8,0.9: ships the smallest "
             "gzipped model within --max-accuracy-drop",
    "max_accuracy_drop": "largest accuracy loss of the deployable model vs float32 (0.005 = half a "
                         "point): the gate, and the sweep's budget",
}


@task(help={**_MODEL_HELP, **_OPT_HELP})
@_clean_errors
def model(c, data=None, name=None, out=None, config=None, architecture=None, weights=None,
          image_size=None, epochs=None, batch_size=None, learning_rate=None, seed=None,
          initial_sparsity=None, final_sparsity=None, prune_epochs=None, variants=None,
          latency_runs=None, quick=False, force=False, presets=None, deployable=None, sweep=None,
          max_accuracy_drop=None, width=None, augment=None):
    """Train, prune, quantize, convert (with metadata) and validate: models/<name>/."""
    from pipeline.config import load_config
    from pipeline.flow import run_model, summary_table
    from pipeline.optimize import PRESETS, sweep_sparsity, with_presets

    cfg = _config(data, name, out, config, architecture, weights, image_size, epochs, batch_size,
                  learning_rate, seed, initial_sparsity, final_sparsity, prune_epochs, variants,
                  latency_runs, quick, width, augment)
    cfg = load_config(None, {"validate.max_accuracy_drop": max_accuracy_drop,
                             "convert.deployable": deployable}, base=cfg)
    if presets:
        names = list(PRESETS) if presets == "all" else [p.strip() for p in presets.split(",")]
        cfg = with_presets(cfg, names)
    if sweep:
        chosen = sweep_sparsity(cfg, sweep.split(","), force=force)
        print(f"Sweep chose final_sparsity {chosen['chosen']:.2f} (see the report)")
        cfg = load_config(None, {"prune.final_sparsity": chosen["chosen"]}, base=cfg)
    result = run_model(cfg, force=force and not sweep)
    print(summary_table(result.report))
    print(f"\nDeployable model: {result.model_path}  (report: {result.model_dir / 'report.html'})")


@task(help={k: _MODEL_HELP[k] for k in ("data", "name", "out", "config", "architecture",
                                          "weights", "image_size", "epochs", "batch_size",
                                          "learning_rate", "seed", "quick", "force", "width",
                                          "augment")})
@_clean_errors
def train(c, data=None, name=None, out=None, config=None, architecture=None, weights=None,
          image_size=None, epochs=None, batch_size=None, learning_rate=None, seed=None,
          quick=False, force=False, width=None, augment=None):
    """Train (or reuse) the float Keras baseline only, and print its test accuracy."""
    from pipeline.flow import train_only

    cfg = _config(data, name, out, config, architecture, weights, image_size, epochs, batch_size,
                  learning_rate, seed, quick=quick, width=width, augment=augment)
    result = train_only(cfg, force=force)
    print(f"Keras baseline test accuracy: {result['test_accuracy']:.4f} "
          f"({'reused' if result['reused'] else 'trained'}; cache {result['path']})")


@task(help={"name": _MODEL_HELP["name"], "out": _MODEL_HELP["out"],
            "config": _MODEL_HELP["config"],
            "latency_runs": _MODEL_HELP["latency_runs"]})
@_clean_errors
def evaluate(c, name=None, out=None, config=None, latency_runs=None):
    """Re-validate models/<name>/ in the interpreter on its test split; print the table."""
    from pipeline.flow import evaluate_existing, summary_table

    cfg = _config(name=name, out=out, config=config, latency_runs=latency_runs)
    report = evaluate_existing(cfg)
    print(summary_table(report))


@task(help={"path": "the .tflite file to check (ours, or any file a user brings)",
            "json": "print the report as JSON instead of one ✓/✗ line per requirement"})
@_clean_errors
def check_mlkit(c, path, json=False):
    """Check a .tflite file against ML Kit's custom-model requirements; exit 1 if any fails."""
    from pipeline.mlkit import check_mlkit as check, format_report, to_json

    report = check(path)
    print(to_json(report) if json else format_report(report))
    if not report.passed:
        raise Exit(code=1)


_APK_HELP = {
    "name": _MODEL_HELP["name"], "out": _MODEL_HELP["out"], "config": _MODEL_HELP["config"],
    "quick": _MODEL_HELP["quick"],
    "dist": "folder for the APK (default: dist)",
    "abis": "comma-separated ABIs: arm64-v8a, armeabi-v7a, x86, x86_64 (default: arm64-v8a,x86_64)",
    "samples": "folder of sample images for the app's strip (default: models/<name>/samples/ or eval/images/)",
    "release": "sign with APK_KEYSTORE, APK_KEYSTORE_PASSWORD, APK_KEY_ALIAS (+APK_KEY_PASSWORD); default: debug key",
    "skip_model": "package models/<name>/ as it is; do not run the model stages first",
}


@task(help=_APK_HELP)
@_clean_errors
def build_apk(c, name=None, out=None, config=None, dist="dist", abis=None, samples=None,
              release=False, skip_model=False, quick=False):
    """Build models/<name>/ if needed, then the signed, verified app: dist/<name>-debug.apk."""
    from pathlib import Path

    from pipeline.android import ApkOptions, SigningOptions
    from pipeline.android import build_apk as build
    from pipeline.android.apk import DEFAULT_ABIS

    cfg = _config(name=name, out=out, config=config, quick=quick)
    if not skip_model:
        from pipeline.flow import run_model, summary_table

        result = run_model(cfg)  # reuses models/<name>/ when inputs and options are unchanged
        print(summary_table(result.report))
    apk = build(ApkOptions(
        model_dir=cfg.model_dir, out_dir=Path(dist),
        abis=tuple(a.strip() for a in abis.split(",") if a.strip()) if abis else DEFAULT_ABIS,
        samples_dir=Path(samples) if samples else None,
        signing=SigningOptions.release_from_env() if release else SigningOptions.debug(),
    ))
    print("\n".join(apk.summary()))


@task(help={k: _APK_HELP[k] for k in ("name", "out", "config", "samples")})
@_clean_errors
def android_assets(c, name=None, out=None, config=None, samples=None):
    """Copy the model and samples into android_app/app/src/main/assets/ for a Gradle build."""
    from pathlib import Path

    from pipeline.android.bundle import bundle_assets

    cfg = _config(name=name, out=out, config=config)
    r = bundle_assets(cfg.model_dir, Path("android_app/app/src/main/assets"),
                      Path(samples) if samples else None)
    print(f"{r.assets_dir}: model {r.model_bytes:,} B, {len(r.samples)} samples, "
          f"{r.eval_files} eval files")


@task(help={"check": "only report what is missing; install nothing"})
@_clean_errors
def setup_android(c, check=False):
    """Install (as root) the Debian packages and fetch the Java artifacts the APK build uses."""
    from pipeline.android.toolchain import ToolchainOptions, resolve_toolchain

    print("\n".join(resolve_toolchain(ToolchainOptions(install=not check)).describe()))
    from pipeline.goldens import junit_classpath

    print("  host-JVM tests: " + ", ".join(p.name for p in junit_classpath()))


@task(help={
    "name": "model name: installs dist/<name>-debug.apk, compares with models/<name>/ (default: digits)",
    "serial": "adb serial of the device or emulator to use (see `adb devices`); needed when several are connected",
    "max_changed": "evaluation images allowed to change their top-1 from Python's before failing (default 0)",
    "apk": "the APK to install (default: dist/<name>-debug.apk)",
    "out": "output root folder (default: models)",
    "threads": "interpreter threads on the device (default 1, like Python's latency)",
})
@_clean_errors
def emulator_test(c, name="digits", serial=None, max_changed=0, apk=None, out="models", threads=1):
    """Run the app's classifier on a device/emulator over the bundled evaluation set; compare with Python."""
    from pathlib import Path

    from pipeline.android.device import (DEVICE_REPORT, DeviceOptions, format_device_report,
                                         run_emulator_test)

    report = run_emulator_test(DeviceOptions(
        model_dir=Path(out) / name, apk=Path(apk) if apk else None, serial=serial,
        max_changed=int(max_changed), threads=int(threads)))
    print(format_device_report(report))
    if not report["passed"]:
        raise Exit(f"error: {report['changed_count']} evaluation image(s) changed top-1 on the "
                   f"device (allowed: {max_changed}) - see {Path(out) / name / DEVICE_REPORT}",
                   code=1)


@task(help={"name": _MODEL_HELP["name"], "out": _MODEL_HELP["out"],
            "config": _MODEL_HELP["config"]})
@_clean_errors
def report(c, name=None, out=None, config=None):
    """Render models/<name>/report.html (self-contained, opens offline) from its report.json."""
    from pipeline.report import write_report

    cfg = _config(name=name, out=out, config=config)
    print(f"Report: {write_report(cfg.model_dir)}")


@task(help={"out": "results JSON to write (default: benchmarks/results.json)",
            "config": _MODEL_HELP["config"],
            "reuse": "reuse cached pipeline stages (faster; stage times are then load times)",
            "mobilenet_size": "input side of the MobileNetV2 latency model (default: 224)",
            "latency_runs": "timed invocations per model and thread count (default: 30)"})
@_clean_errors
def benchmark(c, out="benchmarks/results.json", config=None, reuse=False, mobilenet_size=224,
              latency_runs=30):
    """Measure size, accuracy, float32 vs int8 latency and stage times against the targets."""
    from pipeline.benchmark import run_benchmark

    run_benchmark(out, _config(config=config), force=not reuse,
                  mobilenet_size=int(mobilenet_size), latency_runs=int(latency_runs))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run tasks with: invoke --list")


@task(help={"out": "folder to write (one subfolder per class; replaced)",
            "per_class": "images of the largest class (default 80)",
            "image_size": "side of the PNGs in pixels (default 48)",
            "seed": "seed of every random choice (default 0)",
            "style": "class set: mixed (default), shapes or glyphs",
            "imbalance": "largest / smallest class count (default 1: balanced)"})
@_clean_errors
def synthetic_data(c, out="build/shapes", per_class=80, image_size=48, seed=0, style="mixed",
                   imbalance=1.0):
    """Generate the second test dataset (shapes and glyphs; test split from held-out sources)."""
    from pipeline.config import load_config
    from pipeline.synthetic import SyntheticOptions, generate

    split = load_config(CONFIG_FILE).data
    manifest = generate(out, SyntheticOptions(int(per_class), int(image_size), int(seed), style,
                                              float(imbalance)), split)
    print(f"{len(manifest['files'])} images in {out}; train on them with: "
          f"invoke model --data {out}")
