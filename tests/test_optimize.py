"""Optimization presets (QAT, pruning-preserving QAT, 2:4 sparsity) and the sparsity sweep."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from _deployable import assert_deployable
from _presets import preset_run, quick_config
from _reports import make_report, write_report_json
from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError, ValidationError
from pipeline.optimize import PRESETS, with_presets
from pipeline.recipes import STRUCTURED
from pipeline.sweep import sweep_sparsity

PRESET_VARIANTS = [p.variant for p in PRESETS.values()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return preset_run(tmp_path_factory.getbasetemp())


# --------------------------------------------------------------------------------- fast

def test_with_presets_adds_variants_once_and_can_ship_one():
    cfg = with_presets(with_presets(PipelineConfig(), ["qat", "pqat"]), ["pqat"], deployable="pqat")
    assert cfg.convert.variants.count("pqat_int8") == 1
    assert cfg.convert.variants[-2:] == ("qat_int8", "pqat_int8")
    assert cfg.convert.deployable == "pqat_int8"


def test_every_preset_is_a_registered_int8_variant_of_its_source():
    from pipeline.sources import SOURCES
    from pipeline.variants import VARIANTS

    for preset in PRESETS.values():
        variant = VARIANTS[preset.variant]
        assert variant.source == preset.source and preset.source in SOURCES
        assert variant.recipe == "int8" and variant.io_dtype == "uint8"
    assert SOURCES["pqat"].parent == "pruned"  # PQAT starts from the stripped pruned model
    assert SOURCES["qat"].parent == SOURCES["sparse24"].parent == "baseline"


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown optimization preset 'qta' - "
                                          r"use one of: qat, pqat, sparse24"):
        with_presets(PipelineConfig(), ["qta"])


@pytest.mark.parametrize("targets, message", [
    ([], "has no targets"),
    ([0.5, 1.0], r"sweep target\(s\) \[1.0\] are out of range \(0, 1\)"),
    ([0.0], r"sweep target\(s\) \[0.0\] are out of range"),
    (["x"], "are not numbers"),
])
def test_sweep_rejects_bad_targets(targets, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        sweep_sparsity(PipelineConfig(out_dir=str(tmp_path)), targets, 0.01)


def test_sweep_rejects_bad_budget(tmp_path):
    with pytest.raises(ConfigError, match=r"max accuracy drop 5.0 is out of range \[0, 1\]"):
        sweep_sparsity(PipelineConfig(out_dir=str(tmp_path)), [0.5], 5.0)


def _fake_run_model(accuracy_at, gzip_at, calls):
    """A stand-in for flow.run_model: accuracy/gzip of the deployable variant per target."""
    from pathlib import Path

    def fake(cfg, force=False, log=None, verbose=0):
        t = cfg.prune.final_sparsity
        calls.append(cfg)
        report = make_report(
            cfg.name, cfg.convert.deployable, config=cfg,
            keras={"baseline": {"test_accuracy": 0.98}},
            variants={cfg.convert.deployable: {
                "accuracy": accuracy_at[t], "gzip_bytes": gzip_at[t], "bytes": 100_000,
                "sparsity": {"overall": t}}},
        )
        model_dir = Path(cfg.out_dir) / cfg.name
        write_report_json(model_dir, report)
        return SimpleNamespace(model_dir=model_dir, report=report)

    return fake


def test_sweep_picks_smallest_gzip_within_budget(tmp_path, monkeypatch):
    import json

    import pipeline.sweep

    calls = []
    accuracy = {0.5: 0.98, 0.7: 0.978, 0.8: 0.976, 0.9: 0.95}
    gzip_b = {0.5: 60_000, 0.7: 45_000, 0.8: 35_000, 0.9: 25_000}
    monkeypatch.setattr(pipeline.sweep, "run_model", _fake_run_model(accuracy, gzip_b, calls))
    cfg = PipelineConfig(out_dir=str(tmp_path), name="d")
    result = sweep_sparsity(cfg, [0.9, 0.5, 0.8, 0.7], max_drop=0.005, log=lambda m: None)
    # 0.8 loses 0.4 points (within 0.5), 0.9 loses 3: the smallest within budget is 0.8
    assert result["chosen"] == 0.8
    assert [p["final_sparsity"] for p in result["points"]] == [0.5, 0.7, 0.8, 0.9]
    assert [p["within_budget"] for p in result["points"]] == [True, True, True, False]
    # points are named folders with only float32 + the deployable variant and relaxed gates;
    # the final build uses the real name, the chosen target and the configured gates
    assert [c.name for c in calls] == ["d.sparsity-50", "d.sparsity-70", "d.sparsity-80",
                                       "d.sparsity-90", "d"]
    assert calls[0].convert.variants == ("float32", cfg.convert.deployable)
    assert calls[0].validate.max_accuracy_drop == 1.0
    assert calls[-1].prune.final_sparsity == 0.8
    assert calls[-1].convert == cfg.convert
    assert calls[-1].validate == replace(cfg.validate, max_accuracy_drop=0.005)
    assert calls[-1].prune.initial_sparsity == calls[2].prune.initial_sparsity  # shares its cache
    saved = json.loads((tmp_path / "d" / "report.json").read_text())
    assert saved["sweep"]["chosen"] == 0.8 and len(saved["sweep"]["points"]) == 4


def test_sweep_with_nothing_in_budget_lists_every_point(tmp_path, monkeypatch):
    import pipeline.sweep

    calls = []
    monkeypatch.setattr(pipeline.sweep, "run_model", _fake_run_model(
        {0.8: 0.95, 0.9: 0.90}, {0.8: 30_000, 0.9: 20_000}, calls))
    with pytest.raises(ValidationError) as err:
        sweep_sparsity(PipelineConfig(out_dir=str(tmp_path)), [0.8, 0.9], 0.01, log=lambda m: None)
    text = str(err.value)
    assert "no pruning target keeps pruned_int8 within 1.00 accuracy points" in text
    assert "✗ 0.80: accuracy 0.9500, drop 3.00 points" in text
    assert "✗ 0.90: accuracy 0.9000, drop 8.00 points" in text
    assert "--max-accuracy-drop" in text
    assert len(calls) == 2  # no final build


# --------------------------------------------------------------------------------- slow

@pytest.mark.slow
@pytest.mark.parametrize("variant", PRESET_VARIANTS)
def test_preset_passes_the_deployable_validations(run, variant):
    from pipeline.artifacts import ModelDir

    config, result = run
    r = result.report
    v = r["variants"][variant]
    assert_deployable(ModelDir(result.model_dir).variant_bytes(variant), v)
    # a 16-pixel, few-epoch model: reasonable, and faithful to its Keras source
    assert v["accuracy"] >= 0.85
    assert v["accuracy"] >= r["keras"]["baseline"]["test_accuracy"] - 0.08
    assert v["agreement_with_keras"] >= 0.97


@pytest.mark.slow
def test_pqat_keeps_the_pruned_sparsity(run):
    config, result = run
    v = result.report["variants"]
    target = config.prune.final_sparsity
    assert v["pruned_int8"]["sparsity"]["overall"] == pytest.approx(target, abs=0.01)
    assert v["pqat_int8"]["sparsity"]["overall"] == pytest.approx(target, abs=0.01)
    assert v["qat_int8"]["sparsity"]["overall"] < 0.05  # QAT alone prunes nothing
    pruned = v["pruned_int8"]["sparsity"]["tensors"]
    for name, fraction in v["pqat_int8"]["sparsity"]["tensors"].items():
        # every tensor keeps its pruned fraction: the large ones slightly above the target
        # (they make up for the small layers that pruning leaves dense), the small ones dense
        assert fraction >= target - 0.01 or fraction < 0.05, name
    assert sorted(v["pqat_int8"]["sparsity"]["tensors"].values()) == \
        pytest.approx(sorted(pruned.values()), abs=0.02)


@pytest.mark.slow
def test_sparse24_has_at_most_two_nonzeros_in_every_four_inputs(run):
    from pipeline.tflite_file import parse_model

    _, result = run
    parsed = parse_model((result.model_dir / "variants" / "sparse24_int8.tflite").read_bytes())
    m, n = STRUCTURED
    checked = 0
    for op in parsed.ops:
        if op.opcode not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        w = parsed.tensor(op.inputs[1])
        assert w.dtype == "int8" and set(w.zero_points) == {0}
        # FULLY_CONNECTED [out, in], CONV_2D [out, h, w, in]: groups of 4 along `in`
        rows = w.data.reshape(-1, w.shape[-1])
        pad = (-rows.shape[1]) % n
        groups = np.pad(rows, ((0, 0), (0, pad))).reshape(rows.shape[0], -1, n)
        nonzeros = np.count_nonzero(groups, axis=2)
        assert nonzeros.max() <= n - m, (op.opcode, w.shape, int(nonzeros.max()))
        assert np.mean(nonzeros == n - m) > 0.9  # the pattern is used, not just zeros
        checked += 1
    assert checked == 5  # conv1..conv3, fc1, probability


@pytest.mark.slow
def test_qat_does_not_modify_the_baseline(run):
    from pipeline.data import load_dataset
    from pipeline.recipes import qat_model
    from pipeline.sources import SOURCES
    from pipeline.train import train_baseline

    config, _ = run
    cfg = replace(config, convert=replace(config.convert, qat_epochs=1),
                  train=replace(config.train, epochs=1))
    ds = load_dataset(cfg.data, 16)
    base = train_baseline(ds, cfg.model, cfg.train, verbose=0)
    before = [w.copy() for w in base.get_weights()]
    layers = [type(layer).__name__ for layer in base.layers]
    qat = qat_model(base, ds, cfg, verbose=0)
    assert [type(layer).__name__ for layer in base.layers] == layers
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    assert any("Quantize" in type(layer).__name__ for layer in qat.layers)
    assert SOURCES["qat"].load is not None and SOURCES["pqat"].load is not None


@pytest.mark.slow
def test_qat_sources_are_cached_and_reload(run):
    """A second run with another name reuses every Keras source, QAT ones included (.h5 + scope)."""
    from pipeline.flow import run_model

    config, first = run
    cfg = replace(config, name="presets-again",
                  convert=replace(config.convert, variants=("float32", "qat_int8", "pqat_int8")))
    again = run_model(cfg, verbose=0, log=lambda m: None)
    keras = again.report["keras"]
    assert all(keras[s]["reused_from_cache"] for s in ("baseline", "pruned", "qat", "pqat"))
    for variant in ("qat_int8", "pqat_int8"):
        accuracy = again.report["variants"][variant]["accuracy"]
        assert accuracy == first.report["variants"][variant]["accuracy"]


@pytest.mark.slow
def test_sweep_end_to_end(run):
    """Two targets on the shared run's cache: the points, the choice and the report agree."""
    import json
    from pathlib import Path

    config, _ = run
    cfg = replace(config, name="swept", convert=replace(config.convert, variants=("float32",)))
    result = sweep_sparsity(cfg, [0.5, 0.9], max_drop=0.1, log=lambda m: None)
    points = {p["final_sparsity"]: p for p in result["points"]}
    assert set(points) == {0.5, 0.9}
    assert points[0.9]["gzip_bytes"] < points[0.5]["gzip_bytes"]
    assert points[0.9]["sparsity"] == pytest.approx(0.9, abs=0.01)
    within = [t for t, p in points.items() if p["within_budget"]]
    assert result["chosen"] == min(within, key=lambda t: points[t]["gzip_bytes"])
    report = json.loads((Path(result["model_dir"]) / "report.json").read_text())
    assert report["sweep"]["chosen"] == result["chosen"]
    assert report["options"]["prune"]["final_sparsity"] == result["chosen"]
    for p in points.values():
        assert (Path(p["model_dir"]) / "model.tflite").is_file()
