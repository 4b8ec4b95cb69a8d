"""The command line: Invoke tasks that parse options, call the package, and turn its errors into
clean exits. The same collection serves `invoke` in the repository (`tasks.py` re-exports `ns`)
and the installed `tflite-pipeline` command (`main`, an Invoke `Program` over `ns`).

Options resolve as: command line > config file (`pipeline.toml`, or --config) > defaults.
Run `tflite-pipeline --list` (or `invoke --list`) for the tasks and `--help <task>` for their
options. Every task takes `--verbose`: TensorFlow's C++/absl logs are silenced without it.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys

from invoke import Collection, Exit, Program, Task, task
from invoke.parser import ParserContext

from pipeline._quiet import VERBOSE_ENV
from pipeline.config import PipelineConfig

CONFIG_FILE = "pipeline.toml"
_D = PipelineConfig()  # the defaults shown in --help


class Int(int):
    """An integer option. A value that is not one stays text, so the option check
    (`pipeline.config`) refuses it in one line naming the option, not Invoke with a traceback."""

    def __new__(cls, value):
        try:
            return int(value)
        except ValueError:
            return str(value)


class Float(float):
    """A number option; a value that is not one stays text, like `Int`."""

    def __new__(cls, value):
        try:
            return float(value)
        except ValueError:
            return str(value)


class CommaList(str):
    """A comma-separated list option (a str, so the task bodies split it themselves)."""


_METAVARS = {Int: "INT", Float: "FLOAT", CommaList: "LIST"}  # Invoke names only STRING, INT


def _typed_help_for(original):
    """ParserContext.help_for that names our kinds' values (Invoke shows none for them)."""

    @functools.wraps(original)
    def help_for(self, flag):
        spec, text = original(self, flag)
        metavar = _METAVARS.get(self.flags[flag].kind)
        if metavar and "=" not in spec:
            spec = ", ".join(f"{n} {metavar}" if len(n.strip("-")) == 1 else f"{n}={metavar}"
                             for n in spec.split(", "))
        return spec, text

    return help_for


if not hasattr(ParserContext.help_for, "__wrapped__"):
    ParserContext.help_for = _typed_help_for(ParserContext.help_for)


class TypedTask(Task):
    """A Task whose options default to None ("not given": the config file decides) yet parse
    and show as typed values: `kinds` maps an option to Int, Float or CommaList."""

    def __init__(self, body, kinds=None, **kwargs):
        self.kinds = dict(kinds or {})
        kwargs["help"] = {"verbose": "show TensorFlow's C++ and absl logs (quiet by default)",
                          **(kwargs.get("help") or {})}
        super().__init__(body, **kwargs)

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        if name in self.kinds and default is None:
            opts["kind"] = self.kinds[name]
        return opts


def _typed(**kinds):
    """`@task` with typed, None-default options (see TypedTask)."""

    def decorate(**kwargs):
        return task(klass=TypedTask, kinds=kinds, **kwargs)

    return decorate


_MODEL_KINDS = dict(image_size=Int, epochs=Int, batch_size=Int, learning_rate=Float, seed=Int,
                    initial_sparsity=Float, final_sparsity=Float, prune_epochs=Int,
                    variants=CommaList, latency_runs=Int, presets=CommaList, sweep=CommaList,
                    max_accuracy_drop=Float, abis=CommaList, width=Float, per_class=Int,
                    imbalance=Float)
typed_task = _typed(**_MODEL_KINDS)

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
    "augment": f"training augmentation preset: none, light or strong (default {_D.train.augment})",
    "strategy": "where training runs: auto, default (one device), mirrored (every local GPU) or "
                "multi-worker (the machines in TF_CONFIG); --batch-size is per replica "
                f"(default {_D.train.strategy}; docs/SCALING.md)",
    "image_size": "square model input side in pixels (default: the architecture's)",
    "epochs": f"most training epochs of the float baseline; early stopping may end sooner "
              f"(default {_D.train.epochs})",
    "batch_size": f"training batch size (default {_D.train.batch_size})",
    "learning_rate": f"Adam learning rate for training (default {_D.train.learning_rate})",
    "seed": f"seed for the data split and for training (default {_D.train.seed})",
    "initial_sparsity": f"pruning: sparsity at the start of the schedule, in [0, 1) "
                        f"(default {_D.prune.initial_sparsity})",
    "final_sparsity": f"pruning: target fraction of zero weights, in [0, 1) "
                      f"(default {_D.prune.final_sparsity})",
    "prune_epochs": f"pruning: fine-tuning epochs (default {_D.prune.epochs})",
    "variants": f"comma-separated variants to convert (see README; default "
                f"{','.join(_D.convert.variants)})",
    "latency_runs": f"timed invocations per variant and thread count (default "
                    f"{_D.validate.latency_runs})",
    "quick": "tiny epochs and few latency runs (smoke test; not for shipping)",
    "force": "rebuild every stage even if inputs and options are unchanged",
}


