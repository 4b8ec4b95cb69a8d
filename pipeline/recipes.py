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
from pipeline.prune import clone, prune_model
from pipeline.train import compile_model, normalize, set_seed

STRUCTURED = (2, 4)  # M:N of the sparse24 recipe: 2 zeros in every 4 consecutive input weights


def qat_model(baseline, dataset: Dataset, config: PipelineConfig, verbose: int = 2):
    """Quantization-aware fine-tuning of a clone of `baseline` (the baseline is not modified)."""
    from pipeline._tf import tfmot

    model = tfmot.quantization.keras.quantize_model(clone(baseline))
    return _fine_tune(model, dataset, config, verbose)


def pqat_model(pruned, dataset: Dataset, config: PipelineConfig, verbose: int = 2):
    """Pruning-preserving QAT of a clone of the stripped pruned model: its zeros stay zero."""
    from pipeline._tf import tfmot

    annotated = tfmot.quantization.keras.quantize_annotate_model(clone(pruned))
    model = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    return _fine_tune(model, dataset, config, verbose)


def sparse24_model(baseline, dataset: Dataset, config: PipelineConfig, verbose: int = 2):
    """2:4 structured pruning of a clone of `baseline` with the prune options' epochs and rate.

    tfmot groups the weights along the input-channel axis of the TFLite layout: FULLY_CONNECTED
    [out, in] and CONV_2D [out, h, w, in] get at most 2 non-zeros in every 4 consecutive `in`.
    """
    options = replace(config.prune, m_by_n=STRUCTURED)
    return prune_model(baseline, dataset, config.model, options,
                       batch_size=config.train.batch_size, seed=config.train.seed, verbose=verbose)


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


def _fine_tune(model, dataset: Dataset, config: PipelineConfig, verbose: int):
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
