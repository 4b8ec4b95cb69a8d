"""The main job end to end on the default dataset, plus caching and failure atomicity."""

import gzip
import json

import numpy as np
import pytest

from _deployable import assert_deployable
from pipeline.config import DataOptions, PipelineConfig, PruneOptions, ValidateOptions
from pipeline.errors import DataError, OutputError, ValidationError

pytestmark = pytest.mark.slow


def test_outputs_exist(digits_run):
    config, result = digits_run
    d = result.model_dir
    assert (d / "model.tflite").is_file() and (d / "labels.txt").is_file()
    assert {p.stem for p in (d / "variants").glob("*.tflite")} == {
        "float32", "dynamic", "float16", "int8", "pruned_float32"}
    report = json.loads((d / "report.json").read_text())
    assert report["deployable"] == "pruned_int8"
    assert sum(report["dataset"]["counts"]["test"].values()) == report["dataset"]["totals"]["test"]
    for v in report["variants"].values():
        for key in ("bytes", "gzip_bytes", "accuracy", "agreement_with_keras", "latency_ms",
                    "sparsity"):
            assert key in v
        assert set(v["latency_ms"]) == {"1", "2"}
        assert v["latency_ms"]["1"]["p90"] >= 0


def test_deployable_accuracy_and_agreement(digits_run):
    _, result = digits_run
    r = result.report
    dep = r["variants"]["pruned_int8"]
    float_acc = r["keras"]["baseline"]["test_accuracy"]
    assert dep["accuracy"] >= 0.95
    assert dep["accuracy"] >= float_acc - 0.01
    assert dep["agreement_with_keras"] >= 0.98


def test_deployable_is_full_int8_with_uint8_io_and_softmax(digits_run):
    _, result = digits_run
    assert_deployable(result.model_path.read_bytes(), result.report["variants"]["pruned_int8"],
                      shape=(32, 32), classes=10)


def test_sparsity_survives_conversion(digits_run):
    config, result = digits_run
    r = result.report["variants"]
    target = config.prune.final_sparsity
    assert r["pruned_int8"]["sparsity"]["overall"] == pytest.approx(target, abs=0.01)
    assert r["float32"]["gzip_bytes"] / r["pruned_int8"]["gzip_bytes"] >= 5.0
    raw = result.model_path.read_bytes()
    assert len(gzip.compress(raw, 9)) == r["pruned_int8"]["gzip_bytes"]


def test_metadata_read_back(digits_run):
    from pipeline.metadata import read_metadata

    _, result = digits_run
    labels = (result.model_dir / "labels.txt").read_text().splitlines()
    assert labels == [str(i) for i in range(10)]
    for path in [result.model_path, *sorted((result.model_dir / "variants").glob("*.tflite"))]:
        meta = read_metadata(path.read_bytes())
        assert list(meta.labels) == labels, path
        assert meta.mean == (0.0, 0.0, 0.0) and meta.std == (255.0, 255.0, 255.0)
        assert meta.name == "digits" and meta.version and meta.license


def test_rerun_reuses_and_force_rebuilds_nothing_else(digits_run):
    from pipeline.flow import run_model

    config, first = digits_run
    again = run_model(config, verbose=0)
    assert again.reused and again.report["cache_key"] == first.report["cache_key"]


def test_changed_option_reuses_earlier_stages(digits_run, capsys):
    from dataclasses import replace

    from pipeline.flow import run_model

    config, _ = digits_run
    cfg = replace(config, name="digits-small", convert=replace(
        config.convert, variants=("float32",)))
    result = run_model(cfg, verbose=0)
    assert not result.reused
    assert result.report["keras"]["baseline"]["reused_from_cache"]
    assert result.report["keras"]["pruned"]["reused_from_cache"]


def test_bad_data_leaves_nothing(tmp_path):
    from pipeline.flow import run_model

    cfg = PipelineConfig(out_dir=str(tmp_path / "out"), name="x",
                         data=DataOptions(data_dir=str(tmp_path / "missing")))
    with pytest.raises(DataError, match="does not exist"):
        run_model(cfg, verbose=0)
    assert not (tmp_path / "out" / "x").exists()
    leftovers = [p for p in (tmp_path / "out").iterdir() if p.name != ".cache"]
    assert leftovers == []


