"""Training of the float baseline. Public entry point: `train_baseline`.

The recipe (every part an option of `TrainOptions`, see pipeline.toml):

* **Augmentation** of training batches only, from a named preset (`AUGMENT` below): random
  shift, rotation and zoom (edge pixels repeated), then brightness, contrast, per-channel colour
  gain and pixel noise; horizontal flips only when asked (`flip`), since flipping text or
  digits changes the class. Validation and test images are never augmented.
* **Early stopping** on the validation loss with `patience`, the best epoch's weights restored;
  `epochs` is a maximum.
* **Learning-rate schedule**: linear warm-up, then cosine decay over `epochs` (or halving on a
  plateau, or constant).
* **Class weights** when the training classes are unbalanced, **label smoothing** in the loss.
* **Pretrained backbones** (`model.weights = "imagenet"`): the head is trained on the frozen
  backbone first, then the backbone's last `fine_tune_layers` layers are unfrozen and fine-tuned
  at `fine_tune_learning_rate`, with every BatchNorm layer kept in inference mode (frozen
  statistics) so that a small dataset does not overwrite the ImageNet statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.architectures import HEAD_LAYERS, build_model, get_spec
from pipeline.config import ModelOptions, TrainOptions
from pipeline.data import Dataset


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random changes made to each training image (one preset).

    shift: largest offset, share of the side; rotation: degrees either way; zoom: largest scale
    change (0.1 = 0.9x..1.1x); brightness: largest offset, share of 255; contrast and colour:
    largest relative change of the contrast and of each channel's gain; noise: largest sigma of
    Gaussian pixel noise, in pixel levels.
    """

    shift: float = 0.0
    rotation: float = 0.0
    zoom: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    colour: float = 0.0
    noise: float = 0.0


