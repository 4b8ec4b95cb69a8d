"""The benchmark: what the pipeline achieves on this machine, against the project's targets.

Public entry point: `run_benchmark(out="benchmarks/results.json", config=None) -> dict`.
In one run it measures:

* size and accuracy: the default pipeline (with every optimization preset added) on the default
  dataset; gzip(float32) / gzip(variant) and the accuracy delta of the deployable model and of
  every full-int8 variant;
* latency: float32 vs int8 interpreter latency with 1 and 2 threads for the default CNN (from the
  run's validation) and for a MobileNet-class model at a realistic input size (MobileNetV2,
  alpha 1.0, 224x224, random weights: latency does not depend on the weights' values);
* the wall time of each pipeline stage (the run's `timings_s`, rebuilt from scratch by default);
* the APK build time, when the app build (`pipeline.android.apk.build_apk`) exists;
* the default `invoke build-apk` on the default dataset, timed end to end from scratch (the
  model with default options, then the APK): target under 3 minutes;
* the default options on a second, generated dataset (`pipeline.synthetic`: shapes and glyphs,
  test images from sources absent from training), so the recipe is never judged on digits
  alone: float32 and deployable test accuracy and gzip sizes. Targets: deployable within 1
  point of float32, gzip at least 10x smaller.

It is not a test: it prints a table, writes the JSON and says which targets were met. Targets:
the deployable model >= 12x smaller gzipped than float32 with <= 0.5 point accuracy loss; int8
>= 2x faster than float32 on the MobileNet-class model.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.android.apk import ApkOptions, build_apk
from pipeline.android.toolchain import ToolchainOptions
from pipeline.artifacts import ModelDir
from pipeline.config import DataOptions, PipelineConfig
from pipeline.convert import convert_variant
from pipeline.errors import PipelineError
from pipeline.flow import run_model
from pipeline.fsutil import atomic_write_json
from pipeline.optimize import with_presets
from pipeline.report import write_report
from pipeline.runlog import log as default_log, package_versions
from pipeline.scalebench import run_scale_benchmark
from pipeline.synthetic import SyntheticOptions, generate

TARGET_GZIP_RATIO = 12.0  # gzip(float32) / gzip(deployable)
TARGET_MAX_DROP = 0.005  # accuracy, float32 minus deployable (0.005 = half a point)
TARGET_INT8_SPEEDUP = 2.0  # float32 ms / int8 ms on the MobileNet-class model
TARGET_DEFAULT_BUILD_S = 180.0  # default `invoke build-apk` on the default dataset, from scratch
TARGET_SECOND_RATIO = 10.0  # second dataset, default options: gzip(float32) / gzip(deployable)
TARGET_SECOND_DROP = 0.01  # second dataset: float32 minus deployable accuracy
TARGET_RSS_GROWTH = 1.5  # peak RSS at the largest scale size / at the smallest
RESULTS_VERSION = 2


def run_benchmark(out: str | Path = "benchmarks/results.json", config: PipelineConfig | None = None,
                  *, force: bool = True, mobilenet_size: int = 224, mobilenet_alpha: float = 1.0,
                  latency_runs: int = 30, log: Callable[[str], None] = default_log,
                  verbose: int = 0, scale: bool = True) -> dict:
    """Run the benchmark, write `out` (JSON, atomically), print the table; return the results.

    `config` defaults to the built-in defaults; every optimization preset is added to its
    variants and the model is written as `<out_dir>/<name>-benchmark/` (the shipped
    `<out_dir>/<name>/` is left alone). `force` rebuilds every stage so the stage times are real.
    """

    config = config or PipelineConfig.default()
    cfg = with_presets(replace(config, name=f"{config.name}-benchmark"))
    if "float32" not in cfg.convert.variants:  # the reference of every ratio
        variants = ("float32", *cfg.convert.variants)
        cfg = replace(cfg, convert=replace(cfg.convert, variants=variants))
    started = time.perf_counter()
    results = {
        "results_version": RESULTS_VERSION,
        "machine": _machine(),
        "targets": {"gzip_ratio_min": TARGET_GZIP_RATIO, "accuracy_drop_max": TARGET_MAX_DROP,
                    "mobilenet_int8_speedup_min": TARGET_INT8_SPEEDUP},
    }
    log(f"==> benchmark: pipeline on {config.data.data_dir or 'the embedded digits'} "
        f"({'rebuilding every stage' if force else 'reusing cached stages'})")
    results["pipeline"] = _pipeline_part(cfg, force, latency_runs, log, verbose)
    log(f"==> benchmark: MobileNetV2 alpha {mobilenet_alpha} at {mobilenet_size}x{mobilenet_size}")
    results["mobilenet"] = _mobilenet_part(mobilenet_size, mobilenet_alpha, latency_runs, log)
    results["apk"] = _apk_part(Path(results["pipeline"]["model_dir"]), log)
    log("==> benchmark: default build-apk from scratch")
    results["default_build"] = _default_build_part(config, log, verbose)
    log("==> benchmark: default options on the generated second dataset")
    results["second_dataset"] = _second_dataset_part(config, log, verbose)
    if scale:
        log("==> benchmark: data stage and training epoch at 2,000 / 10,000 / 40,000 images")
        results["scale"] = run_scale_benchmark(Path(config.out_dir) / ".benchmark-data" / "scale",
                                               log=log)
    results["verdicts"] = _verdicts(results)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    atomic_write_json(Path(out), results)
    print(format_table(results))
    return results


# ---------------------------------------------------------------------------------------------
# Parts.

def _pipeline_part(cfg: PipelineConfig, force: bool, runs: int, log, verbose: int) -> dict:

    result = run_model(cfg, force=force, log=log, verbose=verbose)
    report = result.report
    write_report(result.model_dir)
    variants = report["variants"]
    ref = variants["float32"]
    dep = report["deployable"]

    def row(name: str) -> dict:
        v = variants[name]
        ratio, drop = ref["gzip_bytes"] / v["gzip_bytes"], ref["accuracy"] - v["accuracy"]
        return {
            "bytes": v["bytes"], "gzip_bytes": v["gzip_bytes"],
            "gzip_ratio": ratio,
            "accuracy": v["accuracy"], "accuracy_delta": v["accuracy"] - ref["accuracy"],
            "latency_ms": v["latency_ms"], "sparsity": v.get("sparsity", {}).get("overall"),
            "meets_size_and_accuracy": (ratio >= TARGET_GZIP_RATIO
                                        and drop <= TARGET_MAX_DROP + 1e-9),
        }

    timings = report.get("timings_s", {})
    groups: dict[str, float] = {}
    for stage, seconds in timings.items():
        group = stage.split(":")[0]
        groups[group] = round(groups.get(group, 0.0) + seconds, 2)
    return {
        "model_dir": str(result.model_dir),
        "report_html": str(result.report_html),
        "reused": result.reused,
        "dataset": report["dataset"]["source"],
        "test_images": report["dataset"]["totals"]["test"],
        "float32": {"bytes": ref["bytes"], "gzip_bytes": ref["gzip_bytes"],
                    "accuracy": ref["accuracy"], "latency_ms": ref["latency_ms"]},
        "deployable": {"name": dep, **row(dep)},
        "variants": {n: row(n) for n in variants},
        "cnn_latency": _latency_table(
            {"float32": ModelDir(result.model_dir).variant_bytes("float32"),
             "int8": ModelDir(result.model_dir).model_bytes()}, runs * 4)["speedup"],
        "stage_times_s": timings,
        "stage_groups_s": groups,
    }


def _default_build_part(config: PipelineConfig, log, verbose: int) -> dict:
    """`invoke build-apk` with the default options, every stage rebuilt: model, then APK."""
    cfg = replace(config, name=f"{config.name}-default-benchmark")
    t0 = time.perf_counter()
    result = run_model(cfg, force=True, log=log, verbose=verbose)
    model_s = time.perf_counter() - t0
    apk = _apk_part(result.model_dir, log)
    total = model_s + apk.get("build_s", 0.0)
    return {"model_s": round(model_s, 1), "apk": apk, "total_s": round(total, 1),
            "apk_included": "build_s" in apk,
            "deployable_accuracy": result.report["variants"][result.report["deployable"]]["accuracy"]}


def _second_dataset_part(config: PipelineConfig, log, verbose: int) -> dict:
    """Default options (the config's, minus its data) on the generated shapes-and-glyphs set."""
    data_dir = Path(config.out_dir) / ".benchmark-data" / "shapes"
    options = SyntheticOptions()
    generate(data_dir, options, DataOptions())
    cfg = replace(config, name="shapes-benchmark", data=DataOptions(data_dir=str(data_dir)))
    t0 = time.perf_counter()
    report = run_model(cfg, force=True, log=log, verbose=verbose).report
    wall = time.perf_counter() - t0
    ref, dep = report["variants"]["float32"], report["variants"][report["deployable"]]
    return {
        "dataset": f"pipeline.synthetic {options}", "test_images": report["dataset"]["totals"]["test"],
        "float32": {"accuracy": ref["accuracy"], "bytes": ref["bytes"], "gzip_bytes": ref["gzip_bytes"]},
        "deployable": {"name": report["deployable"], "accuracy": dep["accuracy"],
                       "bytes": dep["bytes"], "gzip_bytes": dep["gzip_bytes"]},
        "keras_baseline_accuracy": report["keras"]["baseline"]["test_accuracy"],
        "gzip_ratio": ref["gzip_bytes"] / dep["gzip_bytes"],
        "accuracy_delta": dep["accuracy"] - ref["accuracy"],
        "wall_s": round(wall, 1),
    }


def _mobilenet_part(size: int, alpha: float, runs: int, log) -> dict:
    from pipeline._tf import keras

    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    model = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha,
                                           weights=None, classes=1000)
    rng = np.random.default_rng(0)
    calib = rng.uniform(-1.0, 1.0, size=(8, size, size, 3)).astype(np.float32)
    f32 = convert_variant(model, "float32")
    t_f32 = time.perf_counter() - t0
    int8 = convert_variant(model, "int8", calib)
    t_int8 = time.perf_counter() - t0 - t_f32
    xnn = _latency_table({"float32": f32, "int8": int8}, runs)
    builtin = _latency_table({"float32": f32, "int8": int8}, max(5, runs // 3), xnnpack=False)
    for label, part in (("XNNPack", xnn), ("builtin kernels", builtin)):
        log(f"    {label}: " + ", ".join(
            f"{t}T {v['float32_ms']:.2f} -> {v['int8_ms']:.2f} ms ({v['speedup']:.2f}x)"
            for t, v in part["speedup"].items()))
    return {
        "model": f"MobileNetV2 alpha {alpha}, {size}x{size}x3, 1000 classes, random weights",
        "params": int(model.count_params()),
        "bytes": {"float32": len(f32), "int8": len(int8)},
        "convert_s": {"float32": round(t_f32, 1), "int8": round(t_int8, 1)},
        **xnn,
        "builtin_kernels": builtin,
    }


def _paired_latency(models: dict[str, bytes], threads: int, runs: int,
                    xnnpack: bool = True) -> dict[str, dict]:
    """Latency of single invoke()s, the models interleaved call by call.

    Each round invokes every model once, so a load spike on a shared machine hits them alike.
    Returns {name: {"mean", "p50", "p90", "runs"}} in milliseconds. `xnnpack=False` runs TFLite's
    builtin kernels without the default XNNPack delegate.
    """
    interps = {name: _ready_interpreter(data, threads, xnnpack) for name, data in models.items()}
    for interp in interps.values():
        for _ in range(3):
            interp.invoke()
    times: dict[str, list[float]] = {name: [] for name in interps}
    for _ in range(runs):
        for name, interp in interps.items():
            t0 = time.perf_counter()
            interp.invoke()
            times[name].append((time.perf_counter() - t0) * 1000.0)
    return {name: {"mean": float(np.mean(t)), "p50": float(np.median(t)),
                   "p90": float(np.percentile(t, 90)), "runs": runs} for name, t in times.items()}


def _ready_interpreter(model: bytes, threads: int, xnnpack: bool):
    """An interpreter with a random input of the model's own dtype already set."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (OpResolverType.AUTO if xnnpack
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp = Interpreter(model_content=model, num_threads=threads,
                         experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    rng = np.random.default_rng(1)
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max + 1, size=detail["shape"]).astype(dtype)
    else:
        x = rng.uniform(-1.0, 1.0, size=detail["shape"]).astype(dtype)
    interp.set_tensor(detail["index"], x)
    return interp


def _latency_table(models: dict[str, bytes], runs: int, xnnpack: bool = True) -> dict:
    """{"float32": {threads: stats}, "int8": {...}} and the speedups, for 1 and 2 threads."""
    per_thread = {str(t): _paired_latency(models, t, runs, xnnpack) for t in (1, 2)}
    latency = {name: {t: per_thread[t][name] for t in per_thread} for name in models}
    return {"latency_ms": latency, "speedup": _speedups(latency["float32"], latency["int8"])}


def _apk_part(model_dir: Path, log) -> dict:
    """Build (into a temporary folder) and time the APK when the app build exists; else say why.

    The toolchain is resolved as `invoke build-apk` does (same artifact cache), except that no
    Debian package is installed for the benchmark's sake: a missing tool skips this part.
    """
    if not Path("android_app").is_dir():
        return {"skipped": "no android_app/ folder here (run the benchmark from the repo root)"}
    log("==> benchmark: APK build")
    with tempfile.TemporaryDirectory(prefix="benchmark-apk-") as tmp:
        t0 = time.perf_counter()
        try:
            built = build_apk(ApkOptions(model_dir=model_dir, out_dir=Path(tmp),
                                         toolchain=ToolchainOptions(install=False)))
        except PipelineError as exc:
            return {"skipped": f"the APK build failed: {exc}"}
        wall = time.perf_counter() - t0
    return {"build_s": round(wall, 1), "apk_bytes": built.apk_bytes,
            "steps_s": {k: round(v, 2) for k, v in built.timings.items()}}


def _speedups(float_lat: dict, int8_lat: dict) -> dict:
    """Per thread count: median float32 ms, median int8 ms and their ratio."""
    out = {}
    for t in sorted(set(float_lat) & set(int8_lat), key=int):
        f, q = float_lat[t]["p50"], int8_lat[t]["p50"]
        out[t] = {"float32_ms": f, "int8_ms": q, "speedup": f / q if q else float("nan")}
    return out


def _verdicts(results: dict) -> list[dict]:
    p, m = results["pipeline"], results["mobilenet"]
    dep = p["deployable"]
    ok_variants = [n for n, v in p["variants"].items() if v["meets_size_and_accuracy"]]
    best_speedup = max(v["speedup"] for v in m["speedup"].values())
    cnn = p["cnn_latency"]
    return [
        {"target": f"deployable ({dep['name']}) >= {TARGET_GZIP_RATIO:g}x smaller gzipped",
         "value": f"{dep['gzip_ratio']:.1f}x", "met": dep["gzip_ratio"] >= TARGET_GZIP_RATIO},
        {"target": f"deployable accuracy loss <= {TARGET_MAX_DROP * 100:g} point",
         "value": f"{dep['accuracy_delta'] * 100:+.2f} points vs float32",
         "met": -dep["accuracy_delta"] <= TARGET_MAX_DROP + 1e-9},
        {"target": "variants meeting both size and accuracy targets",
         "value": ", ".join(ok_variants) or "none", "met": bool(ok_variants)},
        {"target": f"MobileNet-class int8 >= {TARGET_INT8_SPEEDUP:g}x faster than float32",
         "value": ", ".join(f"{t}T {v['speedup']:.2f}x" for t, v in m["speedup"].items()),
         "met": best_speedup >= TARGET_INT8_SPEEDUP},
        {"target": "default CNN: int8 vs float32 (informational, no target)",
         "value": ", ".join(f"{t}T {v['speedup']:.2f}x" for t, v in cnn.items()), "met": None},
        *_later_verdicts(results),
        *_scale_verdicts(results.get("scale")),
    ]


def _scale_verdicts(scale: dict | None) -> list[dict]:
    """Peak RSS must not grow with the number of images; the second data run reuses the cache."""
    if not scale:
        return []
    rows = scale["rows"]
    sizes = sorted({r["images"] for r in rows})
    peak = {(r["images"], r["phase"]): r["peak_rss_mb"] for r in rows}
    out = []
    for phase in ("data (first)", "train"):
        small, large = peak.get((sizes[0], phase)), peak.get((sizes[-1], phase))
        if small and large:
            out.append({"target": f"{phase}: peak RSS at {sizes[-1]:,} images <= "
                                  f"{TARGET_RSS_GROWTH:g}x that at {sizes[0]:,}",
                        "value": f"{large:.0f} MB vs {small:.0f} MB ({large / small:.2f}x)",
                        "met": large <= TARGET_RSS_GROWTH * small})
    again = [r for r in rows if r["phase"].startswith("data (again")]
    out.append({"target": "second data run reuses the cache",
                "value": f"{len(again)} of {len(sizes)} sizes", "met": len(again) == len(sizes)})
    return out


def _later_verdicts(results: dict) -> list[dict]:
    build, second = results["default_build"], results["second_dataset"]
    return [
        {"target": f"default build-apk from scratch < {TARGET_DEFAULT_BUILD_S:g} s",
         "value": f"{build['total_s']:.1f} s" + ("" if build["apk_included"] else " (model only: "
                                                  "no APK build here)"),
         "met": build["total_s"] < TARGET_DEFAULT_BUILD_S if build["apk_included"] else None},
        {"target": f"second dataset: deployable within {TARGET_SECOND_DROP * 100:g} point of float32",
         "value": f"{second['deployable']['accuracy']:.4f} vs {second['float32']['accuracy']:.4f}",
         "met": -second["accuracy_delta"] <= TARGET_SECOND_DROP + 1e-9},
        {"target": f"second dataset: deployable >= {TARGET_SECOND_RATIO:g}x smaller gzipped",
         "value": f"{second['gzip_ratio']:.1f}x", "met": second["gzip_ratio"] >= TARGET_SECOND_RATIO},
    ]


def _machine() -> dict:
    return {**package_versions(("tensorflow", "ai-edge-litert")),
            "processor": _cpu_name(), "cpus": os.cpu_count()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------------------------
# The printed table.

def format_table(results: dict) -> str:
    """The short terminal summary of `results` (what `invoke benchmark` prints)."""
    p, m = results["pipeline"], results["mobilenet"]
    lines = [f"Benchmark on {results['machine']['processor']} ({results['machine']['cpus']} CPUs)",
             "", f"Size and accuracy ({p['dataset']}, {p['test_images']} test images; "
             f"float32 {p['float32']['gzip_bytes']:,} B gzipped, "
             f"accuracy {p['float32']['accuracy']:.4f})"]
    head = ("variant", "gzip B", "x smaller", "accuracy", "Δ points", "ms 1T", "ms 2T", "targets")
    rows = []
    for name, v in p["variants"].items():
        lat = v["latency_ms"]
        rows.append((("*" if name == p["deployable"]["name"] else " ") + name,
                     f"{v['gzip_bytes']:,}", f"{v['gzip_ratio']:.1f}", f"{v['accuracy']:.4f}",
                     f"{v['accuracy_delta'] * 100:+.2f}",
                     f"{lat.get('1', {}).get('mean', float('nan')):.3f}",
                     f"{lat.get('2', {}).get('mean', float('nan')):.3f}",
                     "both" if v["meets_size_and_accuracy"] else "-"))
    lines += _grid(head, rows)
    lines += ["", "float32 vs int8 latency (median ms per image; the two models interleaved)"]
    head = ("model", "threads", "float32", "int8", "speedup")
    rows = [("cnn " + p["deployable"]["name"], t, f"{v['float32_ms']:.3f}", f"{v['int8_ms']:.3f}",
             f"{v['speedup']:.2f}x") for t, v in p["cnn_latency"].items()]
    size = m["model"].split(", ")[1].split("x")[0]
    rows += [(f"MobileNetV2 {size}", t, f"{v['float32_ms']:.2f}", f"{v['int8_ms']:.2f}",
              f"{v['speedup']:.2f}x") for t, v in m["speedup"].items()]
    rows += [(f"MobileNetV2 {size}, no XNNPack", t, f"{v['float32_ms']:.2f}",
              f"{v['int8_ms']:.2f}", f"{v['speedup']:.2f}x")
             for t, v in m["builtin_kernels"]["speedup"].items()]
    lines += _grid(head, rows)
    groups = p["stage_groups_s"]
    lines += ["", "Stage wall time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in groups.items())
              + f"; total {sum(groups.values()):.1f}"]
    apk = results.get("apk", {})
    lines.append("APK build: " + (f"{apk['build_s']:.1f} s" if "build_s" in apk
                                  else f"skipped ({apk.get('skipped', 'n/a')})"))
    if "default_build" in results:
        b = results["default_build"]
        lines.append(f"Default build-apk from scratch: model {b['model_s']:.1f} s + APK "
                     f"{b['apk'].get('build_s', float('nan')):.1f} s = {b['total_s']:.1f} s")
    if "second_dataset" in results:
        d = results["second_dataset"]
        lines.append(f"Second dataset (generated shapes/glyphs, {d['test_images']} test images, "
                     f"default options): float32 {d['float32']['accuracy']:.4f} "
                     f"({d['float32']['gzip_bytes']:,} B gz), {d['deployable']['name']} "
                     f"{d['deployable']['accuracy']:.4f} ({d['deployable']['gzip_bytes']:,} B gz, "
                     f"{d['gzip_ratio']:.1f}x smaller), {d['wall_s']:.0f} s")
    for row in results.get("scale", {}).get("rows", []):
        lines.append(f"Scale: {row['images']:,} images, {row['phase']}: {row['images_per_s']:,.0f} "
                     f"images/s, peak RSS {row['peak_rss_mb']:,.0f} MB")
    lines += ["", "Targets:"]
    for v in results["verdicts"]:
        mark = {True: "✓", False: "✗", None: "·"}[v["met"]]
        lines.append(f"  {mark} {v['target']}: {v['value']}")
    return "\n".join(lines)


def _grid(head, rows) -> list[str]:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    rule = fmt.format(*["-" * w for w in widths])
    return [fmt.format(*head), rule] + [fmt.format(*r) for r in rows]
