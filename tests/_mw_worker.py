"""One worker of the two-process MultiWorkerMirroredStrategy test (tests/test_distribute.py).

Run as `python tests/_mw_worker.py OUT_NPZ OUT_DIR DATA_DIR [STRATEGY]` (TF_CONFIG set for
multi-worker): trains the float baseline, prunes it and fine-tunes it quantization-aware with
the sparsity kept (PQAT), through the pipeline's own sources (`pipeline.sources`, the same code
as `invoke model`) under `--strategy STRATEGY`, and writes every model's weights, the pruned
kernel sparsity, the replicas, the global batch and the epochs each `fit` ran to OUT_NPZ. With
WORKER_DIE_AT_EPOCH=N the process kills itself when epoch N of the baseline's training begins
(after epoch N-1's checkpoint).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from pipeline.cache import StageCache
from pipeline.config import (ConvertOptions, DataOptions, PipelineConfig, PruneOptions,
                             TrainOptions)
from pipeline.distribute import placement_for
from pipeline.prune import keras_sparsity
from pipeline.runlog import Timer
from pipeline.sources import run_sources

SPARSITY = 0.5
PREFIXES = {"b": "baseline", "w": "pruned", "q": "pqat"}  # of each model's weights in OUT_NPZ


def config(data_dir: str, out_dir: str, strategy: str) -> PipelineConfig:
    return PipelineConfig(
        data=DataOptions(data_dir=data_dir, image_size=12),
        train=TrainOptions(epochs=2, batch_size=8, patience=0, warmup_epochs=0, strategy=strategy),
        prune=PruneOptions(epochs=2, min_steps=0, final_sparsity=SPARSITY, min_weights=0),
        convert=ConvertOptions(qat_epochs=1), out_dir=out_dir)


def _record(seen: list):
    """A callback noting each fit's start (-1) and epochs; it kills the process on request."""
    from pipeline._tf import keras

    die = int(os.environ.get("WORKER_DIE_AT_EPOCH", "-1"))

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(-1)

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == die and seen.count(-1) == 1:
                os._exit(3)
            seen.append(epoch)

    return Record()


def main(out: str, out_dir: str, data_dir: str, strategy: str = "multi-worker") -> None:
    cfg = config(data_dir, out_dir, strategy)
    placement = placement_for(strategy, Path(out_dir) / ".cache" / "checkpoints")  # first
    seen: list[int] = []
    from pipeline import train

    fit = train.fit  # every phase's fit (train, prune, qat) records its epochs

    def recording_fit(*args, callbacks=(), **kwargs):
        return fit(*args, callbacks=[*callbacks, _record(seen)], **kwargs)

    for module in ("pipeline.train", "pipeline.prune", "pipeline.recipes"):
        sys.modules[module].fit = recording_fit
    sources = run_sources(cfg, StageCache(Path(out_dir) / ".cache"), Timer(None), 0,
                          placement=placement)
    models = {prefix: sources.get(name) for prefix, name in PREFIXES.items()}
    np.savez(out, replicas=placement.replicas, global_batch=placement.global_batch(8),
             chief=placement.chief, epochs=np.asarray(seen),
             sparsity=keras_sparsity(models["w"])["overall"],
             checkpoints_left=len(list((Path(out_dir) / ".cache" / "checkpoints").glob("*"))),
             **{f"{prefix}{i}": w for prefix, model in models.items()
                for i, w in enumerate(model.get_weights())})


if __name__ == "__main__":
    import pipeline.prune  # noqa: F401  (loaded, so that its `fit` can be wrapped)
    import pipeline.recipes  # noqa: F401

    main(*sys.argv[1:])
