"""Magnitude pruning with tfmot. Public entry point: `prune_model`.

tfmot rewraps the layers of the model it is given, so the baseline is cloned first: the
caller's model is never modified (a test proves it).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from pipeline.architectures import get_spec
from pipeline.config import ModelOptions, PruneOptions, TrainOptions
from pipeline.data import Dataset
from pipeline.distribute import Placement
from pipeline.train import compile_model, fit, set_seed


def clone(model):
    """A fresh copy of `model` with the same weights (no shared layers)."""
    from pipeline._tf import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def pruning_params(options: PruneOptions, steps_per_epoch: int) -> dict:
    """Arguments for `prune_low_magnitude`: a PolynomialDecay schedule over the fine-tuning."""
    from pipeline._tf import tfmot

    total = max(1, options.epochs * steps_per_epoch)
    end_step = max(1, int(round(total * options.ramp_fraction)))
    frequency = options.frequency or max(1, end_step // 10)
    params = {
        "pruning_schedule": tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=options.initial_sparsity,
            final_sparsity=options.final_sparsity,
            begin_step=0,
            end_step=end_step,
            frequency=min(frequency, end_step),
        )
    }
    if options.m_by_n is not None:
        params = {"sparsity_m_by_n": tuple(options.m_by_n)}
    return params


def prune_model(baseline, dataset: Dataset, model_options: ModelOptions, options: PruneOptions,
                batch_size: int = 32, seed: int = 42, verbose: int = 2,
                train_options: TrainOptions | None = None, placement: Placement | None = None):
    """Fine-tune a clone of `baseline` under magnitude pruning; return the stripped model.

    It runs `options.epochs` epochs, or more when that is under `options.min_steps` steps.
    The fine-tuning uses the training recipe of `train_options` (augmentation, class weights,
    label smoothing; its schedule without warm-up, from `options.learning_rate`), but runs every
    epoch: the sparsity schedule must reach its target. BatchNorm layers are not pruned; they
    keep training (or stay in inference mode where the baseline froze them), and the int8
    conversion folds them into the pruned convolutions, whose zeros survive the folding.
    Under `placement` (a strategy: `batch_size` per replica) the wrapped model is made and
    compiled in its scope, as tfmot's distributed tests do, and the phase keeps checkpoints.
    """
    from pipeline._tf import tfmot

    placement = placement or Placement()
    train_options = train_options or TrainOptions()
    train_options = replace(train_options, batch_size=batch_size, seed=seed)
    set_seed(seed)
    spec = get_spec(model_options.architecture)
    steps = math.ceil(len(dataset.y_train) / placement.global_batch(batch_size))
    # a small dataset gives few steps per epoch: run enough epochs for `min_steps` steps
    options = replace(options, epochs=max(options.epochs, math.ceil(options.min_steps / steps)))
    with placement.scope():
        wrapped = _wrap_for_pruning(clone(baseline), options, steps)
    fit(wrapped, dataset, spec, train_options, epochs=options.epochs,
        learning_rate=options.learning_rate, verbose=verbose, early_stopping=False, warmup=False,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], placement=placement, phase="prune")
    with placement.scope():
        stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
        compile_model(stripped, options.learning_rate)
    return stripped


def _wrap_for_pruning(model, options: PruneOptions, steps_per_epoch: int):
    """`prune_low_magnitude` on every Conv2D/Dense layer with at least `options.min_weights` weights.

    Smaller layers (the first convolution, a small classifier) and depthwise filters stay dense:
    pruning them costs the most accuracy per byte saved. The pruned layers get a slightly
    higher target so that `final_sparsity` still holds over all kernel weights together.
    Structured M:N sparsity (`m_by_n`) applies to every Conv2D/Dense layer.
    """
    from pipeline._tf import keras, tfmot

    sizes = {layer.name: int(np.prod(kernel.shape)) for layer in model.layers
             if (kernel := getattr(layer, "kernel", getattr(layer, "depthwise_kernel", None))) is not None}
    structured = options.m_by_n is not None  # an M:N pattern is for every layer's kernel
    big = {layer.name for layer in model.layers if layer.name in sizes
           and (structured or sizes[layer.name] >= options.min_weights)
           and not isinstance(layer, keras.layers.DepthwiseConv2D)}
    if not structured and big:
        scale = sum(sizes.values()) / sum(sizes[name] for name in big)
        options = replace(options, initial_sparsity=min(0.99, options.initial_sparsity * scale),
                          final_sparsity=min(0.99, options.final_sparsity * scale))
    params = pruning_params(options, steps_per_epoch)

    def maybe_prune(layer):
        return tfmot.sparsity.keras.prune_low_magnitude(layer, **params) if layer.name in big else layer

    return keras.models.clone_model(model, clone_function=maybe_prune)


def keras_sparsity(model) -> dict:
    """Zero fraction of each kernel in a Keras model, and overall (kernels only, no biases)."""
    per_layer, zeros, total = {}, 0, 0
    for layer in _leaf_layers(model):
        for w in layer.weights:
            if not w.name.split("/")[-1].split(":")[0].endswith("kernel"):  # not kernel_min etc.
                continue
            arr = w.numpy()
            z = int(np.sum(arr == 0))
            per_layer[w.name] = z / arr.size
            zeros += z
            total += arr.size
    return {"overall": zeros / total if total else 0.0, "per_layer": per_layer}


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer
