"""What to ship instead when the deployable model misses a gate, in a stated order.

Public entry point: `candidates(config) -> list[Candidate]`, at most
`config.validate.fallback_candidates` of them, in this order:

 1. pruning-preserving QAT of the pruned model (`pqat_int8`): quantization-aware fine-tuning
    that keeps the zeros, so the size stays while int8 recovers what post-training quantization
    lost (the usual fix when the int8 model trails the float one);
 2. the same deployable variant pruned less: `prune.final_sparsity` lowered in steps of
    `SPARSITY_STEP` (not below `MIN_SPARSITY`), for when pruning itself cost the accuracy.

Each candidate is a whole configuration; the orchestrator (`pipeline.flow`) builds it through
the same stage cache (the float baseline is never retrained) and ships the first that passes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.config import PipelineConfig
from pipeline.optimize import with_presets

SPARSITY_STEP = 0.15
MIN_SPARSITY = 0.3


@dataclass(frozen=True)
class Candidate:
    """`label` says what was changed (for the log and report.json); `config` is the whole run."""

    label: str
    config: PipelineConfig


def candidates(config: PipelineConfig) -> list[Candidate]:
    """The fallback candidates for `config`, in order, within its budget."""
    out = []
    if config.convert.deployable != "pqat_int8":
        out.append(Candidate(
            f"pruning-preserving QAT (pqat_int8) at sparsity {config.prune.final_sparsity:.2f}",
            with_presets(config, ["pqat"], deployable="pqat")))
    target = config.prune.final_sparsity
    while True:
        target = round(target - SPARSITY_STEP, 4)
        if target < MIN_SPARSITY:
            break
        prune = replace(config.prune, final_sparsity=target,
                        initial_sparsity=min(config.prune.initial_sparsity, target))
        out.append(Candidate(f"{config.convert.deployable} at sparsity {target:.2f}",
                             replace(config, prune=prune)))
    return out[:config.validate.fallback_candidates]
