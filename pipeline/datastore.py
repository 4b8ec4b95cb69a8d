"""The decoded dataset, stored once per content key in the stage cache and read back.

Public entry point: `cached_dataset(config, cache, log) -> (Dataset, key)`. The key hashes the
raw inputs (file bytes, class names) with the split and size options (`data.dataset_key`), so an
unchanged folder is decoded once and every later stage and run reads what was stored:

* an image folder is stored as shards (`pipeline.streamdata`, `pipeline.shards`), whatever its
  size: the `Dataset` holds its labels, and its images are `SplitImages` read from the shards
  when a stage asks, so memory does not grow with the folder; training reads them by `tf.data`;
* the embedded digits (1,797 images of 8x8 pixels) are one small `.npz` of arrays.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.architectures import get_spec
from pipeline.cache import StageCache
from pipeline.config import PipelineConfig
from pipeline.data import Dataset, dataset_key, fingerprint_source, load_dataset
from pipeline.runlog import Log
from pipeline.streamdata import streamed_dataset

_SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_MAX_LISTED_SKIPS = 20


def image_size(config: PipelineConfig) -> int:
    """The model's square input side: the option, or the architecture's default."""
    return config.data.image_size or get_spec(config.model.architecture).default_size


def cached_dataset(config: PipelineConfig, cache: StageCache, log: Log) -> tuple[Dataset, str]:
    """The dataset `config` describes (decoded once, then from `cache`), and its content key."""
    size = image_size(config)
    if config.data.data_dir is None:
        key = dataset_key(config.data, size)
        dataset, _ = cache.get_or_make(
            "data", key, lambda d: _save(load_dataset(config.data, size, _progress(log)), d), _load)
    else:
        content = fingerprint_source(config.data)  # the files are read once to hash them
        key = dataset_key(config.data, size, content)
        stream = streamed_dataset(config.data, size, cache, _progress(log), digest=content)
        dataset = stream.as_dataset(fingerprint=key)
    log(f"    {len(dataset.class_names)} classes, train/val/test = "
        f"{len(dataset.y_train)}/{len(dataset.y_val)}/{len(dataset.y_test)}, "
        f"{len(dataset.skipped)} file(s) skipped")
    for path, reason in dataset.skipped[:_MAX_LISTED_SKIPS]:
        log(f"    skipped {path}: {reason}")
    if len(dataset.skipped) > _MAX_LISTED_SKIPS:
        log(f"    ... and {len(dataset.skipped) - _MAX_LISTED_SKIPS} more (all listed in the model's report)")
    return dataset, key


def _progress(log: Log):
    last = {"pct": -1}

    def report(done: int, total: int):
        pct = int(100 * done / max(total, 1)) // 10 * 10
        if pct != last["pct"]:
            last["pct"] = pct
            log(f"    reading images: {done}/{total} ({pct}%)")

    return report


def _save(ds: Dataset, d: Path) -> None:
    np.savez(d / "arrays.npz", **{k: getattr(ds, k) for k in _SPLITS})
    (d / "meta.json").write_text(json.dumps({
        "class_names": ds.class_names, "source": ds.source, "fingerprint": ds.fingerprint,
        "skipped": ds.skipped,
    }))


def _load(d: Path) -> Dataset:
    arrays = np.load(d / "arrays.npz")
    meta = json.loads((d / "meta.json").read_text())
    return Dataset(
        class_names=tuple(meta["class_names"]), **{k: arrays[k] for k in _SPLITS},
        source=meta["source"], fingerprint=meta["fingerprint"],
        skipped=tuple(tuple(s) for s in meta["skipped"]),
    )
