"""A dataset larger than memory: decoded once into fixed-size shards on disk, read by tf.data.

Public entry point: `cached_shards(items, image_size, cache, progress=None) -> ShardSet`.
`items` are `(image file, label)` pairs. Each image is decoded and resized with the project's
one resize (`imageops.load_rgb` then `imageops.resize_rgb`: the bytes the app sees) in a pool of
processes, one per core, and written shard by shard as `.npy` uint8 arrays of `SHARD_BYTES`
(the last one smaller) under the stage cache (`<out>/.cache/shards/<key>/`). The key hashes
every file's bytes with its label, the size and the shard layout, so an unchanged dataset is
decoded once. Only one shard's images are ever held in memory, so peak memory does not grow
with the number of images.

Images are stored in a seeded random order (a class-sorted folder would otherwise give
one-class shards); `ShardSet.item_index` maps each stored image back to its position in
`items`, and every reader takes and returns positions in `items`.

`ShardSet.dataset(mean, std, ...)` is the `tf.data` reader: shards are memory-mapped and read
one at a time in a shuffled order, images shuffled in a buffer of about one shard, normalized
in a `map` (`(p - mean) / std`, float32), optionally batched, and prefetched.
`ShardSet.images(indices)` gathers chosen images as one uint8 array (for the small splits that
validation and calibration read).

The pool starts its processes with `spawn` (forking a process that has loaded TensorFlow can
deadlock), which imports the main script again in each worker: a script that calls
`cached_shards` must keep its top level behind `if __name__ == "__main__":` (the tasks, the
installed command and pytest do).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.cache import StageCache, stage_key
from pipeline.data import _decode, _unusable  # the data stage's decode and reasons to skip
from pipeline.imageops import resize_rgb

SHARD_BYTES = 32 * 1024 * 1024
SHARDS_VERSION = 1
ORDER_SEED = 0
PREFETCH = 2  # elements (batches, when batched) read ahead; AUTOTUNE grows it with the epoch
_IN_PROCESS_BELOW = 64  # fewer images than this are decoded without starting a pool
_HASH_CHUNK = 1024
Progress = Callable[[int, int], None]


def shard_images(image_size: int) -> int:
    """Images per shard at `image_size` pixels square (RGB uint8)."""
    return max(1, SHARD_BYTES // (image_size * image_size * 3))


@dataclass(frozen=True)
class ShardSet:
    """The stored images: `counts[i]` images in shard `i`; `item_index[j]` and `labels[j]` are
    the position in `items` and the label of the `j`-th stored image (shard order)."""

    root: Path
    image_size: int
    counts: tuple[int, ...]
    item_index: np.ndarray
    labels: np.ndarray
    skipped: tuple[tuple[str, str], ...]
    key: str
    reused: bool

    def __len__(self) -> int:
        return int(len(self.labels))

    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """The positions in `items` of the stored images, ascending, and their labels."""
        order = np.argsort(self.item_index, kind="stable")
        return self.item_index[order], self.labels[order]

    def _arrays(self, shard: int):
        return (np.load(self.root / f"images-{shard:05d}.npy", mmap_mode="r"),
                np.load(self.root / f"labels-{shard:05d}.npy"))

    def _selected(self, indices) -> np.ndarray:
        """A mask over stored images: those whose item position is in `indices` (None = all)."""
        if indices is None:
            return np.ones(len(self), dtype=bool)
        return np.isin(self.item_index, np.asarray(indices, dtype=np.int64))

    def images(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 images and labels of the items at `indices`, in ascending item order."""
        mask = self._selected(indices)
        order = np.argsort(self.item_index[mask], kind="stable")
        parts, start = [], 0
        for shard, count in enumerate(self.counts):
            here = mask[start:start + count]
            if here.any():
                parts.append(np.asarray(self._arrays(shard)[0][here]))
            start += count
        size = self.image_size
        images = np.concatenate(parts) if parts else np.zeros((0, size, size, 3), np.uint8)
        return images[order], self.labels[mask][order]

    def dataset(self, mean, std, indices=None, batch_size: int | None = None,
                shuffle: bool = False, seed: int = 0):
        """A `tf.data.Dataset` of `(normalized image, label)` over the items at `indices`."""
        return _reader(self, self._selected(indices), mean, std, batch_size, shuffle, seed)


def cached_shards(items: Sequence[tuple[Path, int]], image_size: int, cache: StageCache,
                  progress: Progress | None = None, workers: int | None = None,
                  digest: str | None = None) -> ShardSet:
    """The shards of `items` at `image_size`: read from `cache`, or decoded and written once.

    `digest`: a hash of every item's bytes and label the caller already has (else
    `content_digest(items)` reads the files to make one)."""
    items = [(p if isinstance(p, Path) else Path(p), int(label)) for p, label in items]
    key = stage_key("shards", SHARDS_VERSION, image_size, shard_images(image_size), ORDER_SEED,
                    digest or content_digest(items))
    workers = workers or len(os.sched_getaffinity(0))
    made, reused = cache.get_or_make(
        "shards", key, lambda d: _write(items, image_size, d, progress, workers), _read_index)
    return ShardSet(root=made["root"], image_size=image_size, counts=made["counts"],
                    item_index=made["item_index"], labels=made["labels"],
                    skipped=made["skipped"], key=key, reused=reused)


