"""Optimization presets: add QAT, pruning-preserving QAT or 2:4 sparsity to a run's variants.

Public entry points: `with_presets(config, names, deployable=None)` and `get_preset(name)`.
The presets themselves are rows of the variant table (`pipeline.variants.PRESETS`); their Keras
models are built by `pipeline.recipes`. The sweep over pruning targets is `pipeline.sweep`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError
from pipeline.variants import PRESETS, Preset

__all__ = ["PRESETS", "Preset", "get_preset", "with_presets"]


def get_preset(name: str) -> Preset:
    """The preset called `name`, or a ConfigError naming the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown optimization preset {name!r}", f"use one of: {', '.join(PRESETS)}"
        ) from None


def with_presets(config: PipelineConfig, names: Iterable[str] = tuple(PRESETS),
                 deployable: str | None = None) -> PipelineConfig:
    """`config` with the presets' variants added (once each); `deployable` ships that preset.

    >>> cfg = with_presets(PipelineConfig(), ["pqat"], deployable="pqat")
    >>> cfg.convert.deployable
    'pqat_int8'
    """
    presets = [get_preset(n) for n in names]
    variants = tuple(dict.fromkeys([*config.convert.variants, *(p.variant for p in presets)]))
    convert = replace(config.convert, variants=variants)
    if deployable is not None:
        convert = replace(convert, deployable=get_preset(deployable).variant)
    return replace(config, convert=convert)
