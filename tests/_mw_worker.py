"""One worker of the two-process MultiWorkerMirroredStrategy test (tests/test_distribute.py).

Run as `python tests/_mw_worker.py OUT CHECKPOINTS [STRATEGY]` (TF_CONFIG set for
multi-worker): trains, prunes and QAT-tunes a tiny model on fixed data and writes its weights,
kernel sparsity and the epochs each `fit` ran to OUT (.npz). With WORKER_DIE_AT_EPOCH=N the
process kills itself when epoch N of the training phase begins (after epoch N-1's checkpoint).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from pipeline.distribute import DistributedFit, kernel_sparsity, strategy_for, train_and_prune

SPARSITY = 0.5


def build():
    from pipeline._tf import keras

    return keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])


def _epochs_seen(seen: list):
    from pipeline._tf import keras

    die = int(os.environ.get("WORKER_DIE_AT_EPOCH", "-1"))

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(-1)  # a new fit (phase) begins

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == die and seen.count(-1) == 1:
                os._exit(3)
            seen.append(epoch)

    return Record()


def main(out: str, checkpoints: str, strategy_name: str = "multi-worker") -> None:
    strategy = strategy_for(strategy_name)  # first: before any other TensorFlow operation
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64) + (x[:, 0, 0, 0] > 1).astype(np.int64)
    options = DistributedFit(epochs=2, prune_epochs=2, qat_epochs=1, batch_size=8,
                             final_sparsity=SPARSITY)
    seen: list[int] = []
    result = train_and_prune(build, (x, y), options, strategy, Path(checkpoints),
                             callbacks=[_epochs_seen(seen)])
    weights = result.pruned.get_weights()
    np.savez(out, replicas=result.replicas, epochs=np.asarray(seen), global_batch=result.global_batch,
             sparsity=kernel_sparsity(result.pruned),
             **{f"w{i}": w for i, w in enumerate(weights)},
             **{f"b{i}": w for i, w in enumerate(result.baseline.get_weights())},
             **{f"q{i}": w for i, w in enumerate(result.qat.get_weights())})


if __name__ == "__main__":
    main(*sys.argv[1:])
