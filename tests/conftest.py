"""Shared fixtures: the real pipeline run once per session on the default dataset."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """`run_model` on the embedded digits with the shipped options (few latency runs)."""
    from pipeline.config import PipelineConfig, ValidateOptions
    from pipeline.flow import run_model

    out = tmp_path_factory.mktemp("models")
    config = PipelineConfig(out_dir=str(out), validate=ValidateOptions(latency_runs=3))
    return config, run_model(config, verbose=0)
