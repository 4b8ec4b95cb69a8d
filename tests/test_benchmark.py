"""pipeline.benchmark: its arithmetic, verdicts and table on hand-made results, and the
interleaved latency on a tiny model (no full benchmark run: that is `invoke benchmark`)."""

from __future__ import annotations

import json

import pytest

import _models
from pipeline import benchmark


def _results(dep_ratio=12.5, delta=+0.002, speedup=2.1):
    lat = {"1": {"mean": 0.1}, "2": {"mean": 0.08}}
    variants = {
        "float32": {"gzip_bytes": 1000, "gzip_ratio": 1.0, "accuracy": 0.98, "accuracy_delta": 0.0,
                    "latency_ms": lat, "meets_size_and_accuracy": False},
        "pruned_int8": {"gzip_bytes": 80, "gzip_ratio": dep_ratio, "accuracy": 0.98 + delta,
                        "accuracy_delta": delta, "latency_ms": lat,
                        "meets_size_and_accuracy": dep_ratio >= benchmark.TARGET_GZIP_RATIO},
    }
    speed = {"1": {"float32_ms": 2.0, "int8_ms": 2.0 / speedup, "speedup": speedup}}
    return {
        "machine": {"processor": "test cpu", "cpus": 2},
        "pipeline": {"dataset": "digits", "test_images": 359,
                     "float32": {"gzip_bytes": 1000, "accuracy": 0.98},
                     "deployable": {"name": "pruned_int8", **variants["pruned_int8"]},
                     "variants": variants, "cnn_latency": speed,
                     "stage_groups_s": {"keras": 10.0, "convert": 2.5}},
        "mobilenet": {"model": "MobileNetV2 alpha 1.0, 224x224", "speedup": speed,
                      "builtin_kernels": {"speedup": speed}},
        "apk": {"build_s": 3.2},
        "default_build": {"model_s": 100.0, "apk": {"build_s": 3.2}, "total_s": 103.2 if delta > 0 else 200.0,
                          "apk_included": True, "deployable_accuracy": 0.98},
        "second_dataset": {"dataset": "generated", "test_images": 160,
                           "float32": {"accuracy": 0.95, "gzip_bytes": 700_000},
                           "deployable": {"name": "pruned_int8", "accuracy": 0.95 + delta * 5,
                                          "gzip_bytes": int(700_000 / dep_ratio)},
                           "gzip_ratio": dep_ratio, "accuracy_delta": delta * 5, "wall_s": 55.0},
    }


def test_speedups_are_median_ratios():
    out = benchmark._speedups({"1": {"p50": 2.0}, "2": {"p50": 1.0}}, {"1": {"p50": 0.5}, "2": {"p50": 0.0}})
    assert out["1"] == {"float32_ms": 2.0, "int8_ms": 0.5, "speedup": 4.0}
    assert out["2"]["speedup"] != out["2"]["speedup"]  # NaN when int8 took no time


@pytest.mark.parametrize("ratio, delta, speedup, met", [
    (12.5, +0.002, 2.1, [True, True, True, True, None, True, True, True]),
    (9.0, -0.02, 1.5, [False, False, False, False, None, False, False, False]),
])
def test_verdicts_judge_each_target(ratio, delta, speedup, met):
    verdicts = benchmark._verdicts(_results(ratio, delta, speedup))
    assert [v["met"] for v in verdicts] == met
    assert verdicts[0]["value"] == f"{ratio:.1f}x"


def test_table_shows_every_part_and_is_json_ready():
    results = _results()
    results["verdicts"] = benchmark._verdicts(results)
    text = benchmark.format_table(results)
    assert "*pruned_int8" in text and "12.5" in text and "APK build: 3.2 s" in text
    assert "✓ deployable (pruned_int8) >= 12x smaller gzipped: 12.5x" in text
    assert "Stage wall time (s): keras 10.0, convert 2.5; total 12.5" in text
    assert "Default build-apk from scratch: model 100.0 s + APK 3.2 s = 103.2 s" in text
    assert "Second dataset (generated shapes/glyphs, 160 test images" in text
    json.dumps(results)  # what run_benchmark writes


def test_paired_latency_on_a_tiny_model():
    models = {"float32": _models.float_model(), "int8": _models.int8_model()}
    lat = benchmark._paired_latency(models, threads=1, runs=5)
    assert set(lat) == {"float32", "int8"}
    for stats in lat.values():
        assert stats["runs"] == 5 and 0 < stats["p50"] <= stats["p90"] * 1.0001
    table = benchmark._latency_table(models, runs=3)
    assert set(table["speedup"]) == {"1", "2"} and table["speedup"]["1"]["speedup"] > 0


def test_scale_verdicts_compare_the_largest_size_with_the_smallest():
    rows = [{"images": n, "phase": phase, "peak_rss_mb": rss, "images_per_s": 900.0}
            for n, scale in ((2000, 1.0), (40000, 1.29))
            for phase, rss in (("data (first)", 86 * scale), ("data (again)", 42), ("train", 936 * scale))]
    verdicts = benchmark._scale_verdicts({"rows": rows})
    assert [v["met"] for v in verdicts] == [True, True, True]
    assert verdicts[0]["value"] == "111 MB vs 86 MB (1.29x)"
    rows[2]["peak_rss_mb"] = 10.0  # the small run's training peak: 40k is now 120x of it
    assert [v["met"] for v in benchmark._scale_verdicts({"rows": rows})] == [True, False, True]
    assert benchmark._scale_verdicts(None) == []
