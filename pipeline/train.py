"""Training of the float baseline. Public entry point: `train_baseline`.

The recipe (every part an option of `TrainOptions`, see pipeline.toml):

* **Augmentation** of training batches only, from a named preset (`pipeline.feed.AUGMENT`):
  random shift, rotation and zoom (edge pixels repeated), then brightness, contrast,
  per-channel colour gain and pixel noise; horizontal flips only when asked (`flip`), since
  flipping text or digits changes the class. Validation and test images are never augmented.
  `pipeline.feed` makes the batches: in memory, or streamed from a folder's shards by `tf.data`.
* **Early stopping** on the validation loss with `patience`, the best epoch's weights restored;
  `epochs` is a maximum.
* **Learning-rate schedule**: linear warm-up, then cosine decay over `epochs` (or halving on a
  plateau, or constant).
* **Class weights** when the training classes are unbalanced, **label smoothing** in the loss.
* **Pretrained backbones** (`model.weights = "imagenet"`): the head is trained on the frozen
  backbone first, then the backbone's last `fine_tune_layers` layers are unfrozen and fine-tuned
  at `fine_tune_learning_rate`, with every BatchNorm layer kept in inference mode (frozen
  statistics) so that a small dataset does not overwrite the ImageNet statistics.
* **Under a strategy** (`pipeline.distribute.Placement`, `train.strategy`): the model is built
  and compiled inside its scope, each step takes the per-replica batch times the replicas, and
  every phase keeps `BackupAndRestore` checkpoints, so a killed run resumes.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.architectures import HEAD_LAYERS, build_model, get_spec
from pipeline.config import ModelOptions, TrainOptions
from pipeline.data import Dataset
from pipeline.distribute import Placement
from pipeline.feed import fit_inputs, normalize

PREDICT_CHUNK = 1024  # images normalized and predicted at a time (memory stays flat)


IMBALANCE_RATIO = 1.5  # "auto" class weights above this largest/smallest training-class ratio


def set_seed(seed: int) -> None:
    from pipeline._tf import keras, tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model, learning_rate: float, label_smoothing: float | None = None) -> None:
    """Adam + cross-entropy. `label_smoothing` None: integer labels; a number: one-hot labels."""
    from pipeline._tf import keras

    loss = ("sparse_categorical_crossentropy" if label_smoothing is None
            else keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])


def train_baseline(dataset: Dataset, model_options: ModelOptions, options: TrainOptions,
                   verbose: int = 2, placement: Placement | None = None):
    """Build the architecture and train it with the recipe; returns the Keras model.

    With pretrained ("imagenet") weights: head on the frozen backbone, then fine-tuning of the
    top of the backbone with BatchNorm in inference mode. The returned model has every layer
    but BatchNorm trainable (pretrained) or every layer trainable (from scratch), ready for the
    pruning fine-tuning. `placement`: the strategy and checkpoints (default: one device, none).
    """
    placement = placement or Placement()
    set_seed(options.seed)
    spec = get_spec(model_options.architecture)
    with placement.scope():
        model = build_model(
            model_options.architecture, dataset.image_size, len(dataset.class_names),
            width=model_options.width, weights=model_options.weights,
        )
    if model_options.weights != "imagenet":
        fit(model, dataset, spec, options, epochs=options.epochs,
            learning_rate=options.learning_rate, verbose=verbose, placement=placement)
        return model
    set_trainable(model, backbone_layers=0)
    fit(model, dataset, spec, options, epochs=options.epochs,
        learning_rate=options.learning_rate, verbose=verbose, placement=placement, phase="head")
    if options.fine_tune_epochs and options.fine_tune_layers:
        set_trainable(model, backbone_layers=options.fine_tune_layers)
        fit(model, dataset, spec, options, epochs=options.fine_tune_epochs,
            learning_rate=options.fine_tune_learning_rate, verbose=verbose, warmup=False,
            placement=placement, phase="fine-tune")
    set_trainable(model, backbone_layers=len(model.layers))
    return model


def set_trainable(model, backbone_layers: int) -> None:
    """Head trainable; of the backbone only the last `backbone_layers` layers; BatchNorm never.

    A BatchNorm layer with `trainable = False` runs in inference mode in tf_keras (it uses and
    keeps its moving statistics), which is what fine-tuning a pretrained backbone needs.
    """
    from pipeline._tf import keras

    backbone = [layer for layer in model.layers
                if layer.name not in HEAD_LAYERS and not isinstance(layer, keras.layers.InputLayer)]
    first_unfrozen = len(backbone) - min(backbone_layers, len(backbone))
    for i, layer in enumerate(backbone):
        layer.trainable = i >= first_unfrozen and not isinstance(layer, keras.layers.BatchNormalization)
    for layer in model.layers:
        if layer.name in HEAD_LAYERS:
            layer.trainable = True


def fit(model, dataset: Dataset, spec, options: TrainOptions, *, epochs: int,
        learning_rate: float, verbose: int = 2, early_stopping: bool = True,
        warmup: bool = True, callbacks=(), placement: Placement | None = None,
        phase: str = "train", augment: bool = True):
    """Compile and fit `model` with the recipe (augmentation, schedule, weights, smoothing).

    `early_stopping` False runs every epoch (pruning, whose schedule must reach its target).
    Under `placement` the model is compiled in its scope (build it there too), each step takes
    `options.batch_size` images per replica, and phase `phase` keeps its checkpoints.
    `augment` False fits the images as they are. Returns the Keras History.
    """
    placement = placement or Placement()
    num_classes = len(dataset.class_names)
    with placement.scope():
        compile_model(model, learning_rate, options.label_smoothing)
    inputs = fit_inputs(dataset, spec.mean, spec.std, options,
                        placement.global_batch(options.batch_size), augment_images=augment,
                        distributed=placement.distributed)
    schedule = _schedule_callbacks(options, epochs, learning_rate, warmup)
    stop = _early_stopping(options, warmup) if early_stopping else []
    return model.fit(
        inputs.train, validation_data=inputs.validation, epochs=epochs,
        steps_per_epoch=inputs.steps, shuffle=False,
        class_weight=class_weights(dataset.y_train, num_classes, options.class_weights),
        verbose=verbose, callbacks=[*schedule, *stop, *callbacks, *placement.backup(phase)],
    )


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> dict[int, float] | None:
    """Balanced weights n / (k * count) per class: for "balanced", or "auto" when unbalanced."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    if mode == "none" or counts.min() == 0:
        return None
    if mode == "auto" and counts.max() / counts.min() <= IMBALANCE_RATIO:
        return None
    weights = counts.sum() / (num_classes * counts)
    return {i: float(w) for i, w in enumerate(weights)}