def test_unwritable_output(tmp_path):
    from pipeline.flow import run_model

    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = PipelineConfig(out_dir=str(blocker / "models"))
    with pytest.raises(OutputError, match="is not writable"):
        run_model(cfg, verbose=0)


def test_gate_failure_lists_every_failed_check(tmp_path):
    from pipeline.gates import check_gates, raise_if_failed

    report = {"variants": {"pruned_int8": {
        "accuracy": 0.90, "agreement_with_keras": 0.95, "quantization_ok": False,
        "quantization_checks": [{"name": "weights int8", "ok": False, "detail": "conv1: -128"}]}},
        "keras": {"baseline": {"test_accuracy": 0.98}}}
    with pytest.raises(ValidationError) as err:
        raise_if_failed(PipelineConfig(), check_gates(PipelineConfig(), report))
    text = str(err.value)
    assert "✗ quantization spec: weights int8: conv1: -128" in text
    assert "✗ accuracy within 0.010 of float32 Keras: 0.9000 vs 0.9800" in text
    assert "✗ top-1 agreement with Keras >= 0.98: 0.9500" in text


def test_pruning_does_not_modify_baseline():
    from pipeline.config import ModelOptions
    from pipeline.data import load_dataset
    from pipeline.prune import prune_model
    from pipeline.train import train_baseline
    from pipeline.config import TrainOptions

    ds = load_dataset(DataOptions(), 12)
    base = train_baseline(ds, ModelOptions(), TrainOptions(epochs=1), verbose=0)
    before = [w.copy() for w in base.get_weights()]
    layer_types = [type(layer).__name__ for layer in base.layers]
    pruned = prune_model(base, ds, ModelOptions(),
                         PruneOptions(epochs=1, min_steps=0, final_sparsity=0.7), verbose=0)
    assert [type(layer).__name__ for layer in base.layers] == layer_types
    assert "PruneLowMagnitude" not in layer_types
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    from pipeline.prune import keras_sparsity

    assert keras_sparsity(pruned)["overall"] == pytest.approx(0.7, abs=0.01)
    assert np.mean(pruned.get_layer("fc1").kernel.numpy() == 0) > 0.7  # small layers stay dense


def test_mlkit_and_mediapipe_in_report(digits_run):
    _, result = digits_run
    r = result.report
    assert r["mlkit"]["passed"], r["mlkit"]
    for name in ("pruned_int8", "float32"):
        mp = r["variants"][name]["mediapipe"]
        assert mp["top1_agreement"] == 1.0 and mp["within_tolerance"] and mp["labels_match"]
    assert r["variants"]["pruned_int8"]["mediapipe"]["max_abs_score_diff"] <= 1 / 256
    assert all(g["ok"] for g in r["gates"])
    assert {g["name"] for g in r["gates"]} >= {"ML Kit custom-model requirements",
                                                "MediaPipe ImageClassifier agrees with the interpreter"}
    assert all(g["detail"] for g in r["gates"]), r["gates"]  # a passing gate says what it checked
    gates = {g["name"]: g["detail"] for g in r["gates"]}
    assert gates["quantization spec"].startswith("all ") and "weights int8" in gates["quantization spec"]


def test_evaluate_existing_reproduces_the_report(digits_run):
    from dataclasses import replace

    from pipeline.flow import evaluate_existing

    config, result = digits_run
    again = evaluate_existing(replace(config, validate=replace(config.validate, latency_runs=2)))
    for name, v in result.report["variants"].items():
        assert again["variants"][name]["accuracy"] == v["accuracy"], name
        assert again["variants"][name]["agreement_with_keras"] == v["agreement_with_keras"]


def test_train_only_reuses_the_cached_baseline(digits_run):
    from pipeline.flow import train_only

    config, result = digits_run
    out = train_only(config, verbose=0)
    assert out["reused"]
    assert out["test_accuracy"] == result.report["keras"]["baseline"]["test_accuracy"]