def content_digest(items: Sequence[tuple[Path, int]]) -> str:
    """A hash of every item's label, file name and bytes, in order (files read in threads)."""
    total = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(items), _HASH_CHUNK):  # a Future per file, a chunk at a time
            chunk = items[start:start + _HASH_CHUNK]
            for (path, label), digest in zip(chunk, pool.map(_file_digest, [p for p, _ in chunk])):
                total.update(f"{label}\0{path.name}\0".encode("utf-8", "surrogateescape") + digest)
    return total.hexdigest()


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:  # decoding skips it too; the reason still counts
        digest.update(f"\0unreadable {exc.errno}\0".encode())
    return digest.digest()


# ---------------------------------------------------------------------------------------------
# Writing.

def decode(path: str, image_size: int) -> tuple[np.ndarray | None, str]:
    """`resize_rgb(load_rgb(path))`, or (None, why the file cannot be used: the data stage's
    own reasons, word for word). Runs in the pool."""
    file = Path(path)
    reason = _unusable(file)
    if reason:
        return None, reason
    why: list[tuple[str, str]] = []
    rgb = _decode(file, why)
    if rgb is None:
        return None, why[0][1]
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        return None, "image has zero width or height"
    return resize_rgb(rgb, image_size, image_size), ""


def _write(items, image_size: int, folder: Path, progress: Progress | None, workers: int) -> None:
    order = np.random.default_rng(ORDER_SEED).permutation(len(items))
    per_shard = shard_images(image_size)
    buffer = np.empty((min(per_shard, len(items)), image_size, image_size, 3), np.uint8)
    counts, index, labels, skipped, done = [], [], [], [], 0
    pool = None
    if workers > 1 and len(items) >= _IN_PROCESS_BELOW:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        for start in range(0, len(items), per_shard):
            chunk = order[start:start + per_shard]
            paths = [str(items[i][0]) for i in chunk]
            sizes = [image_size] * len(paths)
            results = (pool.map(decode, paths, sizes, chunksize=max(1, len(paths) // (4 * workers)))
                       if pool else map(decode, paths, sizes))
            kept = 0
            for i, (rgb, reason) in zip(chunk, results):
                done += 1
                if rgb is None:
                    skipped.append((str(items[i][0]), reason))
                else:
                    buffer[kept] = rgb
                    kept += 1
                    index.append(int(i))
                    labels.append(items[i][1])
                if progress:
                    progress(done, len(items))
            if kept:
                _save_shard(folder, len(counts), buffer[:kept], labels[-kept:])
                counts.append(kept)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    np.save(folder / "item_index.npy", np.asarray(index, dtype=np.int64))
    (folder / "index.json").write_text(json.dumps(
        {"image_size": image_size, "counts": counts, "skipped": skipped}))


def _save_shard(folder: Path, shard: int, images: np.ndarray, labels) -> None:
    np.save(folder / f"images-{shard:05d}.npy", images)
    np.save(folder / f"labels-{shard:05d}.npy", np.asarray(labels, dtype=np.int64))


def _read_index(folder: Path) -> dict:
    meta = json.loads((folder / "index.json").read_text())
    counts = tuple(meta["counts"])
    labels = [np.load(folder / f"labels-{i:05d}.npy") for i in range(len(counts))]
    return {"root": folder, "counts": counts,
            "item_index": np.load(folder / "item_index.npy"),
            "labels": np.concatenate(labels) if labels else np.zeros(0, np.int64),
            "skipped": tuple(tuple(s) for s in meta["skipped"])}


# ---------------------------------------------------------------------------------------------
# Reading.

def _reader(shards: ShardSet, mask: np.ndarray, mean, std, batch_size, shuffle, seed):
    from pipeline._tf import tf

    size = shards.image_size
    starts = np.concatenate([[0], np.cumsum(shards.counts)]).astype(np.int64)
    wanted = [i for i in range(len(shards.counts)) if mask[starts[i]:starts[i + 1]].any()]

    def load(shard):
        shard = int(shard)
        images, labels = shards._arrays(shard)
        here = mask[starts[shard]:starts[shard + 1]]
        return np.ascontiguousarray(images[here]), labels[here]

    def load_op(shard):
        images, labels = tf.numpy_function(load, [shard], (tf.uint8, tf.int64), stateful=False)
        images.set_shape((None, size, size, 3))
        labels.set_shape((None,))
        return images, labels

    mean = tf.constant(np.asarray(mean, np.float32))
    std = tf.constant(np.asarray(std, np.float32))
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(wanted, dtype=np.int64))
    if shuffle:
        ds = ds.shuffle(max(1, len(wanted)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(load_op, num_parallel_calls=2).unbatch()
    ds = ds.apply(tf.data.experimental.assert_cardinality(int(mask.sum())))
    if shuffle:
        ds = ds.shuffle(shard_images(size), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda x, y: ((tf.cast(x, tf.float32) - mean) / std, y),
                num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size:
        ds = ds.batch(batch_size)
    return ds.prefetch(PREFETCH)
