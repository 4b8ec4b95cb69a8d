"""Training on `tf.distribute`: one GPU, all local GPUs, or several machines.

Public entry point: `placement_for(name, checkpoints)`: the `--strategy` choice (`train.strategy`)
as a `Placement`, which every training stage (`pipeline.train`, `pipeline.prune`,
`pipeline.recipes`) runs under: it builds and compiles its model inside `Placement.scope()`,
feeds global batches (`Placement.global_batch`) and keeps `Placement.backup(phase)` checkpoints.
`read_tf_config`, `is_chief` and `average_quantizer_ranges` are the helpers they share.

Strategies (`STRATEGIES`):

* `default`: TensorFlow's default strategy (one device: the first GPU, else the CPU).
* `mirrored`: `MirroredStrategy` over every local GPU (the CPU when there is none).
* `multi-worker`: `MultiWorkerMirroredStrategy`, the cluster read from the `TF_CONFIG`
  environment variable (`{"cluster": {"worker": ["host1:port", "host2:port"]},
  "task": {"type": "worker", "index": 0}}`); every machine runs the same command with its own
  `task.index`. TensorFlow requires this strategy to be created before any other TensorFlow
  operation of the process, so `placement_for` comes first, and a process creates it once.
* `auto`: `multi-worker` when `TF_CONFIG` names more than one worker, else `mirrored` when more
  than one GPU is visible, else `default`.

The configured batch size is per replica: the global batch is that times the replicas in sync
(`Placement.global_batch`), so each GPU keeps the batch it was tuned for. Pruning follows
tfmot's own distributed tests: the model is wrapped by `prune_low_magnitude` and compiled inside
`strategy.scope()`, and fitted with `UpdatePruningStep`. Checkpoints are Keras'
`BackupAndRestore`, one folder per phase: a worker killed mid-run is restarted with the same
command and resumes from the last finished epoch (on several machines every worker restarts, as
TensorFlow requires); a finished phase is kept, so a rerun does not train it again.

TensorFlow is imported inside the functions (from `pipeline._tf`), so importing this module,
checking a `TF_CONFIG` and the default placement cost nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from pipeline.config import STRATEGIES
from pipeline.errors import ConfigError, PipelineError

TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


class DistributeError(PipelineError):
    """The distributed set-up (strategy, TF_CONFIG, checkpoint folder) cannot be used."""


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
    if _several_workers(tf_config):
        return "multi-worker"
    return "mirrored" if gpus > 1 else "default"


def strategy_for(name: str = "auto", environ: Mapping[str, str] | None = None):
    """The `tf.distribute` strategy for a `--strategy` choice (see the module docstring)."""
    chosen = _chosen(name, read_tf_config(environ))  # TF_CONFIG checked before TensorFlow loads
    from pipeline._tf import tf

    if chosen == "default":
        return tf.distribute.get_strategy()
    if chosen == "mirrored":
        return tf.distribute.MirroredStrategy()
    if environ is not None and environ.get("TF_CONFIG") != os.environ.get("TF_CONFIG"):
        os.environ["TF_CONFIG"] = environ["TF_CONFIG"]  # TensorFlow reads the process's own
    return tf.distribute.MultiWorkerMirroredStrategy()


def _several_workers(tf_config: dict | None) -> bool:
    return tf_config is not None and len(tf_config["cluster"]["worker"]) > 1


def _chosen(name: str, tf_config: dict | None) -> str:
    """`resolve_strategy_name` on this machine: GPUs are counted (TensorFlow loaded) only when
    `auto` depends on them, never before a multi-worker strategy is created."""
    gpus = _visible_gpus() if name == "auto" and not _several_workers(tf_config) else 0
    return resolve_strategy_name(name, gpus, tf_config)


def _visible_gpus() -> int:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    from pipeline._tf import tf

    return len(tf.config.list_physical_devices("GPU"))


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
# Where the training runs.

_CREATED: dict[str, object] = {}  # a process creates each strategy once (multi-worker must)


@dataclass(frozen=True)
class Placement:
    """Where a training stage runs: the strategy, its checkpoint folder, and whether it writes.

    Attributes:
      name: the resolved strategy: default, mirrored or multi-worker.
      strategy: the `tf.distribute` strategy; None = TensorFlow's default one.
      checkpoints: the folder of this stage's `BackupAndRestore` checkpoints (one subfolder per
        phase); None = no checkpoints.
      chief: whether this process writes the results (the only one, or worker 0).
    """

    name: str = "default"
    strategy: object = None
    checkpoints: Path | None = None
    chief: bool = True

    @property
    def replicas(self) -> int:
        return int(getattr(self.strategy, "num_replicas_in_sync", 1))

    @property
    def distributed(self) -> bool:
        """Whether the strategy is other than TensorFlow's default one."""
        return self.name != "default"

    @property
    def multi_worker(self) -> bool:
        return self.name == "multi-worker"

    def scope(self):
        """Where models, their variables and optimizers must be created (and compiled)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def global_batch(self, batch_size: int) -> int:
        return global_batch_size(batch_size, self.strategy)

    def within(self, folder: Path | None) -> "Placement":
        """The same placement, keeping its checkpoints in `folder`."""
        return replace(self, checkpoints=None if folder is None else Path(folder))

    def backup(self, phase: str) -> list:
        """The Keras callbacks that checkpoint phase `phase` (none without a folder)."""
        if self.checkpoints is None:
            return []
        return [_backup(self.checkpoints / phase)]


def placement_for(name: str = "auto", checkpoints: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Placement:
    """The `Placement` of a `--strategy` choice; its checkpoints under `checkpoints`."""
    chosen = _chosen(name, read_tf_config(environ))
    if chosen == "default":
        strategy = None
    else:
        strategy = _CREATED.get(chosen) or strategy_for(chosen, environ)
        _CREATED[chosen] = strategy
    chief = chosen != "multi-worker" or is_chief(environ)  # one machine: it writes
    return Placement(chosen, strategy, None if checkpoints is None else Path(checkpoints), chief)


def average_quantizer_ranges(model, placement: "Placement") -> None:
    """Give every worker the mean of the workers' activation ranges.

    Gradients are all-reduced, but a quantizer's range is a moving average of the batches one
    worker saw (measured: the input layer's range differed between two workers), so without
    this each worker would hold a model of its own.
    """
    from pipeline._tf import tf

    ranges = [w for w in model.non_trainable_weights if w.dtype == tf.float32]
    strategy = placement.strategy
    if placement.replicas == 1 or not ranges:
        return

    @tf.function
    def mean():
        context = tf.distribute.get_replica_context()
        return [context.all_reduce(tf.distribute.ReduceOp.MEAN, w.read_value()) for w in ranges]

    values = strategy.run(mean)
    for weight, value in zip(ranges, values):
        weight.assign(strategy.experimental_local_results(value)[0])


def _backup(folder: Path):
    from pipeline._tf import keras

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DistributeError(f"checkpoint folder {folder} cannot be created ({exc.strerror})",
                              "make the model folder's parent (--out) writable; on several "
                              "machines keep it on a file system every worker can write") from None
    return keras.callbacks.BackupAndRestore(str(folder), delete_checkpoint=False)
