"""From a labelled image dataset to a pruned, int8 TFLite model with metadata, validated.

Public surface: `PipelineConfig` / `load_config` (options), `run_model` (the main job), and
the error family in `pipeline.errors`. Each stage module has one public entry point.
"""

from pipeline.config import PipelineConfig, load_config
from pipeline.flow import ModelResult, run_model

__all__ = ["PipelineConfig", "load_config", "run_model", "ModelResult"]