# The CLI option that sets each config key, so an error names what the user typed.
_FLAGS = {
    "name": "--name", "out_dir": "--out", "data.data_dir": "--data",
    "data.image_size": "--image-size", "model.architecture": "--architecture",
    "model.weights": "--weights", "train.epochs": "--epochs", "train.batch_size": "--batch-size",
    "train.learning_rate": "--learning-rate", "train.seed": "--seed", "data.seed": "--seed",
    "prune.initial_sparsity": "--initial-sparsity", "prune.final_sparsity": "--final-sparsity",
    "prune.epochs": "--prune-epochs", "convert.variants": "--variants",
    "validate.latency_runs": "--latency-runs", "validate.max_accuracy_drop": "--max-accuracy-drop",
    "convert.deployable": "--deployable", "model.width": "--width", "train.augment": "--augment",
    "train.strategy": "--strategy",
}


def _whole(flag: str, value, lo: int = 0) -> int:
    """An integer CLI value (`--max-changed 3`), or a ConfigError naming the option."""
    from pipeline.errors import ConfigError

    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a whole number",
                          f"pass {flag} with a whole number >= {lo}") from None
    if number < lo:
        raise ConfigError(f"{flag} {number} is below {lo}", f"pass {flag} with a whole number >= {lo}")
    return number


def _clean_errors(fn):
    """Show a PipelineError as one line with its fix, and exit non-zero (no traceback).

    Also adds the `--verbose` option to the task: it sets PIPELINE_VERBOSE before TensorFlow is
    first imported (`pipeline._tf` reads it), so the C++ logs stay on.
    """

    @functools.wraps(fn)
    def wrapper(*args, verbose=False, **kwargs):
        from pipeline.errors import PipelineError

        if verbose:
            os.environ[VERBOSE_ENV] = "1"
        try:
            return fn(*args, **kwargs)
        except PipelineError as exc:
            raise Exit(f"error: {exc}", code=2) from None

    sig = inspect.signature(fn)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), inspect.Parameter(
        "verbose", inspect.Parameter.KEYWORD_ONLY, default=False)])
    return wrapper


def _config(data=None, name=None, out=None, config=None, architecture=None, weights=None,
            image_size=None, epochs=None, batch_size=None, learning_rate=None, seed=None,
            initial_sparsity=None, final_sparsity=None, prune_epochs=None, variants=None,
            latency_runs=None, quick=False, width=None, augment=None, strategy=None, base=None):
    """The options: the command line over (`base`, or the config file over the defaults)."""
    from pipeline.config import load_config

    overrides = {
        "name": name, "out_dir": out,
        "data.data_dir": data, "data.image_size": image_size,
        "model.architecture": architecture, "model.weights": weights,
        "train.epochs": epochs, "train.batch_size": batch_size,
        "train.learning_rate": learning_rate, "train.seed": seed, "data.seed": seed,
        "prune.initial_sparsity": initial_sparsity, "prune.final_sparsity": final_sparsity,
        "prune.epochs": prune_epochs, "convert.variants": variants,
        "validate.latency_runs": latency_runs, "model.width": width, "train.augment": augment,
        "train.strategy": strategy,
    }
    from pathlib import Path

    if data and not name:
        overrides["name"] = Path(data).expanduser().resolve().name
    if weights and not Path(weights).expanduser().is_file():  # before any data or TF is loaded
        from pipeline.errors import ConfigError

        raise ConfigError(f"--weights {weights} is not a file",
                          "give the path of a local Keras .h5 weights file, or leave --weights out")
    cfg = base or load_config(config or CONFIG_FILE, required=config is not None)  # defaults < file
    if quick:
        cfg = cfg.quickened()  # < --quick
    return load_config(None, overrides, base=cfg, flags=_FLAGS)  # < the other options given


