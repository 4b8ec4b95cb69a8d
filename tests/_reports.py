"""One builder of report.json documents for tests that need a model folder's report."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.artifacts import REPORT_VERSION, ModelDir
from pipeline.config import PipelineConfig


def make_report(name: str = "tiny", deployable: str = "pruned_int8", variants: dict | None = None,
                config: PipelineConfig | None = None, **extra) -> dict:
    """A report with every key readers require (`artifacts.REQUIRED_REPORT_KEYS`) plus `extra`."""
    config = config or PipelineConfig(name=name)
    return {
        "report_version": REPORT_VERSION, "name": name, "deployable": deployable,
        "variants": variants if variants is not None else {deployable: {}},
        "options": config.to_dict(), **extra,
    }


def write_report_json(model_dir: Path, report: dict) -> Path:
    """Write `report` as `<model_dir>/report.json` (creating the folder)."""
    folder = ModelDir(model_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.report_json.write_text(json.dumps(report), encoding="utf-8")
    return folder.report_json