def lr_at(epoch: int, epochs: int, peak: float, warmup_epochs: int, schedule: str) -> float:
    """Learning rate of `epoch` (0-based): linear warm-up, then cosine decay or constant."""
    if epoch < warmup_epochs:
        return peak * (epoch + 1) / (warmup_epochs + 1)
    if schedule != "cosine":
        return peak
    span = max(1, epochs - warmup_epochs)
    return peak * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / span)))


def _schedule_callbacks(options: TrainOptions, epochs: int, peak: float, warmup: bool) -> list:
    from pipeline._tf import keras

    warm = options.warmup_epochs if warmup else 0
    if options.lr_schedule == "cosine" or warm:
        kind = options.lr_schedule

        def rate(epoch, current):
            if kind == "plateau" and epoch >= warm:
                return current  # from here on ReduceLROnPlateau owns the rate
            return lr_at(epoch, epochs, peak, warm, kind)

        callbacks = [keras.callbacks.LearningRateScheduler(rate)]
    else:
        callbacks = []
    if options.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(2, options.patience // 3),
            min_lr=peak / 50, verbose=0))
    return callbacks


def _early_stopping(options: TrainOptions, warmup: bool) -> list:
    from pipeline._tf import keras

    if not options.patience:
        return []
    return [keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=options.patience, restore_best_weights=True,
        start_from_epoch=options.warmup_epochs if warmup else 0, verbose=0)]


def keras_predict(model, images: np.ndarray, mean, std, batch_size: int = 256) -> np.ndarray:
    """Softmax scores of a Keras model for RGB uint8 images (an array, or a split read from the
    shards), normalized and predicted `PREDICT_CHUNK` images at a time."""
    parts = [model.predict(normalize(images[i:i + PREDICT_CHUNK], mean, std),
                           batch_size=batch_size, verbose=0)
             for i in range(0, len(images), PREDICT_CHUNK)]
    if parts:
        return np.concatenate(parts)
    return np.zeros((0, int(model.output_shape[-1])), np.float32)