_OPT_HELP = {
    "presets": "comma-separated optimization presets to add as variants: qat, pqat, sparse24, or all",
    "deployable": "the variant shipped as model.tflite (e.g. pqat_int8); default: pruned_int8",
    "sweep": "comma-separated pruning targets to try, e.g. 0.5,0.7,0.8,0.9: ships the smallest "
             "gzipped model within --max-accuracy-drop",
    "max_accuracy_drop": "largest accuracy loss of the deployable model vs float32 (0.005 = half a "
                         f"point): the gate, and the sweep's budget (default "
                         f"{_D.validate.max_accuracy_drop})",
}


@typed_task(help={**_MODEL_HELP, **_OPT_HELP})
@_clean_errors
def model(c, data=None, name=None, out=None, config=None, architecture=None, weights=None,
          image_size=None, epochs=None, batch_size=None, learning_rate=None, seed=None,
          initial_sparsity=None, final_sparsity=None, prune_epochs=None, variants=None,
          latency_runs=None, quick=False, force=False, presets=None, deployable=None, sweep=None,
          max_accuracy_drop=None, width=None, augment=None, strategy=None):
    """Train, prune, quantize, convert (with metadata) and validate: models/<name>/."""
    from pipeline.config import load_config
    from pipeline.flow import run_model
    from pipeline.optimize import PRESETS, with_presets
    from pipeline.summary import summary_table
    from pipeline.sweep import sweep_sparsity

    cfg = _config(data, name, out, config, architecture, weights, image_size, epochs, batch_size,
                  learning_rate, seed, initial_sparsity, final_sparsity, prune_epochs, variants,
                  latency_runs, quick, width, augment, strategy)
    cfg = load_config(None, {"validate.max_accuracy_drop": max_accuracy_drop,
                             "convert.deployable": deployable}, base=cfg, flags=_FLAGS)
    if presets:
        names = list(PRESETS) if presets == "all" else [p.strip() for p in presets.split(",")]
        cfg = with_presets(cfg, names)
    if sweep:
        chosen = sweep_sparsity(cfg, sweep.split(","), force=force)
        print(f"Sweep chose final_sparsity {chosen['chosen']:.2f} (see the report)")
        cfg = load_config(None, {"prune.final_sparsity": chosen["chosen"]}, base=cfg)
    result = run_model(cfg, force=force and not sweep)
    print(summary_table(result.report))
    print(f"\nDeployable model: {result.model_path}  (report: {result.report_html})")


@typed_task(help={k: _MODEL_HELP[k] for k in ("data", "name", "out", "config", "architecture",
                                          "weights", "image_size", "epochs", "batch_size",
                                          "learning_rate", "seed", "quick", "force", "width",
                                          "augment", "strategy")})
@_clean_errors
def train(c, data=None, name=None, out=None, config=None, architecture=None, weights=None,
          image_size=None, epochs=None, batch_size=None, learning_rate=None, seed=None,
          quick=False, force=False, width=None, augment=None, strategy=None):
    """Train (or reuse) the float Keras baseline only, and print its test accuracy."""
    from pipeline.flow import train_only

    cfg = _config(data, name, out, config, architecture, weights, image_size, epochs, batch_size,
                  learning_rate, seed, quick=quick, width=width, augment=augment,
                  strategy=strategy)
    result = train_only(cfg, force=force)
    print(f"Keras baseline test accuracy: {result['test_accuracy']:.4f} "
          f"({'reused' if result['reused'] else 'trained'}; cache {result['path']})")


@typed_task(help={"name": _MODEL_HELP["name"], "out": _MODEL_HELP["out"],
            "config": _MODEL_HELP["config"],
            "latency_runs": _MODEL_HELP["latency_runs"]})
@_clean_errors
def evaluate(c, name=None, out=None, config=None, latency_runs=None):
    """Re-validate models/<name>/ in the interpreter on its test split; print the table."""
    from pipeline.flow import evaluate_existing
    from pipeline.summary import summary_table

    cfg = _config(name=name, out=out, config=config, latency_runs=latency_runs)
    report = evaluate_existing(cfg)
    print(summary_table(report))


@typed_task(help={"path": "the .tflite file to check (ours, or any file a user brings)",
            "json": "print the report as JSON instead of one ✓/✗ line per requirement",
            "max_mb": "largest file to read, in MiB (default 512); bigger files are refused unread"})