AUGMENT = {
    "none": Augmentation(),
    "light": Augmentation(shift=0.08, rotation=10.0, zoom=0.1, brightness=0.1, contrast=0.15,
                          colour=0.1, noise=3.0),
    "strong": Augmentation(shift=0.12, rotation=20.0, zoom=0.2, brightness=0.25, contrast=0.35,
                           colour=0.3, noise=8.0),
}
IMBALANCE_RATIO = 1.5  # "auto" class weights above this largest/smallest training-class ratio


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """RGB uint8 pixels -> what the float model is fed: (p - mean) / std, float32."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    return (images.astype(np.float32) - mean) / std


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
                   verbose: int = 2):
    """Build the architecture and train it with the recipe; returns the Keras model.

    With pretrained ("imagenet") weights: head on the frozen backbone, then fine-tuning of the
    top of the backbone with BatchNorm in inference mode. The returned model has every layer
    but BatchNorm trainable (pretrained) or every layer trainable (from scratch), ready for the
    pruning fine-tuning.
    """
    set_seed(options.seed)
    spec = get_spec(model_options.architecture)
    model = build_model(
        model_options.architecture, dataset.image_size, len(dataset.class_names),
        width=model_options.width, weights=model_options.weights,
    )
    if model_options.weights != "imagenet":
        fit(model, dataset, spec, options, epochs=options.epochs,
            learning_rate=options.learning_rate, verbose=verbose)
        return model
    set_trainable(model, backbone_layers=0)
    fit(model, dataset, spec, options, epochs=options.epochs,
        learning_rate=options.learning_rate, verbose=verbose)
    if options.fine_tune_epochs and options.fine_tune_layers:
        set_trainable(model, backbone_layers=options.fine_tune_layers)
        fit(model, dataset, spec, options, epochs=options.fine_tune_epochs,
            learning_rate=options.fine_tune_learning_rate, verbose=verbose, warmup=False)
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
        warmup: bool = True, callbacks=()):
    """Compile and fit `model` with the recipe (augmentation, schedule, weights, smoothing).

    `early_stopping` False runs every epoch (pruning, whose schedule must reach its target).
    Returns the Keras History.
    """
    num_classes = len(dataset.class_names)
    compile_model(model, learning_rate, options.label_smoothing)
    batches = augmented_batches(dataset.x_train, dataset.y_train, num_classes, spec.mean,
                                spec.std, options.batch_size, AUGMENT[options.augment],
                                options.flip, options.seed)
    x_val = normalize(dataset.x_val, spec.mean, spec.std)
    y_val = np.eye(num_classes, dtype=np.float32)[dataset.y_val]
    schedule = _schedule_callbacks(options, epochs, learning_rate, warmup)
    stop = _early_stopping(options, warmup) if early_stopping else []
    return model.fit(
        batches, validation_data=(x_val, y_val), epochs=epochs, shuffle=False,
        class_weight=class_weights(dataset.y_train, num_classes, options.class_weights),
        verbose=verbose, callbacks=[*schedule, *stop, *callbacks],
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
    """Softmax scores of a Keras model for RGB uint8 images."""
    return model.predict(normalize(images, mean, std), batch_size=batch_size, verbose=0)


# ---------------------------------------------------------------------------------------------
# Augmented, shuffled, normalized training batches (numpy; deterministic for a seed).

def augmented_batches(images, labels, num_classes, mean, std, batch_size, augmentation, flip,
                      seed):
    """A keras Sequence of (normalized augmented images, one-hot labels), reshuffled per epoch.

    Batch `i` of epoch `e` depends only on (seed, e, i): runs are reproducible.
    """
    from pipeline._tf import keras

    class _Batches(keras.utils.Sequence):
        def __init__(self):
            super().__init__()
            self.images, self.onehot = images, np.eye(num_classes, dtype=np.float32)[labels]
            self.epoch, self.order = 0, np.arange(len(images))
            self._shuffle()

        def _shuffle(self):
            self.order = np.random.default_rng((seed, self.epoch)).permutation(len(self.images))

        def __len__(self):
            return math.ceil(len(self.images) / batch_size)

        def __getitem__(self, index):
            idx = self.order[index * batch_size:(index + 1) * batch_size]
            rng = np.random.default_rng((seed, self.epoch, index))
            batch = augment(self.images[idx], augmentation, flip, rng)
            return normalize(batch, mean, std), self.onehot[idx]

        def on_epoch_end(self):
            self.epoch += 1
            self._shuffle()

    return _Batches()


def augment(images: np.ndarray, aug: Augmentation, flip: bool, rng) -> np.ndarray:
    """Randomly transformed copies of RGB uint8 `images` (N, H, W, 3), as float32 pixels."""
    x = images.astype(np.float32)
    n = len(x)
    if aug.shift or aug.rotation or aug.zoom or flip:
        x = _warp(x, aug, flip, rng)
    if aug.contrast:
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        x = (x - mean) * rng.uniform(1 - aug.contrast, 1 + aug.contrast, (n, 1, 1, 1)) + mean
    if aug.brightness:
        x = x + rng.uniform(-aug.brightness, aug.brightness, (n, 1, 1, 1)) * 255.0
    if aug.colour:
        x = x * rng.uniform(1 - aug.colour, 1 + aug.colour, (n, 1, 1, 3))
    if aug.noise:
        x = x + rng.normal(0.0, 1.0, x.shape) * rng.uniform(0, aug.noise, (n, 1, 1, 1))
    return np.clip(x, 0.0, 255.0).astype(np.float32)


def _warp(x: np.ndarray, aug: Augmentation, flip: bool, rng) -> np.ndarray:
    """A random affine warp about the centre of each (H, W, 3) image: bilinear, edges repeated."""
    n, h, w = x.shape[:3]
    angle = np.radians(rng.uniform(-aug.rotation, aug.rotation, n)).astype(np.float32)
    scale = rng.uniform(1 - aug.zoom, 1 + aug.zoom, n).astype(np.float32)
    shift = (rng.uniform(-aug.shift, aug.shift, (n, 2)) * (h, w)).astype(np.float32)
    mirror = (np.where(rng.random(n) < 0.5, -1.0, 1.0) if flip else np.ones(n)).astype(np.float32)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)  # float32 throughout: this runs per batch
    yy, xx = yy - (h - 1) / 2, xx - (w - 1) / 2
    # output pixel -> input coordinates: inverse rotation and zoom about the centre, then shift
    src_y = (cos[:, None, None] * yy + (-sin * mirror)[:, None, None] * xx
             + (h - 1) / 2 - shift[:, 0, None, None])
    src_x = (sin[:, None, None] * yy + (cos * mirror)[:, None, None] * xx
             + (w - 1) / 2 - shift[:, 1, None, None])
    src_y, src_x = np.clip(src_y, 0, h - 1), np.clip(src_x, 0, w - 1)
    y0, x0 = np.floor(src_y).astype(np.int64), np.floor(src_x).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (src_y - y0)[..., None], (src_x - x0)[..., None]
    flat, base = x.reshape(-1, x.shape[-1]), (np.arange(n) * (h * w))[:, None, None]

    def at(yi, xi):
        return np.take(flat, base + yi * w + xi, axis=0)

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)
