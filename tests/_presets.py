"""One small pipeline run with every optimization preset, shared by test_optimize and test_report.

Built once per pytest process (keyed by the session's base temp folder): the digits at 16x16,
quick epochs, one QAT epoch, few latency runs.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

VARIANTS = ("float32", "int8", "pruned_int8", "qat_int8", "pqat_int8", "sparse24_int8")


def quick_config(out_dir: Path, name: str = "presets"):
    from pipeline.config import ConvertOptions, DataOptions, PipelineConfig

    cfg = PipelineConfig.quick(
        name=name, out_dir=str(out_dir), data=DataOptions(image_size=16),
        convert=ConvertOptions(variants=VARIANTS, qat_epochs=1),
    )
    # A 16-pixel, 4-epoch model loses a few points when pruned to 85%: the gate is not the subject.
    return replace(cfg, validate=replace(cfg.validate, latency_runs=3, max_accuracy_drop=0.1))


@functools.lru_cache(maxsize=None)
def preset_run(base: Path):
    """(config, ModelResult) of the shared run under `<base>/presets-run/`."""
    from pipeline.flow import run_model

    config = quick_config(Path(base) / "presets-run")
    return config, run_model(config, verbose=0, log=lambda msg: None)