@_clean_errors
def check_mlkit(c, path, json=False, max_mb=None):
    """Check a .tflite file against ML Kit's custom-model requirements; exit 1 if any fails."""
    from pipeline.mlkit import MAX_MODEL_BYTES, format_report, to_json
    from pipeline.mlkit import check_mlkit as check

    limit = MAX_MODEL_BYTES if max_mb is None else _whole("--max-mb", max_mb, 1) << 20
    report = check(path, max_bytes=limit)
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
    "skip_model": "package models/<name>/ as it is; never run the model stages (it must exist)",
    "rebuild": "rebuild models/<name>/ first, from the data it was trained on, with the model "
               "options given (default: an existing folder is packaged as it is)",
    "force": _MODEL_HELP["force"] + " (implies --rebuild)",
    "data": _MODEL_HELP["data"] + "; a new folder is trained, an existing one is rebuilt only "
            "if it was trained on this data",
    **{k: _MODEL_HELP[k] for k in ("architecture", "weights", "image_size", "epochs", "batch_size",
                                     "learning_rate", "seed", "initial_sparsity", "final_sparsity",
                                     "prune_epochs", "variants", "latency_runs", "strategy")},
}


@typed_task(help=_APK_HELP)
@_clean_errors
def build_apk(c, name=None, out=None, config=None, dist="dist", abis=None, samples=None,
              release=False, skip_model=False, quick=False, rebuild=False, force=False, data=None,
              architecture=None, weights=None, image_size=None, epochs=None, batch_size=None,
              learning_rate=None, seed=None, initial_sparsity=None, final_sparsity=None,
              prune_epochs=None, variants=None, latency_runs=None, strategy=None):
    """Package models/<name>/ (built first only if missing or asked): dist/<name>-debug.apk."""
    from pathlib import Path

    from pipeline.android import ApkOptions
    from pipeline.android import build_apk as build
    from pipeline.android.apk import DEFAULT_ABIS

    model_args = (data, name, out, config, architecture, weights, image_size, epochs, batch_size,
                  learning_rate, seed, initial_sparsity, final_sparsity, prune_epochs, variants,
                  latency_runs, quick, None, None, strategy)
    cfg = _config(*model_args)
    _refuse_multi_worker(cfg.train.strategy)
    recorded = _recorded_config(cfg) if (rebuild or force) and not data else None
    if recorded is not None:  # rebuilt from the data and options it was built with, and those given
        cfg = _config(*model_args, base=recorded)
    options = ApkOptions(  # cheap checks (ABIs, signing, --dist) before any training
        model_dir=cfg.model_dir, out_dir=_dist_dir(dist),
        abis=tuple(a.strip() for a in abis.split(",") if a.strip()) if abis else DEFAULT_ABIS,
        samples_dir=Path(samples) if samples else None,
        signing=_signing(release),
    )
    if not skip_model:
        from pipeline.flow import model_to_package
        from pipeline.summary import summary_table

        result = model_to_package(cfg, rebuild=rebuild, force=force, data_given=bool(data))
        if not result.reused:
            print(summary_table(result.report))
    apk = build(options)
    print("\n".join(apk.summary()))


def _refuse_multi_worker(strategy: str) -> None:
    """build-apk trains on one machine: several workers would wait on one another's folders."""
    from pipeline.distribute import read_tf_config, resolve_strategy_name

    several = strategy == "multi-worker" or (
        resolve_strategy_name(strategy, 0, read_tf_config()) == "multi-worker")
    if several:
        from pipeline.errors import ConfigError

        raise ConfigError(
            "build-apk does not train on several machines (--strategy multi-worker, or TF_CONFIG "
            "naming several workers with --strategy auto)",
            "run `invoke model --strategy multi-worker` on every machine, then `invoke build-apk` "
            "on the chief (worker 0); or pass --strategy default or mirrored")


def _recorded_config(cfg):
    """The options models/<name>/ was built with (the base of --rebuild), or None if none."""
    from pipeline.artifacts import ModelDir
    from pipeline.config import config_from_dict

    folder = ModelDir(cfg.model_dir)
    if not folder.has_report():
        return None
    return config_from_dict({**folder.read_report()["options"], "out_dir": str(folder.path.parent)})


def _dist_dir(dist):
    """The --dist folder, created and proven writable (an error names --dist)."""
    from pathlib import Path

    from pipeline.errors import OutputError
    from pipeline.fsutil import ensure_writable_dir

    try:
        return ensure_writable_dir(Path(dist))
    except OutputError as exc:
        raise OutputError(f"--dist {dist}: {exc.problem}",
                          "pass --dist with a folder you can write to (default: dist)") from None


