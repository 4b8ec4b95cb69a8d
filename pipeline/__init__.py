"""From a labelled image dataset to a pruned, int8 TFLite model with metadata, validated.

Public surface: `PipelineConfig` / `load_config` (options), `run_model` (the main job), and
the error family in `pipeline.errors`. Each stage module has one public entry point; the
stages and who may import whom are described in docs/ARCHITECTURE.md.

The names are resolved on first use, so importing one stage module (`pipeline.mlkit` in the
interpreter probe's child process, say) does not load the whole package.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "PipelineConfig": "pipeline.config",
    "load_config": "pipeline.config",
    "run_model": "pipeline.flow",
    "ModelResult": "pipeline.flow",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
