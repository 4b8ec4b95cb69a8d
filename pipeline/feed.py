"""What `fit` reads: the training batches, the validation data and the steps of an epoch.

Public entry point: `fit_inputs(dataset, mean, std, options, global_batch, ...) -> FitInputs`.

* **Augmentation** (`AUGMENT`, the presets of `TrainOptions.augment`; `augment` makes the
  random changes) is applied to training batches only, never to validation or test images.
* **In memory, on one device** (the embedded digits): a keras `Sequence` of augmented,
  normalized, one-hot batches, reshuffled every epoch; batch `i` of epoch `e` depends only on
  (seed, e, i), so runs are reproducible.
* **Streamed, or under a distribution strategy**: a `tf.data` pipeline. A folder's images come
  from its shards (`pipeline.streamdata`: one shard in memory at a time, shuffled); in-memory
  arrays are sliced. Either is repeated, cut into global batches (the per-replica batch times
  the replicas, remainder dropped: every replica gets a full batch), augmented and normalized by
  the same `augment` (batch `i` of the run depends only on (seed, i)), given one-hot labels, and
  prefetched. Under `MultiWorkerMirroredStrategy` every worker reads the same order and keeps its
  share of each batch (`AutoShardPolicy.DATA`), so the workers stay in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.config import TrainOptions
from pipeline.data import Dataset
from pipeline.streamdata import SplitImages

VALIDATION_BATCH = 256


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


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """RGB uint8 pixels -> what the float model is fed: (p - mean) / std, float32."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    return (images.astype(np.float32) - mean) / std


@dataclass(frozen=True)
class FitInputs:
    """`train`: a keras Sequence or a repeated `tf.data.Dataset` of (normalized images, one-hot
    labels); `steps`: batches of one epoch (None for the Sequence: its length); `validation`:
    (images, one-hot labels) arrays or a batched `tf.data.Dataset` of them."""

    train: object
    steps: int | None
    validation: object


def fit_inputs(dataset: Dataset, mean, std, options: TrainOptions, global_batch: int, *,
               augment_images: bool = True, distributed: bool = False) -> FitInputs:
    """The training and validation inputs of `dataset` for `fit` (see the module docstring).

    `global_batch`: images per step over every replica; `augment_images` False trains on the
    images as they are (quantization-aware fine-tuning); `distributed`: under a strategy other
    than TensorFlow's default one (the in-memory Sequence is for one device only).
    """
    aug = AUGMENT[options.augment] if augment_images else AUGMENT["none"]
    flip = options.flip and augment_images
    num_classes = len(dataset.class_names)
    if not isinstance(dataset.x_train, SplitImages) and not distributed:
        train = augmented_batches(dataset.x_train, dataset.y_train, num_classes, mean, std,
                                  global_batch, aug, flip, options.seed)
        validation = (normalize(dataset.x_val, mean, std),
                      np.eye(num_classes, dtype=np.float32)[dataset.y_val])
        return FitInputs(train, None, validation)
    steps = max(1, math.ceil(len(dataset.y_train) / global_batch))
    return FitInputs(_tf_train(dataset, mean, std, aug, flip, options.seed, global_batch),
                     steps, _tf_validation(dataset, mean, std))


RAW = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # mean and std that leave the pixels as they are


def _pixels(images, labels, shuffle: bool, seed: int, mean, std):
    """Unbatched ((p - mean) / std as float32, label) of one split, from the shards or arrays."""
    from pipeline._tf import tf

    if isinstance(images, SplitImages):
        return images.stream.dataset(images.split, mean, std, shuffle=shuffle, seed=seed)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(images), np.asarray(labels, np.int64)))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    mean_t, std_t = (tf.constant(np.asarray(v, np.float32)) for v in (mean, std))
    return ds.map(lambda x, y: ((tf.cast(x, tf.float32) - mean_t) / std_t, y))


def _tf_train(dataset: Dataset, mean, std, aug, flip: bool, seed: int, global_batch: int):
    from pipeline._tf import tf

    size, num_classes = dataset.image_size, len(dataset.class_names)

    def run(index, images):
        rng = np.random.default_rng((seed, int(index)))
        return normalize(augment(images, aug, flip, rng), mean, std)

    def augmented(index, batch):
        images = tf.numpy_function(run, [index, batch[0]], tf.float32, stateful=False)
        images.set_shape((global_batch, size, size, 3))
        return images, tf.one_hot(batch[1], num_classes)

    ds = _pixels(dataset.x_train, dataset.y_train, True, seed, *RAW)  # augmented, then normalized
    ds = ds.repeat().batch(global_batch, drop_remainder=True).enumerate()
    ds = ds.map(augmented, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _sharded_by_data(ds.prefetch(tf.data.AUTOTUNE))


def _tf_validation(dataset: Dataset, mean, std):
    from pipeline._tf import tf

    num_classes = len(dataset.class_names)
    ds = _pixels(dataset.x_val, dataset.y_val, False, 0, mean, std).batch(VALIDATION_BATCH)
    ds = ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)))
    return _sharded_by_data(ds.prefetch(tf.data.AUTOTUNE))


def _sharded_by_data(ds):
    """Every worker reads the whole order and keeps its share of each batch."""
    from pipeline._tf import tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


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
