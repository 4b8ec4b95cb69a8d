"""A user's image folder as on-disk shards, split exactly as the in-memory loader splits it.

Public entry point: `streamed_dataset(options, image_size, cache, progress=None)
-> StreamedDataset`. The folder is scanned, checked and labelled by the data stage's own rules
(`pipeline.data`: class folders, skipped files and their reasons, the minimum per class), the
images are stored once by `pipeline.shards`, and the split is the data stage's seeded, stratified
split of the same images: `StreamedDataset.arrays("train")` equals `load_dataset(...).x_train`
and `.y_train`, so a model trained from the shards sees the same images in the same splits.
`StreamedDataset.dataset(split, mean, std, ...)` is the `tf.data` reader of one split.

Only image folders are streamed; the embedded digits (1,797 tiny images) stay in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.cache import StageCache
from pipeline.config import DataOptions
from pipeline.data import _check_class_count, _check_root, _class_folders, _split
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


def streamed_dataset(options: DataOptions, image_size: int, cache: StageCache,
                     progress: Progress | None = None) -> StreamedDataset:
    """The folder `options.data_dir` stored as shards at `image_size`, and its split."""
    if options.data_dir is None:
        raise DataError("the embedded digits are not streamed", "pass --data with an image folder")
    root = Path(options.data_dir).expanduser()
    _check_root(root)
    classes, skipped = _class_folders(root)
    if len(classes) < 2:
        raise DataError(f"data folder {root} has a single class ({classes[0][0]!r}); a classifier "
                        "needs two or more", "add a subfolder of images for each other class")
    items = [(f, label) for label, (_, files) in enumerate(classes) for f in files]
    shards = cached_shards(items, image_size, cache, progress)
    positions, labels = shards.kept()
    reasons = dict(shards.skipped)
    skipped = skipped + [(str(f), reasons[str(f)]) for f, _ in items if str(f) in reasons]
    for label, (name, _) in enumerate(classes):
        here = [s for s in skipped if Path(s[0]).parent.name == name]
        _check_class_count(root, name, int(np.sum(labels == label)), here)
    parts = _split(labels, [n for n, _ in classes], options)
    return StreamedDataset(
        class_names=tuple(n for n, _ in classes), shards=shards,
        indices={split: positions[part] for split, part in zip(SPLITS, parts)},
        skipped=tuple(skipped), source=f"folder: {root}")
