"""A user's image folder as on-disk shards, split exactly as the in-memory loader splits it.

Public entry point: `streamed_dataset(options, image_size, cache, progress=None)
-> StreamedDataset`. The folder is scanned, checked and labelled by the data stage's own rules
(`pipeline.data`: class folders, skipped files and their reasons, the minimum per class), the
images are stored once by `pipeline.shards`, and the split is the data stage's seeded, stratified
split of the same images: `StreamedDataset.arrays("train")` equals `load_dataset(...).x_train`
and `.y_train`, so a model trained from the shards sees the same images in the same splits.
`StreamedDataset.dataset(split, mean, std, ...)` is the `tf.data` reader of one split, and
`StreamedDataset.as_dataset(fingerprint)` the `pipeline.data.Dataset` every later stage takes:
its labels are arrays, its images `SplitImages` (read from the shards when indexed, never held
in memory whole).

Only image folders are streamed; the embedded digits (1,797 tiny images) stay in memory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.cache import StageCache
from pipeline.config import DataOptions
from pipeline.data import Dataset, _check_class_count, _check_root, _class_folders, _split
from pipeline.errors import DataError
from pipeline.shards import Progress, ShardSet, cached_shards

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class StreamedDataset:
    """The shards of a folder and its split: `indices[split]` are positions of `items` (files
    in class-folder order, as the data stage lists them) of the images in that split."""

    class_names: tuple[str, ...]
    shards: ShardSet
    indices: dict
    skipped: tuple[tuple[str, str], ...]
    source: str

    @property
    def image_size(self) -> int:
        return self.shards.image_size

    def count(self, split: str) -> int:
        return int(len(self.indices[split]))

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """One split as in-memory uint8 images and labels (for the small validation and test
        splits, and calibration)."""
        return self.shards.images(self.indices[split])

    def dataset(self, split: str, mean, std, batch_size: int | None = None,
                shuffle: bool = False, seed: int = 0):
        """`tf.data` of `(normalized image, label)` over one split (see `ShardSet.dataset`)."""
        return self.shards.dataset(mean, std, indices=self.indices[split], batch_size=batch_size,
                                   shuffle=shuffle, seed=seed)

    def as_dataset(self, fingerprint: str) -> Dataset:
        """The split as the data stage's `Dataset`, its images read from the shards on demand."""
        parts = {split: SplitImages(self, split) for split in SPLITS}
        return Dataset(
            class_names=self.class_names,
            **{f"x_{split}": images for split, images in parts.items()},
            **{f"y_{split}": images.labels for split, images in parts.items()},
            source=self.source, fingerprint=fingerprint, skipped=self.skipped)


class SplitImages:
    """The uint8 images (N, H, W, 3) of one split, in the data stage's order, read on demand.

    It behaves as a read-only array where the stages use one: `len`, `shape`, `dtype`, and
    indexing by position, slice, position array or mask, each of which reads only the images
    asked for (each shard is memory-mapped for the read, then released). `np.asarray` reads the
    whole split: the stages read it in chunks instead.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, stream: StreamedDataset, split: str):
        shards = stream.shards
        self.stream, self.split = stream, split
        stored = np.flatnonzero(shards._selected(stream.indices[split]))
        self._stored = stored[np.argsort(shards.item_index[stored], kind="stable")]
        self._starts = np.concatenate([[0], np.cumsum(shards.counts)]).astype(np.int64)
        self.labels = shards.labels[self._stored]
        size = shards.image_size
        self.shape = (len(self._stored), size, size, 3)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._gather(np.array([range(len(self))[key]]))[0]  # bounds-checked
        if isinstance(key, slice):
            return self._gather(np.arange(*key.indices(len(self))))
        index = np.asarray(key)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return self._gather(np.arange(len(self))[index.astype(np.int64)])

    def __array__(self, dtype=None, copy=None):
        whole = self._gather(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype)

    def _gather(self, index: np.ndarray) -> np.ndarray:
        stored = self._stored[index]
        shard = np.searchsorted(self._starts, stored, side="right") - 1
        out = np.empty((len(index), *self.shape[1:]), np.uint8)
        for s in np.unique(shard):
            here = shard == s
            out[here] = self.stream.shards._arrays(int(s))[0][stored[here] - self._starts[s]]
        return out


def streamed_dataset(options: DataOptions, image_size: int, cache: StageCache,
                     progress: Progress | None = None, digest: str | None = None) -> StreamedDataset:
    """The folder `options.data_dir` stored as shards at `image_size`, and its split.

    `digest`: the folder's content hash when the caller has it (`data.fingerprint_source`), so
    the files are not read twice to key the shards."""
    if options.data_dir is None:
        raise DataError("the embedded digits are not streamed", "pass --data with an image folder")
    root = Path(options.data_dir).expanduser()
    _check_root(root)
    classes, skipped = _class_folders(root)
    if len(classes) < 2:
        raise DataError(f"data folder {root} has a single class ({classes[0][0]!r}); a classifier "
                        "needs two or more", "add a subfolder of images for each other class")
    items = [(f, label) for label, (_, files) in enumerate(classes) for f in files]
    shards = cached_shards(items, image_size, cache, progress, digest=digest)
    positions, labels = shards.kept()
    reasons = dict(shards.skipped)
    skipped = skipped + [(str(f), reasons[str(f)]) for f, _ in items if str(f) in reasons]
    try:
        for label, (name, _) in enumerate(classes):
            here = [s for s in skipped if Path(s[0]).parent.name == name]
            _check_class_count(root, name, int(np.sum(labels == label)), here)
    except DataError:
        shutil.rmtree(shards.root, ignore_errors=True)  # unusable data leaves nothing behind
        raise
    parts = _split(labels, [n for n, _ in classes], options)
    return StreamedDataset(
        class_names=tuple(n for n, _ in classes), shards=shards,
        indices={split: positions[part] for split, part in zip(SPLITS, parts)},
        skipped=tuple(skipped), source=f"folder: {root}")
