"""The optimization recipes beyond magnitude pruning, as plain functions on Keras models.

Each takes its parent Keras model (never modified: it is cloned first), the dataset and the
pipeline options, and returns a trained tf_keras model that `pipeline.convert`'s 'int8' recipe
turns into a full-int8 model with uint8 input and output:

  qat_model       quantization-aware training of the float baseline
  pqat_model      pruning-preserving QAT of the stripped pruned model: its zeros stay zero
  sparse24_model  structured 2:4 sparsity (2 zeros in every 4 consecutive input weights)

QAT models hold tfmot quantizer layers: they are saved as .h5 and loaded with `load_quantized`
(inside `tfmot.quantization.keras.quantize_scope()`). Converting a QAT model with uint8 I/O still
needs a representative dataset in TF 2.21; the 'int8' recipe passes one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline.architectures import get_spec
from pipeline.config import PipelineConfig
from pipeline.data import Dataset
from pipeline.distribute import Placement, average_quantizer_ranges
from pipeline.prune import clone, prune_model
from pipeline.train import fit, set_seed

STRUCTURED = (2, 4)  # M:N of the sparse24 recipe: 2 zeros in every 4 consecutive input weights


def qat_model(baseline, dataset: Dataset, config: PipelineConfig, verbose: int = 2,
              placement: Placement | None = None):
    """Quantization-aware fine-tuning of a clone of `baseline` (the baseline is not modified)."""
    from pipeline._tf import tfmot

    placement = placement or Placement()
    with placement.scope():
        model = tfmot.quantization.keras.quantize_model(clone(baseline))
    return _fine_tune(model, dataset, config, verbose, placement)


def pqat_model(pruned, dataset: Dataset, config: PipelineConfig, verbose: int = 2,
               placement: Placement | None = None):
    """Pruning-preserving QAT of a clone of the stripped pruned model: its zeros stay zero."""
    from pipeline._tf import tfmot

    placement = placement or Placement()
    with placement.scope():
        annotated = tfmot.quantization.keras.quantize_annotate_model(clone(pruned))
        model = tfmot.quantization.keras.quantize_apply(
            annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    return _fine_tune(model, dataset, config, verbose, placement)


def sparse24_model(baseline, dataset: Dataset, config: PipelineConfig, verbose: int = 2,
                   placement: Placement | None = None):
    """2:4 structured pruning of a clone of `baseline` with the prune options' epochs and rate.

    tfmot groups the weights along the input-channel axis of the TFLite layout: FULLY_CONNECTED
    [out, in] and CONV_2D [out, h, w, in] get at most 2 non-zeros in every 4 consecutive `in`.
    """
    options = replace(config.prune, m_by_n=STRUCTURED)
    return prune_model(baseline, dataset, config.model, options,
                       batch_size=config.train.batch_size, seed=config.train.seed, verbose=verbose,
                       placement=placement)


def load_quantized(folder: Path):
    """Load a QAT/PQAT model saved as `model.h5` in `folder` (needs tfmot's quantize scope)."""
    from pipeline._tf import keras, tfmot

    with tfmot.quantization.keras.quantize_scope():
        return keras.models.load_model(str(Path(folder) / "model.h5"), compile=False)


def qat_options(config: PipelineConfig) -> tuple:
    """What shapes a QAT/PQAT model (its cache key, beside the parent's)."""
    return (config.convert.qat_epochs, config.convert.qat_learning_rate,
            config.train.batch_size, config.train.seed)


def sparse24_options(config: PipelineConfig) -> tuple:
    """What shapes the 2:4 model: the M:N schedule ignores the sparsity targets and frequency."""
    p = config.prune
    return (STRUCTURED, p.epochs, p.learning_rate, config.train.batch_size, config.train.seed)


def _fine_tune(model, dataset: Dataset, config: PipelineConfig, verbose: int,
               placement: Placement):
    """`qat_epochs` at a constant `qat_learning_rate` on the images as they are (no augmentation,
    class weights or smoothing): the weights only adapt to the quantizers."""
    set_seed(config.train.seed)
    spec = get_spec(config.model.architecture)
    plain = replace(config.train, lr_schedule="constant", warmup_epochs=0, label_smoothing=0.0,
                    class_weights="none")
    fit(model, dataset, spec, plain, epochs=config.convert.qat_epochs,
        learning_rate=config.convert.qat_learning_rate, verbose=verbose, early_stopping=False,
        warmup=False, placement=placement, phase="qat", augment=False)
    average_quantizer_ranges(model, placement)
    return model
