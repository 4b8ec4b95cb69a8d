"""The on-disk shards: the one resize's bytes, decoded once, every image once per epoch."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline import shards
from pipeline.cache import StageCache
from pipeline.imageops import load_rgb, resize_rgb

SIZE = 16


def _images(folder, n, rng):
    """`n` generated images of varied sizes and formats; item i has label i (unique)."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        path = folder / (f"{i:03d}.jpg" if i % 3 == 0 else f"{i:03d}.png")
        Image.fromarray(pixels).save(path)
        items.append((path, i))
    return items


@pytest.fixture()
def small_shards(monkeypatch):
    """Shards of 7 images, so a small set spans several."""
    monkeypatch.setattr(shards, "SHARD_BYTES", 7 * SIZE * SIZE * 3)


def test_shards_hold_the_one_resize_bytes_and_are_reused(tmp_path, small_shards):
    items = _images(tmp_path / "img", 30, np.random.default_rng(1))
    (tmp_path / "img" / "broken.png").write_bytes(b"not a png")
    items.append((tmp_path / "img" / "broken.png", 30))
    cache = StageCache(tmp_path / "cache")
    calls = []
    first = shards.cached_shards(items, SIZE, cache, progress=lambda d, t: calls.append((d, t)))
    assert not first.reused and len(first) == 30 and len(first.counts) == 5
    assert calls[-1] == (31, 31) and [p for p, _ in first.skipped] == [str(items[30][0])]
    positions, labels = first.kept()
    assert list(positions) == list(range(30)) and list(labels) == list(range(30))
    images, labels = first.images(range(31))
    for i, (path, _) in enumerate(items[:30]):
        assert np.array_equal(images[i], resize_rgb(load_rgb(path), SIZE, SIZE)), path
    assert list(labels) == list(range(30))
    second = shards.cached_shards(items, SIZE, cache)
    assert second.reused and second.key == first.key
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(items[4][0])
    assert shards.cached_shards(items, SIZE, cache).key != first.key


def test_the_reader_yields_every_image_once_per_epoch(tmp_path, small_shards):
    items = _images(tmp_path / "img", 23, np.random.default_rng(2))
    stored = shards.cached_shards(items, SIZE, StageCache(tmp_path / "cache"))
    images, _ = stored.images(range(23))
    mean, std = (127.5, 127.5, 127.5), (127.5, 127.5, 127.5)
    dataset = stored.dataset(mean, std, shuffle=True, seed=3)
    assert int(dataset.cardinality()) == 23
    epochs = [[(x.numpy(), int(y)) for x, y in dataset] for _ in range(2)]
    for epoch in epochs:
        assert sorted(y for _, y in epoch) == list(range(23))
        for x, y in epoch:
            np.testing.assert_allclose(x, (images[y].astype(np.float32) - 127.5) / 127.5)
    assert [y for _, y in epochs[0]] != [y for _, y in epochs[1]]  # reshuffled
    subset = [1, 5, 8, 22]
    batches = list(stored.dataset(mean, std, indices=subset, batch_size=3))
    assert [len(b[1]) for b in batches] == [3, 1]
    assert sorted(int(y) for b in batches for y in b[1]) == subset


@pytest.mark.slow
def test_decoding_in_a_pool_matches_in_process(tmp_path):
    items = _images(tmp_path / "img", 70, np.random.default_rng(4))
    pooled = shards.cached_shards(items, SIZE, StageCache(tmp_path / "a"), workers=2)
    alone = shards.cached_shards(items, SIZE, StageCache(tmp_path / "b"), workers=1)
    assert pooled.key == alone.key
    assert np.array_equal(pooled.images(range(70))[0], alone.images(range(70))[0])
    assert np.array_equal(pooled.item_index, alone.item_index)


def test_a_streamed_folder_splits_exactly_as_the_in_memory_loader(tmp_path):
    from pipeline.config import DataOptions
    from pipeline.data import load_dataset
    from pipeline.streamdata import streamed_dataset

    rng = np.random.default_rng(5)
    for name, n in (("cat", 9), ("dog", 12), ("owl", 7)):
        for i, (path, _) in enumerate(_images(tmp_path / "data" / name, n, rng)):
            path.rename(path.with_name(f"{name}{i:02d}{path.suffix}"))
    (tmp_path / "data" / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "data" / "owl" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    options = DataOptions(data_dir=str(tmp_path / "data"))
    memory = load_dataset(options, SIZE)
    streamed = streamed_dataset(options, SIZE, StageCache(tmp_path / "cache"))
    assert streamed.class_names == memory.class_names
    assert sorted(streamed.skipped) == sorted(memory.skipped)
    for split in ("train", "val", "test"):
        x, y = streamed.arrays(split)
        assert np.array_equal(x, getattr(memory, f"x_{split}")), split
        assert np.array_equal(y, getattr(memory, f"y_{split}")), split
    labels = sorted(int(y) for _, y in streamed.dataset("val", (0, 0, 0), (1, 1, 1)))
    assert labels == sorted(memory.y_val.tolist())


def test_the_cached_dataset_of_a_folder_reads_its_images_from_the_shards(tmp_path, small_shards):
    """`datastore.cached_dataset` of a folder: the in-memory loader's arrays, as SplitImages
    that read only what is indexed (a position, slice, array or mask) from the shards."""
    from pipeline.config import DataOptions, PipelineConfig
    from pipeline.data import dataset_key, load_dataset
    from pipeline.datastore import cached_dataset
    from pipeline.streamdata import SplitImages

    rng = np.random.default_rng(6)
    for name, n in (("ant", 11), ("bee", 8)):
        for i, (path, _) in enumerate(_images(tmp_path / "data" / name, n, rng)):
            path.rename(path.with_name(f"{name}{i:02d}{path.suffix}"))
    options = DataOptions(data_dir=str(tmp_path / "data"), image_size=SIZE)
    config = PipelineConfig(data=options, out_dir=str(tmp_path / "models"))
    memory = load_dataset(options, SIZE)
    dataset, key = cached_dataset(config, StageCache(tmp_path / "cache"), lambda m: None)
    assert key == dataset.fingerprint == dataset_key(options, SIZE)
    assert dataset.image_size == SIZE and dataset.summary() == {**memory.summary(), "fingerprint": key}
    for split in ("train", "val", "test"):
        lazy, array = getattr(dataset, f"x_{split}"), getattr(memory, f"x_{split}")
        assert isinstance(lazy, SplitImages) and lazy.shape == array.shape and len(lazy) == len(array)
        assert np.array_equal(np.asarray(lazy), array), split
        assert np.array_equal(getattr(dataset, f"y_{split}"), getattr(memory, f"y_{split}"))
    x = dataset.x_train
    assert np.array_equal(x[2], memory.x_train[2]) and np.array_equal(x[-1], memory.x_train[-1])
    assert np.array_equal(x[1:6:2], memory.x_train[1:6:2])
    assert np.array_equal(x[[4, 0, 4]], memory.x_train[[4, 0, 4]])
    mask = memory.y_train == 1
    assert np.array_equal(x[mask], memory.x_train[mask])