def _signing(release: bool):
    """Debug signing, or the release key from the environment (its keystore must exist)."""
    from pipeline.android import SigningOptions
    from pipeline.android.signing import RELEASE_ENV
    from pipeline.errors import ConfigError

    if not release:
        return SigningOptions.debug()
    signing = SigningOptions.release_from_env()
    if not signing.keystore.is_file():
        raise ConfigError(f"the release keystore {signing.keystore} ({RELEASE_ENV['keystore']}) "
                          "does not exist", f"point {RELEASE_ENV['keystore']} at your keystore file")
    return signing


@typed_task(help={k: _APK_HELP[k] for k in ("name", "out", "config", "samples")})
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


@typed_task(help={"check": "only report what is missing; install nothing"})
@_clean_errors
def setup_android(c, check=False):
    """Install (as root) the Debian packages and fetch the Java artifacts the APK build uses."""
    from pipeline.android.toolchain import ToolchainOptions, resolve_toolchain

    print("\n".join(resolve_toolchain(ToolchainOptions(install=not check)).describe()))
    from pipeline.jvm import junit_classpath

    print("  host-JVM tests: " + ", ".join(p.name for p in junit_classpath()))
    from pipeline.android.robolectric import fetch_robolectric

    print("  Robolectric tests: " + fetch_robolectric(ToolchainOptions(install=not check)))


@typed_task(help={
    "name": "model name: installs dist/<name>-debug.apk, compares with models/<name>/ (default: digits)",
    "serial": "adb serial of the device or emulator to use (see `adb devices`); needed when several are connected",
    "max_changed": "evaluation images allowed to change their top-1 from Python's before failing (default 0)",
    "apk": "the APK to install (default: dist/<name>-debug.apk)",
    "out": "output root folder (default: models)",
    "threads": "interpreter threads on the device (default 1, like Python's latency)",
    "timeout": "seconds the on-device evaluation (am instrument) may take (default 900)",
    "install_timeout": "seconds adb install may take (default 300)",
    "adb_timeout": "seconds a short adb call (adb devices) may take (default 60)",
})
@_clean_errors
def emulator_test(c, name="digits", serial=None, max_changed=None, apk=None, out="models",
                  threads=None, timeout=None, install_timeout=None, adb_timeout=None):
    """Run the app's classifier on a device/emulator over the bundled evaluation set; compare with Python."""
    from pathlib import Path

    from pipeline.android.device import DeviceOptions, format_device_report, run_emulator_test
    from pipeline.artifacts import ModelDir
    from pipeline.fidelity import update_device_row

    folder = ModelDir(Path(out) / name)
    # Numbers arrive as text (None defaults: Invoke's own int parsing would end in a traceback).
    max_changed = _whole("--max-changed", 0 if max_changed is None else max_changed)
    report = run_emulator_test(DeviceOptions(
        model_dir=folder.path, apk=Path(apk) if apk else None, serial=serial,
        max_changed=max_changed, threads=_whole("--threads", threads or 1, 1),
        timeout_s=_whole("--timeout", timeout or 900, 1),
        install_timeout_s=_whole("--install-timeout", install_timeout or 300, 1),
        adb_timeout_s=_whole("--adb-timeout", adb_timeout or 60, 1)))
    update_device_row(folder.path)  # the fidelity table's device row, in report.json
    print(format_device_report(report))
    if not report["passed"]:
        raise Exit(f"error: {report['changed_count']} evaluation image(s) changed top-1 on the "
                   f"device (allowed: {max_changed}) - see {folder.device_report_path}",
                   code=1)


@typed_task(help={
    "name": "model name: runs the app from dist/<name>-debug.apk against models/<name>/ (default: digits)",
    "out": "output root folder (default: models)",
    "apk": "the debug APK whose resources and assets to use (default: dist/<name>-debug.apk)",
    "sdks": "comma-separated API levels to run at (default: 24,36)",
})
@_clean_errors
def robolectric_test(c, name="digits", out="models", apk=None, sdks="24,36"):
    """Run the app (Activity + EvalInstrumentation) on the Android framework with Robolectric; screenshots."""
    from pathlib import Path

    from pipeline.android.device import format_device_report
    from pipeline.android.robolectric import RobolectricOptions, fidelity_row, run_robolectric
    from pipeline.artifacts import ModelDir
    from pipeline.fidelity import put_row
    from pipeline.report import write_report

    folder = ModelDir(Path(out) / name)
    run = run_robolectric(RobolectricOptions(
        apk=Path(apk) if apk else Path("dist") / f"{name}-debug.apk", model_dir=folder.path,
        sdks=tuple(_whole("--sdks", s, 1) for s in str(sdks).split(","))))
    for sdk, report in run.device_reports.items():
        print(f"==> API {sdk}: " + (format_device_report(report) if isinstance(report, dict) else report))
    row = fidelity_row(run)
    if put_row(folder.path, "framework", lambda _: row):  # the fidelity table's framework row
        write_report(folder.path)
    print(f"{row['runtime']}: {row['status']}, JUnit {run.tests} tests, {run.failures} failed "
          f"({run.seconds['run']:.0f} s); screenshots: {', '.join(map(str, run.screenshots.values())) or 'none'}")
    if not run.passed:
        print(run.output[-4000:])
        raise Exit(f"error: {run.failures} Robolectric test(s) failed: {', '.join(run.failed) or 'see above'}",
                   code=1)


