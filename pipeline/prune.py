"""Magnitude pruning with tfmot. Public entry point: `prune_model`.

tfmot rewraps the layers of the model it is given, so the baseline is cloned first: the
caller's model is never modified (a test proves it).
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.architectures import get_spec
from pipeline.config import ModelOptions, PruneOptions
from pipeline.data import Dataset
from pipeline.train import compile_model, normalize, set_seed


def clone(model):
    """A fresh copy of `model` with the same weights (no shared layers)."""
    from pipeline._tf import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def pruning_params(options: PruneOptions, steps_per_epoch: int) -> dict:
    """Arguments for `prune_low_magnitude`: a PolynomialDecay schedule over the fine-tuning."""
    from pipeline._tf import tfmot

    end_step = max(1, options.epochs * steps_per_epoch)
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
                batch_size: int = 32, seed: int = 42, verbose: int = 2):
    """Fine-tune a clone of `baseline` under magnitude pruning; return the stripped model."""
    from pipeline._tf import tfmot

    set_seed(seed)
    spec = get_spec(model_options.architecture)
    x_train = normalize(dataset.x_train, spec.mean, spec.std)
    x_val = normalize(dataset.x_val, spec.mean, spec.std)
    steps = math.ceil(len(x_train) / batch_size)
    wrapped = tfmot.sparsity.keras.prune_low_magnitude(clone(baseline), **pruning_params(options, steps))
    compile_model(wrapped, options.learning_rate)
    wrapped.fit(
        x_train, dataset.y_train, validation_data=(x_val, dataset.y_val),
        epochs=options.epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
    )
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    compile_model(stripped, options.learning_rate)
    return stripped


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
