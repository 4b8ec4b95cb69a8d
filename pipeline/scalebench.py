"""How the data stage and training scale with the number of images (shards + tf.data).

Public entry point: `run_scale_benchmark(work_dir, sizes=SIZES, image_size=96) -> dict`.
For each size it generates (once) a synthetic folder of small PNGs (4 classes of coloured
shapes, 64 to 160 pixels a side, so the resize runs), then runs three child processes and
records what each reports about itself:

* `data (first)`: the pipeline's data stage (`datastore.cached_dataset`: the folder hashed,
  decoded into shards, split) from an empty cache: images/s and peak RSS of the process and
  of its decoding pool (the largest worker);
* `data (again)`: the same call, which must reuse the cache;
* `train epoch`: one epoch over the training split as `invoke model` feeds it (`feed`:
  streamed from the shards, augmented, then the streamed validation split), of a tiny CNN.

Peak RSS is each child's own high-water mark (`VmHWM`, reset when the child's program starts;
`ru_maxrss` for its decoding pool), TensorFlow's import included for the training child. It also
records the cache's bytes on disk per image at `image_size` and at `DISK_CHECK_SIZE`.
It is not a test: it returns (and `write_scale_benchmark` writes) the figures.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from pipeline.cache import StageCache
from pipeline.fsutil import atomic_write_json

SIZES = (2_000, 10_000, 40_000)
CLASSES = ("square", "wide", "tall", "cross")
DISK_CHECK_SIZE = 224
_MARK = ".generated"


def run_scale_benchmark(work_dir: Path, sizes=SIZES, image_size: int = 96, log=print,
                        disk_check_images: int = 300) -> dict:
    """Measure every size (see the module docstring); the datasets stay in `work_dir`."""
    work_dir = Path(work_dir)
    rows = []
    for count in sizes:
        folder = make_synthetic_folder(work_dir / f"images-{count}", count)
        cache = work_dir / f"cache-{count}"
        shutil.rmtree(cache, ignore_errors=True)
        for phase in ("data", "data", "train"):
            row = {"images": count, "phase": phase, **_child(phase, folder, cache, image_size)}
            if phase == "data":
                row["phase"] = "data (again)" if row["reused"] else "data (first)"
            rows.append(row)
            log(_line(row))
        rows[-3]["disk_bytes_per_image"] = _disk_bytes(cache) / rows[-3]["stored"]
    disk = {image_size: rows[0]["disk_bytes_per_image"],
            DISK_CHECK_SIZE: _disk_check(work_dir, DISK_CHECK_SIZE, disk_check_images)}
    return {"image_size": image_size, "cores": len(os.sched_getaffinity(0)), "rows": rows,
            "disk_bytes_per_image": disk,
            "disk_bytes_per_10000_images": {k: v * 10_000 for k, v in disk.items()}}


def write_scale_benchmark(out: Path, work_dir: Path, sizes=SIZES, image_size: int = 96,
                          log=print) -> dict:
    """`run_scale_benchmark`, its figures written to `out` (JSON)."""
    result = run_scale_benchmark(work_dir, sizes, image_size, log)
    atomic_write_json(Path(out), result)
    return result


def _line(row: dict) -> str:
    return (f"  {row['images']:>6} images  {row['phase']:<13} {row['seconds']:7.1f} s  "
            f"{row['images_per_s']:8.0f} images/s  peak RSS {row['peak_rss_mb']:6.0f} MB"
            + (f" (decoding worker {row['worker_rss_mb']:.0f} MB)" if row.get("worker_rss_mb") else ""))


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.npy"))


def _disk_check(work_dir: Path, size: int, count: int) -> float:
    """Bytes on disk per image of shards at `size` (a small set is enough: the layout is fixed)."""
    folder = make_synthetic_folder(work_dir / f"images-{count}", count)
    cache = work_dir / f"cache-disk-{size}"
    shutil.rmtree(cache, ignore_errors=True)
    row = _child("data", folder, cache, size)
    return _disk_bytes(cache) / row["stored"]


# ---------------------------------------------------------------------------------------------
# Synthetic images.

def make_synthetic_folder(folder: Path, count: int) -> Path:
    """`count` PNGs in one subfolder per class of `CLASSES` (made once; reused when complete)."""
    folder = Path(folder)
    if (folder / _MARK).exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for name in CLASSES:
        (folder / name).mkdir(parents=True)
    jobs = [(str(folder / CLASSES[i % len(CLASSES)] / f"{i:06d}.png"), i) for i in range(count)]
    with ProcessPoolExecutor(len(os.sched_getaffinity(0)), mp_context=get_context("spawn")) as pool:
        list(pool.map(_make_image, *zip(*jobs), chunksize=256))
    (folder / _MARK).write_text(str(count))
    return folder


def _make_image(path: str, index: int) -> None:
    """A filled shape on a plain background: square, wide bar, tall bar, or both bars."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(index)
    side = int(rng.integers(64, 161))
    img = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    cx, cy = (side // 2 + int(rng.integers(-side // 8, side // 8 + 1)) for _ in range(2))
    r = side // 4
    halves = {0: [(r, r)], 1: [(r, r // 3)], 2: [(r // 3, r)], 3: [(r, r // 4), (r // 4, r)]}
    for w, h in halves[index % len(CLASSES)]:
        draw.rectangle((cx - w, cy - h, cx + w, cy + h), fill=colour)
    img.save(path, compress_level=1)


# ---------------------------------------------------------------------------------------------
# The measured child processes.

def _child(phase: str, folder: Path, cache: Path, image_size: int) -> dict:
    root = str(Path(__file__).resolve().parents[1])  # this checkout's package, from any folder
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.scalebench", phase, str(folder), str(cache), str(image_size)],
        env=env, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scale benchmark child ({phase}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _config(folder: Path, cache: Path, image_size: int):
    from pipeline.config import DataOptions, PipelineConfig, TrainOptions

    return PipelineConfig(data=DataOptions(data_dir=str(folder), image_size=image_size),
                          train=TrainOptions(batch_size=64), out_dir=str(cache.parent))


def _stage_data(folder: Path, cache: Path, image_size: int):
    """The pipeline's own data stage (`datastore.cached_dataset`): the folder as shards."""
    from pipeline.datastore import cached_dataset

    dataset, _ = cached_dataset(_config(folder, cache, image_size), StageCache(cache),
                                lambda message: None)
    return dataset


def _measure_data(folder: Path, cache: Path, image_size: int) -> dict:
    start = time.perf_counter()
    dataset = _stage_data(folder, cache, image_size)
    seconds = time.perf_counter() - start
    shards = dataset.x_train.stream.shards
    return {"seconds": seconds, "images_per_s": len(shards) / seconds, "reused": shards.reused,
            "stored": len(shards), "shards": len(shards.counts), **_rss()}


def _measure_train(folder: Path, cache: Path, image_size: int) -> dict:
    """One epoch over the training split as `invoke model` feeds it (`feed.fit_inputs`:
    streamed from the shards, augmented, validated on the streamed validation split), of a
    tiny CNN (the model's own cost is not what is measured)."""
    from pipeline._tf import keras
    from pipeline.feed import fit_inputs

    dataset = _stage_data(folder, cache, image_size)
    config = _config(folder, cache, image_size)
    inputs = fit_inputs(dataset, (127.5,) * 3, (127.5,) * 3, config.train, config.train.batch_size)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((image_size, image_size, 3)),
        layers.Conv2D(8, 3, strides=2, activation="relu"),
        layers.Conv2D(16, 3, strides=2, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(len(CLASSES), activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(inputs.train, steps_per_epoch=inputs.steps, epochs=1, verbose=0,
                        validation_data=inputs.validation)
    seconds = time.perf_counter() - start
    images = len(dataset.y_train) + len(dataset.y_val)
    return {"seconds": seconds, "images_per_s": images / seconds,
            "reused": dataset.x_train.stream.shards.reused,
            "accuracy": float(history.history["accuracy"][-1]),
            "peak_rss_mb": _rss()["peak_rss_mb"]}


def _rss() -> dict:
    """This process's peak RSS and its largest waited-for child's (the decoding pool)."""
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": _own_peak_mb(), "worker_rss_mb": workers}


def _own_peak_mb() -> float:
    """Peak RSS since this process started its program: /proc's VmHWM, which exec resets.
    (`ru_maxrss` survives exec, so a child started by a large process - `invoke benchmark`
    with TensorFlow loaded - would report its parent's size.) Elsewhere: `ru_maxrss`."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


if __name__ == "__main__":
    _phase, _folder, _cache, _size = sys.argv[1:5]
    _run = _measure_train if _phase == "train" else _measure_data
    print(json.dumps(_run(Path(_folder), Path(_cache), int(_size))))
