"""Optimization presets beyond magnitude pruning, and a sweep over the pruning target.

Three named presets, each a Keras *source* (registered in `flow.SOURCES`) converted by the
'int8' recipe (full int8, uint8 input and output) into a variant (registered in
`convert.VARIANTS`) that is validated exactly like the deployable model:

  preset     variant          Keras source
  qat        qat_int8         quantization-aware training of a clone of the float baseline
  pqat       pqat_int8        pruning-preserving QAT of the pruned model (keeps its zeros)
  sparse24   sparse24_int8    structured 2:4 sparsity (2 zeros in every 4 input weights)

`with_presets(config, ["pqat"], deployable="pqat")` adds presets to a config (and can ship one).
`sweep_sparsity(config, targets, max_drop)` builds the deployable variant at each pruning target,
keeps the smallest gzipped model within the accuracy budget, builds the model at that target and
records the sweep in its report.json.

QAT models hold tfmot quantizer layers: save them as .h5 and load them with `load_quantized`
(inside `tfmot.quantization.keras.quantize_scope()`). Converting a QAT model with uint8 I/O still
needs a representative dataset in TF 2.21 (FIELD_NOTES §5): the 'int8' recipe passes one.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from pipeline.config import PipelineConfig
from pipeline.data import Dataset
from pipeline.errors import ConfigError, ValidationError

STRUCTURED = (2, 4)  # M:N of the sparse24 preset: 2 zeros in every 4 consecutive input weights


@dataclass(frozen=True)
class Preset:
    """A named optimization preset.

    Attributes:
      name: what users type (`with_presets(config, ["pqat"])`).
      variant: the converted variant it produces (a key of `convert.VARIANTS`).
      source: the Keras source the variant is converted from (a key of `flow.SOURCES`).
      description: one line for help texts and the report.
    """

    name: str
    variant: str
    source: str
    description: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("qat", "qat_int8", "qat",
               "quantization-aware training of the float baseline, full int8, uint8 I/O"),
        Preset("pqat", "pqat_int8", "pqat",
               "pruning-preserving QAT of the pruned model, full int8, uint8 I/O"),
        Preset("sparse24", "sparse24_int8", "sparse24",
               "structured 2:4 sparsity, full int8, uint8 I/O"),
    )
}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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


# ---------------------------------------------------------------------------------------------
# Keras sources (called by flow.SOURCES; each returns a trained tf_keras model).

def qat_model(baseline, dataset: Dataset, config: PipelineConfig, verbose: int = 2):
    """Quantization-aware fine-tuning of a clone of `baseline` (the baseline is not modified)."""
    from pipeline._tf import tfmot
    from pipeline.prune import clone

    model = tfmot.quantization.keras.quantize_model(clone(baseline))
    return _fine_tune(model, dataset, config, verbose)


def pqat_model(pruned, dataset: Dataset, config: PipelineConfig, verbose: int = 2):
    """Pruning-preserving QAT of a clone of the stripped pruned model: its zeros stay zero."""
    from pipeline._tf import tfmot
    from pipeline.prune import clone

    annotated = tfmot.quantization.keras.quantize_annotate_model(clone(pruned))
    model = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    return _fine_tune(model, dataset, config, verbose)


def sparse24_model(baseline, dataset: Dataset, config: PipelineConfig, verbose: int = 2):
    """2:4 structured pruning of a clone of `baseline` with the prune options' epochs and rate.

    tfmot groups the weights along the input-channel axis of the TFLite layout: FULLY_CONNECTED
    [out, in] and CONV_2D [out, h, w, in] get at most 2 non-zeros in every 4 consecutive `in`.
    """
    from pipeline.prune import prune_model

    options = replace(config.prune, m_by_n=STRUCTURED)
    return prune_model(baseline, dataset, config.model, options,
                       batch_size=config.train.batch_size, seed=config.train.seed, verbose=verbose)


def load_quantized(folder: Path):
    """Load a QAT/PQAT model saved as `model.h5` in `folder` (needs tfmot's quantize scope)."""
    from pipeline._tf import keras, tfmot

    with tfmot.quantization.keras.quantize_scope():
        return keras.models.load_model(str(Path(folder) / "model.h5"), compile=False)


def qat_options(config: PipelineConfig) -> tuple:
    """What shapes a QAT/PQAT source (its cache key, beside the parent's)."""
    return (config.convert.qat_epochs, config.convert.qat_learning_rate,
            config.train.batch_size, config.train.seed)


def sparse24_options(config: PipelineConfig) -> tuple:
    """What shapes the 2:4 source: the M:N schedule ignores the sparsity targets and frequency."""
    p = config.prune
    return (STRUCTURED, p.epochs, p.learning_rate, config.train.batch_size, config.train.seed)


def _fine_tune(model, dataset: Dataset, config: PipelineConfig, verbose: int):
    from pipeline.architectures import get_spec
    from pipeline.train import compile_model, normalize, set_seed

    set_seed(config.train.seed)
    spec = get_spec(config.model.architecture)
    compile_model(model, config.convert.qat_learning_rate)
    model.fit(
        normalize(dataset.x_train, spec.mean, spec.std), dataset.y_train,
        validation_data=(normalize(dataset.x_val, spec.mean, spec.std), dataset.y_val),
        epochs=config.convert.qat_epochs, batch_size=config.train.batch_size, shuffle=True,
        verbose=verbose,
    )
    return model


# ---------------------------------------------------------------------------------------------
# Sparsity sweep.

def sweep_sparsity(config: PipelineConfig, targets: Sequence[float], max_drop: float | None = None,
                   *, force: bool = False, log: Callable[[str], None] = _log,
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
    from pipeline.flow import run_model
    from pipeline.fsutil import atomic_write_json
    from pipeline.report import write_report

    targets = _check_targets(targets)
    budget = config.validate.max_accuracy_drop if max_drop is None else float(max_drop)
    if not 0.0 <= budget <= 1.0:
        raise ConfigError(f"max accuracy drop {budget!r} is out of range [0, 1]",
                          "give it as a fraction: 0.005 = half a point")
    deployable = config.convert.deployable
    points = []
    for t in targets:
        cfg = _sweep_point(config, t)
        log(f"==> sweep: final_sparsity {t:.2f} -> {Path(cfg.out_dir) / cfg.name}")
        result = run_model(cfg, force=force, log=log, verbose=verbose)
        v = result.report["variants"][deployable]
        base_acc = result.report["keras"]["baseline"]["test_accuracy"]
        points.append({
            "final_sparsity": t,
            "model_dir": str(result.model_dir),
            "gzip_bytes": v["gzip_bytes"],
            "bytes": v["bytes"],
            "accuracy": v["accuracy"],
            "baseline_accuracy": base_acc,
            "accuracy_drop": base_acc - v["accuracy"],
            "sparsity": v["sparsity"].get("overall"),
            "within_budget": v["accuracy"] >= base_acc - budget - 1e-9,
        })
        log(f"    {t:.2f}: {v['gzip_bytes']:,} B gzipped, accuracy {v['accuracy']:.4f} "
            f"(drop {points[-1]['accuracy_drop'] * 100:+.2f} points) "
            f"{'within' if points[-1]['within_budget'] else 'OUTSIDE'} budget")
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
    report = {**final.report, "sweep": sweep}
    atomic_write_json(final.model_dir / "report.json", report)
    write_report(final.model_dir)
    return {**sweep, "model_dir": str(final.model_dir)}


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

