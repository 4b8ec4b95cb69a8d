"""A sweep over the pruning target: ship the smallest gzipped model within an accuracy budget.

Public entry point: `sweep_sparsity(config, targets, max_drop)`. It builds the deployable
variant at each target with the orchestrator (`pipeline.flow.run_model`), keeps the smallest
gzipped model within the budget, builds the model at that target and records the sweep in its
report.json.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from pipeline.artifacts import ModelDir
from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError, ValidationError
from pipeline.flow import run_model
from pipeline.report import write_report
from pipeline.runlog import log as default_log


def sweep_sparsity(config: PipelineConfig, targets: Sequence[float], max_drop: float | None = None,
                   *, force: bool = False, log: Callable[[str], None] = default_log,
                   verbose: int = 0) -> dict:
    """Pick the pruning target whose deployable model is smallest gzipped within `max_drop`.

    Each target t builds `<out_dir>/<name>.sparsity-<t%>/` with `run_model` (the float baseline
    is trained once and shared through the stage cache; each point only prunes, converts the
    float32 and deployable variants and validates them; the gates are relaxed there, since the
    sweep judges the points itself). The budget: accuracy of the deployable variant >=
    float32 Keras accuracy - `max_drop` (default: `config.validate.max_accuracy_drop`, the gate
    the deployable model must pass anyway).

    The chosen target is then built as `<out_dir>/<name>/` with all of `config`'s variants and
    gates (the accuracy gate set to the budget), and the sweep (every point, the choice) is written into its report.json under "sweep".
    Returns that "sweep" dict plus "model_dir". Raises ValidationError, listing every point, when
    no target is within budget.
    """
    targets = _check_targets(targets)
    budget = config.validate.max_accuracy_drop if max_drop is None else float(max_drop)
    if not 0.0 <= budget <= 1.0:
        raise ConfigError(f"max accuracy drop {budget!r} is out of range [0, 1]",
                          "give it as a fraction: 0.005 = half a point")
    deployable = config.convert.deployable
    points = [_point(config, t, budget, force, log, verbose) for t in targets]
    ok = [p for p in points if p["within_budget"]]
    sweep = {"variant": deployable, "max_accuracy_drop": budget, "points": points,
             "chosen": min(ok, key=lambda p: (p["gzip_bytes"], -p["accuracy"]))["final_sparsity"]
             if ok else None}
    if not ok:
        lines = "\n".join(f"  ✗ {p['final_sparsity']:.2f}: accuracy {p['accuracy']:.4f}, drop "
                          f"{p['accuracy_drop'] * 100:.2f} points" for p in points)
        raise ValidationError(
            f"no pruning target keeps {deployable} within {budget * 100:.2f} accuracy points of "
            f"the float32 model:\n{lines}\n",
            "add lower targets to --sweep, train longer (--epochs, --prune-epochs), or allow a "
            "larger --max-accuracy-drop",
        )
    log(f"==> sweep: chose final_sparsity {sweep['chosen']:.2f}; building {config.name}")
    gated = replace(config, validate=replace(config.validate, max_accuracy_drop=budget))
    final = run_model(_with_target(gated, sweep["chosen"]), force=force, log=log, verbose=verbose)
    ModelDir(final.model_dir).update_report(sweep=sweep)
    write_report(final.model_dir)
    return {**sweep, "model_dir": str(final.model_dir)}


def _point(config: PipelineConfig, t: float, budget: float, force: bool, log, verbose: int) -> dict:
    """Build the sweep point at pruning target `t` and judge it against the budget."""
    deployable = config.convert.deployable
    cfg = _sweep_point(config, t)
    log(f"==> sweep: final_sparsity {t:.2f} -> {Path(cfg.out_dir) / cfg.name}")
    result = run_model(cfg, force=force, log=log, verbose=verbose)
    v = result.report["variants"][deployable]
    base_acc = result.report["keras"]["baseline"]["test_accuracy"]
    point = {
        "final_sparsity": t,
        "model_dir": str(result.model_dir),
        "gzip_bytes": v["gzip_bytes"],
        "bytes": v["bytes"],
        "accuracy": v["accuracy"],
        "baseline_accuracy": base_acc,
        "accuracy_drop": base_acc - v["accuracy"],
        "sparsity": v["sparsity"].get("overall"),
        "within_budget": v["accuracy"] >= base_acc - budget - 1e-9,
    }
    log(f"    {t:.2f}: {v['gzip_bytes']:,} B gzipped, accuracy {v['accuracy']:.4f} "
        f"(drop {point['accuracy_drop'] * 100:+.2f} points) "
        f"{'within' if point['within_budget'] else 'OUTSIDE'} budget")
    return point


def _check_targets(targets: Sequence[float]) -> list[float]:
    try:
        values = sorted({round(float(t), 4) for t in targets})
    except (TypeError, ValueError):
        raise ConfigError(f"sweep targets {targets!r} are not numbers",
                          "give fractions of zero weights, e.g. --sweep 0.5,0.7,0.8,0.9") from None
    if not values:
        raise ConfigError("the sparsity sweep has no targets",
                          "give fractions of zero weights, e.g. --sweep 0.5,0.7,0.8,0.9")
    bad = [t for t in values if not 0.0 < t < 1.0]
    if bad:
        raise ConfigError(f"sweep target(s) {bad} are out of range (0, 1)",
                          "give fractions of zero weights, e.g. --sweep 0.5,0.7,0.8,0.9")
    return values


def _with_target(config: PipelineConfig, target: float) -> PipelineConfig:
    prune = replace(config.prune, final_sparsity=target,
                    initial_sparsity=min(config.prune.initial_sparsity, target))
    return replace(config, prune=prune)


def _sweep_point(config: PipelineConfig, target: float) -> PipelineConfig:
    cfg = _with_target(config, target)
    return replace(
        cfg,
        name=f"{config.name}.sparsity-{math.floor(target * 100 + 0.5):02d}",
        # float32 too: it is cheap, and it makes run_model load the float baseline, which the
        # gate reads even when the pruned model comes from the cache
        convert=replace(cfg.convert,
                        variants=tuple(dict.fromkeys(("float32", cfg.convert.deployable)))),
        validate=replace(cfg.validate, max_accuracy_drop=1.0, min_agreement=0.0, mediapipe=False),
    )

