"""Training on `tf.distribute`: one GPU, all local GPUs, or several machines.

Public entry points: `strategy_for(name)` (the `--strategy` choice as a TensorFlow strategy) and
`train_and_prune(build, data, options, strategy, checkpoint_dir)` (fit a Keras model, then
fine-tune it under magnitude pruning, under that strategy, resumable after a kill).
`global_batch_size` and `read_tf_config` are the helpers both use.

Strategies (`STRATEGIES`):

* `default`: TensorFlow's default strategy (one device: the first GPU, else the CPU).
* `mirrored`: `MirroredStrategy` over every local GPU (the CPU when there is none).
* `multi-worker`: `MultiWorkerMirroredStrategy`, the cluster read from the `TF_CONFIG`
  environment variable (`{"cluster": {"worker": ["host1:port", "host2:port"]},
  "task": {"type": "worker", "index": 0}}`); every machine runs the same command with its own
  `task.index`. TensorFlow requires this strategy to be created before any other TensorFlow
  operation of the process, so call `strategy_for` first.
* `auto`: `multi-worker` when `TF_CONFIG` names more than one worker, else `mirrored` when more
  than one GPU is visible, else `default`.

The configured batch size is per replica: the global batch is that times the replicas in sync
(`global_batch_size`), so each GPU keeps the batch it was tuned for. Pruning follows
tfmot's own distributed tests: the model is wrapped by `prune_low_magnitude` and compiled inside
`strategy.scope()`, and fitted with `UpdatePruningStep`. Checkpoints are Keras'
`BackupAndRestore`: a worker killed mid-run is restarted with the same command and resumes from
the last finished epoch (on several machines every worker restarts, as TensorFlow requires).

TensorFlow is imported inside the functions (from `pipeline._tf`), so importing this module and
checking a `TF_CONFIG` cost nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from pipeline.errors import ConfigError, PipelineError

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")
TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


class DistributeError(PipelineError):
    """The distributed set-up (strategy, TF_CONFIG, checkpoint folder) cannot be used."""


@dataclass(frozen=True)
class DistributedFit:
    """What `train_and_prune` does.

    Attributes:
      epochs: epochs of plain training.
      prune_epochs: epochs of fine-tuning under magnitude pruning (0 = no pruning phase).
      batch_size: images per replica per step (the global batch is this times the replicas).
      learning_rate: Adam's learning rate, in both phases.
      final_sparsity: the kernels' zero fraction reached at the end of the pruning phase.
      qat_epochs: epochs of quantization-aware training: of the pruned model, preserving its
        sparsity (PQAT), or of the trained one without a pruning phase; 0 = none.
      seed: seeds Keras (weights, shuffling) on every worker alike.
      steps_per_epoch: steps of an epoch; None = the training images / the global batch.
    """

    epochs: int = 2
    prune_epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-3
    final_sparsity: float = 0.5
    qat_epochs: int = 0
    seed: int = 42
    steps_per_epoch: int | None = None

    def __post_init__(self):
        for name in ("epochs", "prune_epochs", "qat_epochs", "batch_size"):
            value = getattr(self, name)
            lowest = 0 if name in ("prune_epochs", "qat_epochs") else 1
            if not isinstance(value, int) or value < lowest:
                raise ConfigError(f"DistributedFit.{name} must be an integer >= {lowest}, got {value!r}")
        if not 0.0 <= self.final_sparsity < 1.0:
            raise ConfigError(f"DistributedFit.final_sparsity must be in [0, 1), got {self.final_sparsity!r}")


# ---------------------------------------------------------------------------------------------
# Choosing the strategy.

def read_tf_config(environ: Mapping[str, str] | None = None) -> dict | None:
    """The parsed and checked `TF_CONFIG`, or None when it is not set."""
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    fix = f"set it as one JSON object, e.g. {TF_CONFIG_EXAMPLE}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({exc.msg} at character {exc.pos})", fix) from None
    workers = doc.get("cluster", {}).get("worker") if isinstance(doc, dict) and isinstance(
        doc.get("cluster"), dict) else None
    if not isinstance(workers, list) or not workers or not all(_is_address(w) for w in workers):
        raise DistributeError("TF_CONFIG has no cluster.worker list of \"host:port\" addresses", fix)
    task = doc.get("task")
    if not isinstance(task, dict) or task.get("type") not in ("worker", "chief"):
        raise DistributeError('TF_CONFIG has no task of type "worker" (or "chief")', fix)
    index = task.get("index")
    if task["type"] == "worker" and (not isinstance(index, int) or not 0 <= index < len(workers)):
        raise DistributeError(
            f"TF_CONFIG task.index is {index!r}, not an index into its {len(workers)} worker(s)",
            f"give each machine its own index 0..{len(workers) - 1}; {fix}")
    return doc


def _is_address(value) -> bool:
    if not isinstance(value, str) or ":" not in value:
        return False
    host, _, port = value.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def resolve_strategy_name(name: str, gpus: int, tf_config: dict | None) -> str:
    """The strategy `name` means on a machine with `gpus` GPUs and this `TF_CONFIG` (no TF)."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}", f"use one of: {', '.join(STRATEGIES)}")
    if name == "multi-worker" and tf_config is None:
        raise DistributeError(
            "--strategy multi-worker needs the cluster in the TF_CONFIG environment variable, "
            "which is not set", f"set it on every machine, e.g. {TF_CONFIG_EXAMPLE} (index 1 "
                                "on the second machine)")
    if name != "auto":
        return name
    if tf_config is not None and len(tf_config["cluster"]["worker"]) > 1:
        return "multi-worker"
    return "mirrored" if gpus > 1 else "default"