@typed_task(help={"name": _MODEL_HELP["name"], "out": _MODEL_HELP["out"],
            "config": _MODEL_HELP["config"]})
@_clean_errors
def report(c, name=None, out=None, config=None):
    """Render models/<name>/report.html (self-contained, opens offline) from its report.json."""
    from pipeline.report import write_report

    cfg = _config(name=name, out=out, config=config)
    print(f"Report: {write_report(cfg.model_dir)}")


@typed_task(help={"out": "results JSON to write (default: benchmarks/results.json)",
            "config": _MODEL_HELP["config"],
            "reuse": "reuse cached pipeline stages (faster; stage times are then load times)",
            "mobilenet_size": "input side of the MobileNetV2 latency model (default: 224)",
            "latency_runs": "timed invocations per model and thread count (default: 30)",
            "scale": "also measure the data stage and a training epoch at 2,000 / 10,000 / 40,000 "
                     "images (peak RSS, images/s; --no-scale skips it, about 3 minutes)"})
@_clean_errors
def benchmark(c, out="benchmarks/results.json", config=None, reuse=False, mobilenet_size=None,
              latency_runs=None, scale=True):
    """Measure size, accuracy, float32 vs int8 latency and stage times against the targets."""
    from pipeline.benchmark import run_benchmark

    run_benchmark(out, _config(config=config), force=not reuse,
                  mobilenet_size=_whole("--mobilenet-size", mobilenet_size or 224, 32),
                  latency_runs=_whole("--latency-runs", latency_runs or 30, 1), scale=scale)


@typed_task(help={"out": "folder to write (one subfolder per class; replaced)",
                  "per_class": "images of the largest class (default 80)",
                  "image_size": "side of the PNGs in pixels (default 48)",
                  "seed": "seed of every random choice (default 0)",
                  "style": "class set: mixed (default), shapes or glyphs",
                  "imbalance": "largest / smallest class count (default 1: balanced)"})
@_clean_errors
def synthetic_data(c, out="build/shapes", per_class=None, image_size=None, seed=None,
                   style="mixed", imbalance=None):
    """Generate the second test dataset (shapes and glyphs; test split from held-out sources)."""
    from pipeline.config import load_config
    from pipeline.synthetic import SyntheticOptions, generate

    split = load_config(CONFIG_FILE).data
    options = SyntheticOptions(_whole("--per-class", per_class or 80, 3),
                               _whole("--image-size", image_size or 48, 8),
                               _whole("--seed", 0 if seed is None else seed), style,
                               _number("--imbalance", imbalance or 1.0, 1.0))
    manifest = generate(out, options, split)
    print(f"{len(manifest['files'])} images in {out}; train on them with: "
          f"invoke model --data {out}")


def _number(flag: str, value, lo: float) -> float:
    """A real-number CLI value, or a ConfigError naming the option."""
    from pipeline.errors import ConfigError

    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a number", f"pass {flag} with a number >= {lo:g}") from None
    if not number >= lo or number == float("inf"):
        raise ConfigError(f"{flag} {number:g} is out of range", f"pass {flag} with a number >= {lo:g}")
    return number


ns = Collection(model, train, evaluate, check_mlkit, build_apk, android_assets, setup_android,
                emulator_test, robolectric_test, report, benchmark, synthetic_data)


def main() -> None:
    """The installed `tflite-pipeline` command: the same tasks as `invoke` in the repository."""
    from pipeline.runlog import package_version

    release = package_version("tflite-pipeline", "unknown")  # "unknown": a checkout, not installed
    Program(namespace=ns, version=release, name="tflite-pipeline",
            binary="tflite-pipeline").run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
