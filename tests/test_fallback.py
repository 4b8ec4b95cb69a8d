"""When the deployable model misses a gate: the candidates in their stated order, the first that
passes shipped (saying which and why), or the failed run's report in models/<name>.rejected/."""

from __future__ import annotations

from dataclasses import replace

import pytest

from _presets import preset_run, quick_config
from pipeline.artifacts import ModelDir
from pipeline.candidates import MIN_SPARSITY, SPARSITY_STEP, candidates
from pipeline.config import PipelineConfig, ValidateOptions
from pipeline.errors import ValidationError


def test_candidates_come_in_the_stated_order_within_the_budget():
    labels = [c.label for c in candidates(PipelineConfig())]
    assert labels == ["pruning-preserving QAT (pqat_int8) at sparsity 0.85",
                      "pruned_int8 at sparsity 0.70", "pruned_int8 at sparsity 0.55"]
    first, second = candidates(PipelineConfig())[:2]
    assert first.config.convert.deployable == "pqat_int8" and "pqat_int8" in first.config.convert.variants
    assert second.config.prune.final_sparsity == pytest.approx(0.85 - SPARSITY_STEP)
    five = PipelineConfig(validate=ValidateOptions(fallback_candidates=5))
    assert [c.config.prune.final_sparsity for c in candidates(five)[1:]] == [0.7, 0.55, 0.4]
    assert all(c.config.prune.final_sparsity >= MIN_SPARSITY for c in candidates(five)[1:])
    assert candidates(PipelineConfig(validate=ValidateOptions(fallback_candidates=0))) == []


def _small(base, name: str):
    """The shared preset run's options (its Keras models are cached) with two variants only."""
    config = quick_config(base / "presets-run", name=name)
    return replace(config, convert=replace(config.convert, variants=("float32",)))


def _gates_that_want(monkeypatch, wanted: str | None):
    """Gates as the pipeline computes them, plus one that only `wanted` (a variant) passes."""
    import pipeline.flow
    from pipeline.gates import check_gates

    def gates(config, report):
        ok = config.convert.deployable == wanted
        return [*check_gates(config, report),
                {"name": "test gate", "ok": ok, "detail": "passes only " + str(wanted)}]

    monkeypatch.setattr(pipeline.flow, "check_gates", gates)


@pytest.mark.slow
def test_the_first_passing_candidate_is_shipped(tmp_path_factory, monkeypatch):
    from pipeline.flow import run_model

    preset_run(tmp_path_factory.getbasetemp())  # the shared run: its Keras models are cached
    config = _small(tmp_path_factory.getbasetemp(), "fallback")
    _gates_that_want(monkeypatch, "pqat_int8")
    logs = []
    result = run_model(config, verbose=0, log=logs.append)
    fallback = result.report["fallback"]
    assert fallback["chosen"].startswith("pruning-preserving QAT")
    assert [t["passed"] for t in fallback["tried"]] == [False, True]
    assert fallback["tried"][0]["failed_gates"] == ["test gate"]
    assert result.report["deployable"] == "pqat_int8"
    assert ModelDir(result.model_dir).verify()["fallback"] == fallback
    assert any("==> shipping pruning-preserving QAT" in line for line in logs)


@pytest.mark.slow
def test_no_passing_candidate_writes_the_rejected_report(tmp_path_factory, monkeypatch):
    from pipeline.flow import run_model

    preset_run(tmp_path_factory.getbasetemp())
    config = _small(tmp_path_factory.getbasetemp(), "rejected")
    config = replace(config, validate=replace(config.validate, fallback_candidates=1))
    _gates_that_want(monkeypatch, None)
    with pytest.raises(ValidationError) as err:
        run_model(config, verbose=0, log=lambda m: None)
    folder = ModelDir(tmp_path_factory.getbasetemp() / "presets-run" / "rejected")
    text = str(err.value)
    assert f"nothing was written to {folder.path}" in text and not folder.path.exists()
    assert "✗ test gate: passes only None" in text and "then tried, in order:" in text
    assert "✗ pruning-preserving QAT (pqat_int8) at sparsity 0.85: accuracy" in text
    assert f"the failed run's report: {folder.rejected_path / 'report.html'}" in text
    rejected = ModelDir(folder.rejected_path).read_report()
    assert rejected["fallback"]["chosen"] is None and len(rejected["fallback"]["tried"]) == 2
    assert (folder.rejected_path / "report.html").is_file()