def strategy_for(name: str = "auto", environ: Mapping[str, str] | None = None):
    """The `tf.distribute` strategy for a `--strategy` choice (see the module docstring)."""
    tf_config = read_tf_config(environ)  # checked before TensorFlow loads
    if name not in STRATEGIES:
        resolve_strategy_name(name, 0, tf_config)
    from pipeline._tf import tf

    gpus = len(tf.config.list_physical_devices("GPU")) if name == "auto" else 0
    chosen = resolve_strategy_name(name, gpus, tf_config)
    if chosen == "default":
        return tf.distribute.get_strategy()
    if chosen == "mirrored":
        return tf.distribute.MirroredStrategy()
    if environ is not None and environ.get("TF_CONFIG") != os.environ.get("TF_CONFIG"):
        os.environ["TF_CONFIG"] = environ["TF_CONFIG"]  # TensorFlow reads the process's own
    return tf.distribute.MultiWorkerMirroredStrategy()


def global_batch_size(batch_size: int, strategy) -> int:
    """The global batch for a per-replica `batch_size`: times the replicas kept in sync."""
    return int(batch_size) * int(getattr(strategy, "num_replicas_in_sync", 1))


def is_chief(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process writes the results: the only one, a chief, or worker 0."""
    doc = read_tf_config(environ)
    if doc is None:
        return True
    task = doc["task"]
    return task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0
                                       and "chief" not in doc["cluster"])


# ---------------------------------------------------------------------------------------------
# Training and pruning under a strategy.

@dataclass(frozen=True)
class DistributedResult:
    """`baseline`: the trained model; `pruned`: its pruned fine-tune, stripped of the pruning
    wrappers (None without a pruning phase); `qat`: the quantization-aware fine-tune of the
    pruned model (sparsity kept) or of the baseline, for the TFLite converter (None without a
    QAT phase);
    `replicas`: replicas kept in sync; `global_batch`: images per step over all replicas."""

    baseline: object
    pruned: object | None
    qat: object | None
    replicas: int
    global_batch: int


def train_and_prune(build: Callable[[], object], data, options: DistributedFit, strategy,
                    checkpoint_dir: Path, verbose: int = 0, callbacks=(), validation=None,
                    train_callbacks=()) -> DistributedResult:
    """Fit `build()` on `data` under `strategy`, then fine-tune a clone under magnitude pruning
    (and, with `options.qat_epochs`, a quantization-aware clone of that).

    `build` returns an uncompiled tf_keras model with a softmax output; it is called inside
    `strategy.scope()`. `data` is `(x, y)` arrays (x already normalized) or a `tf.data.Dataset`
    of unbatched `(x, y)` pairs (of known cardinality, or give `options.steps_per_epoch`); it is
    repeated and batched with the global batch here. `checkpoint_dir` keeps each phase's
    `BackupAndRestore` state: running the same call again after a kill resumes from the last
    finished epoch; the finished training phase is kept, so a rerun goes straight to pruning.
    Remove the folder once the result is stored (it belongs to this data and these options).
    `callbacks` (Keras callbacks: progress, logging) join every phase's `fit`;
    `train_callbacks` only the training phase's (e.g. `EarlyStopping(monitor="val_accuracy",
    restore_best_weights=True)`). `validation` ((x, y) arrays, or a batched `tf.data.Dataset`)
    is every phase's `validation_data`.
    """
    from pipeline._tf import keras, tfmot

    keras.utils.set_random_seed(options.seed)
    dataset, steps = _batches(data, options, strategy)
    fit = _Fit(dataset, steps, Path(checkpoint_dir), verbose, tuple(callbacks), validation)
    with strategy.scope():
        model = build()
        _compile(model, options.learning_rate)
    fit(model, options.epochs, "train", *train_callbacks, keep=True)
    pruned = qat = None
    if options.prune_epochs:
        with strategy.scope():
            wrapped = tfmot.sparsity.keras.prune_low_magnitude(
                _clone(model), pruning_schedule=_schedule(options, steps))
            _compile(wrapped, options.learning_rate)
        fit(wrapped, options.prune_epochs, "prune", tfmot.sparsity.keras.UpdatePruningStep())
        with strategy.scope():
            pruned = tfmot.sparsity.keras.strip_pruning(wrapped)
            _compile(pruned, options.learning_rate)
    if options.qat_epochs:
        with strategy.scope():
            qat = _quantize_aware(pruned, model)
            _compile(qat, options.learning_rate)
        fit(qat, options.qat_epochs, "qat")
        _average_ranges(qat, strategy)
    return DistributedResult(model, pruned, qat, strategy.num_replicas_in_sync,
                             global_batch_size(options.batch_size, strategy))


@dataclass(frozen=True)
class _Fit:
    """One phase's `fit`: the shared dataset and steps, and the phase's own checkpoints."""

    dataset: object
    steps: int
    checkpoint_dir: Path
    verbose: int
    callbacks: tuple
    validation: object = None

    def __call__(self, model, epochs: int, phase: str, *callbacks, keep: bool = False) -> None:
        backup = _backup(self.checkpoint_dir / phase, delete=not keep)
        model.fit(self.dataset, epochs=epochs, steps_per_epoch=self.steps, verbose=self.verbose,
                  validation_data=self.validation, callbacks=[*callbacks, backup, *self.callbacks])


def _batches(data, options: DistributedFit, strategy):
    """The repeated, globally batched, prefetched dataset and the steps of one epoch."""
    from pipeline._tf import tf

    if isinstance(data, tuple):
        x, y = data
        count = len(x)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
            count, seed=options.seed, reshuffle_each_iteration=True)
    else:
        dataset = data
        count = int(dataset.cardinality())
    batch = global_batch_size(options.batch_size, strategy)
    steps = options.steps_per_epoch or (math.ceil(count / batch) if count > 0 else None)
    if steps is None:
        raise DistributeError("the training dataset's length is unknown",
                              "pass DistributedFit(steps_per_epoch=...) (images / global batch)")
    tf_options = tf.data.Options()
    tf_options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.repeat().batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(tf_options), steps


def _schedule(options: DistributedFit, steps: int):
    """Sparsity from 0 to the target, the last mask update at the pruning phase's last step."""
    from pipeline._tf import tfmot

    last = max(1, options.prune_epochs * steps - 1)
    frequency = max(1, last // 10)
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=options.final_sparsity, begin_step=0,
        end_step=(last // frequency) * frequency, frequency=frequency)


def _quantize_aware(pruned, baseline):
    """QAT of the baseline, or sparsity-preserving QAT (PQAT) of the pruned model."""
    from pipeline._tf import tfmot

    quant = tfmot.quantization.keras
    if pruned is None:
        return quant.quantize_model(_clone(baseline))
    return quant.quantize_apply(quant.quantize_annotate_model(_clone(pruned)),
                                tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())


def _average_ranges(model, strategy) -> None:
    """Give every worker the mean of the workers' activation ranges.

    Gradients are all-reduced, but a quantizer's range is a moving average of the batches one
    worker saw (measured: the input layer's range differed between two workers), so without
    this each worker would hold a model of its own.
    """
    from pipeline._tf import tf

    ranges = [w for w in model.non_trainable_weights if w.dtype == tf.float32]
    if strategy.num_replicas_in_sync == 1 or not ranges:
        return

    @tf.function
    def mean():
        context = tf.distribute.get_replica_context()
        return [context.all_reduce(tf.distribute.ReduceOp.MEAN, w.read_value()) for w in ranges]

    values = strategy.run(mean)
    for weight, value in zip(ranges, values):
        weight.assign(strategy.experimental_local_results(value)[0])


def _compile(model, learning_rate: float) -> None:
    from pipeline._tf import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _clone(model):
    from pipeline._tf import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _backup(folder: Path, delete: bool):
    from pipeline._tf import keras

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DistributeError(f"checkpoint folder {folder} cannot be created ({exc.strerror})",
                              "choose a writable folder (on several machines: one per machine "
                              "or a shared one)") from None
    return keras.callbacks.BackupAndRestore(str(folder), delete_checkpoint=delete)


def kernel_sparsity(model) -> float:
    """The zero fraction of all kernels of a Keras model (biases left out)."""
    zeros = total = 0
    for weight in model.weights:
        if weight.name.split("/")[-1].split(":")[0] == "kernel":
            arr = np.asarray(weight.numpy())
            zeros += int(np.sum(arr == 0))
            total += arr.size
    return zeros / total if total else 0.0
