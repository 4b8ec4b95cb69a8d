"""What `fit` reads (`pipeline.feed`): the in-memory Sequence on one device, and `tf.data` for a
folder streamed from its shards or under a strategy: global batches, one-hot labels, the same
augmentation and normalization, reproducible for a seed, and a known number of steps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.cache import StageCache
from pipeline.config import DataOptions, PipelineConfig, TrainOptions
from pipeline.datastore import cached_dataset
from pipeline.feed import AUGMENT, augment, fit_inputs, normalize
from pipeline.streamdata import SplitImages

MEAN, STD = (127.5,) * 3, (127.5,) * 3


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """A 3-class folder (25 images, 10 px) through the pipeline's data stage: SplitImages."""
    root = tmp_path_factory.mktemp("feed")
    rng = np.random.default_rng(3)
    for name, n in (("a", 9), ("b", 8), ("c", 8)):
        (root / "data" / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, size=(int(rng.integers(8, 30)), 14, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "data" / name / f"{name}{i}.png")
    config = PipelineConfig(data=DataOptions(data_dir=str(root / "data"), image_size=10),
                            out_dir=str(root / "models"))
    dataset, _ = cached_dataset(config, StageCache(root / "cache"), lambda m: None)
    assert isinstance(dataset.x_train, SplitImages)
    return dataset


def _first_epoch(inputs):
    return [(np.asarray(x), np.asarray(y)) for x, y in inputs.train.take(inputs.steps)]


def test_a_streamed_split_is_fed_by_tf_data_in_global_batches(streamed):
    options = TrainOptions(batch_size=4, augment="none")
    inputs = fit_inputs(streamed, MEAN, STD, options, global_batch=6)
    n = len(streamed.y_train)
    assert inputs.steps == -(-n // 6)
    batches = _first_epoch(inputs)
    assert all(x.shape == (6, 10, 10, 3) and x.dtype == np.float32 for x, _ in batches)
    assert all(y.shape == (6, 3) and np.all(y.sum(axis=1) == 1) for _, y in batches)
    # without augmentation the pixels are the split's own, normalized; every image is there
    images = np.concatenate([x for x, _ in batches])[:n]
    wanted = normalize(np.asarray(streamed.x_train), MEAN, STD)
    found = {w.tobytes() for w in wanted}
    assert all(image.tobytes() in found for image in images)
    labels = np.concatenate([y.argmax(1) for _, y in batches])[:n]
    assert sorted(labels.tolist()) == sorted(streamed.y_train.tolist())
    x_val, y_val = (np.concatenate(part) for part in zip(*[(np.asarray(x), np.asarray(y))
                                                         for x, y in inputs.validation]))
    # the validation split in the shards' order: every image once, with its own label
    wanted = normalize(np.asarray(streamed.x_val), MEAN, STD)
    pairs = sorted((x.tobytes(), int(y)) for x, y in zip(x_val, y_val.argmax(1)))
    assert pairs == sorted((x.tobytes(), int(y)) for x, y in zip(wanted, streamed.y_val))


def test_streamed_batches_are_augmented_and_reproducible(streamed):
    options = TrainOptions(batch_size=4, augment="strong", seed=5)
    first = _first_epoch(fit_inputs(streamed, MEAN, STD, options, global_batch=4))
    again = _first_epoch(fit_inputs(streamed, MEAN, STD, options, global_batch=4))
    for (x1, y1), (x2, y2) in zip(first, again):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    plain = {w.tobytes() for w in normalize(np.asarray(streamed.x_train), MEAN, STD)}
    assert not any(image.tobytes() in plain for x, _ in first for image in x)
    assert all(x.min() >= -1.0 and x.max() <= 1.0 for x, _ in first)


def test_in_memory_data_uses_the_sequence_on_one_device_and_tf_data_under_a_strategy(streamed):
    from dataclasses import replace

    arrays = replace(streamed, x_train=np.asarray(streamed.x_train), x_val=np.asarray(streamed.x_val),
                     x_test=np.asarray(streamed.x_test))
    options = TrainOptions(batch_size=4, augment="none")
    one = fit_inputs(arrays, MEAN, STD, options, global_batch=4)
    assert one.steps is None and len(one.train) == -(-len(arrays.y_train) // 4)
    x, y = one.train[0]
    assert x.shape[1:] == (10, 10, 3) and y.shape[1] == 3
    assert np.array_equal(one.validation[0], normalize(arrays.x_val, MEAN, STD))
    many = fit_inputs(arrays, MEAN, STD, options, global_batch=8, distributed=True)
    assert many.steps == -(-len(arrays.y_train) // 8)
    assert all(x.shape == (8, 10, 10, 3) for x, _ in _first_epoch(many))


def test_qat_inputs_are_never_augmented(streamed):
    options = TrainOptions(batch_size=4, augment="strong", flip=True)
    inputs = fit_inputs(streamed, MEAN, STD, options, global_batch=4, augment_images=False)
    plain = {w.tobytes() for w in normalize(np.asarray(streamed.x_train), MEAN, STD)}
    assert all(image.tobytes() in plain for x, _ in _first_epoch(inputs) for image in x)


def test_augment_of_float_pixels_equals_that_of_uint8():
    images = np.random.default_rng(2).integers(0, 256, size=(3, 12, 12, 3)).astype(np.uint8)
    a = augment(images, AUGMENT["light"], False, np.random.default_rng(1))
    b = augment(images.astype(np.float32), AUGMENT["light"], False, np.random.default_rng(1))
    assert np.array_equal(a, b)
