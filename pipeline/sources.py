"""The Keras models that variants are converted from, each trained once per content key.

Public entry points: `KerasSources` (the sources of one run, built lazily through the stage
cache), `SOURCES` (what each source is: its parent, the options that shape it, its builder),
`load_split` and `cached_keras_scores` (for readers of a built model folder).

  baseline  the float model (`pipeline.train.train_baseline`)
  pruned    magnitude pruning of the baseline (`pipeline.prune.prune_model`)
  qat       quantization-aware training of the baseline (`pipeline.recipes.qat_model`)
  pqat      pruning-preserving QAT of the pruned model (`pipeline.recipes.pqat_model`)
  sparse24  2:4 structured pruning of the baseline (`pipeline.recipes.sparse24_model`)

A source's cache key hashes its parent's key (down to the dataset's content key) with its own
options, so changing the prune options reuses the cached baseline.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline import recipes
from pipeline.architectures import get_spec
from pipeline.cache import StageCache, stage_key
from pipeline.config import PipelineConfig
from pipeline.data import Dataset
from pipeline.datastore import cached_dataset
from pipeline.distribute import Placement
from pipeline.fsutil import sha256_file
from pipeline.prune import prune_model
from pipeline.runlog import Timer
from pipeline.train import keras_predict, train_baseline


@dataclass(frozen=True)
class Source:
    """A Keras model that variants are converted from.

    Attributes:
      name: what `Variant.source` names.
      parent: the source it starts from (None for the float baseline).
      options: config -> the options that shape this source (part of its cache key).
      build: (parent model or None, dataset, config, verbose, placement) -> trained tf_keras
        model (built and fitted under the placement's strategy, with its checkpoints).
      load: folder -> the model saved as `model.h5` there (QAT models need tfmot's scope).
    """

    name: str
    parent: str | None
    options: Callable[[PipelineConfig], tuple]
    build: Callable
    load: Callable[[Path], object] | None = None


def _build_baseline(parent, dataset, c: PipelineConfig, verbose, placement):
    return train_baseline(dataset, c.model, c.train, verbose=verbose, placement=placement)


def _build_pruned(parent, dataset, c: PipelineConfig, verbose, placement):
    return prune_model(parent, dataset, c.model, c.prune, batch_size=c.train.batch_size,
                       seed=c.train.seed, verbose=verbose, train_options=c.train,
                       placement=placement)


def _baseline_options(c: PipelineConfig) -> tuple:
    """The model and training options, and the bytes of a local weights file (a file changed
    at the same path is another start, so another model). The strategy's name is left out:
    what it changes, the replicas, is part of every source's key (`KerasSources.key`)."""
    return (c.model, without_strategy(c.train), weights_digest(c.model.weights))


def without_strategy(train):
    """The training options with the strategy at its default, for keys: "auto" and "default"
    on one device train the same model."""
    return replace(train, strategy="auto")


def weights_digest(weights: str | None) -> str | None:
    """sha256 of a local weights file; None or the name itself for anything else."""
    if weights and Path(weights).expanduser().is_file():
        return sha256_file(Path(weights).expanduser())
    return weights


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("baseline", None, _baseline_options, _build_baseline),
    Source("pruned", "baseline", lambda c: (c.prune, c.train.batch_size, c.train.seed), _build_pruned),
    Source("qat", "baseline", recipes.qat_options, recipes.qat_model, recipes.load_quantized),
    Source("pqat", "pruned", recipes.qat_options, recipes.pqat_model, recipes.load_quantized),
    Source("sparse24", "baseline", recipes.sparse24_options, recipes.sparse24_model),
)}


class KerasSources:
    """The Keras sources of one run: each built once per content key, and only if needed."""

    def __init__(self, config: PipelineConfig, dataset: Dataset, cache: StageCache,
                 timer: Timer, data_key: str, verbose: int, placement: Placement | None = None):
        self.config, self.dataset, self.cache, self.timer = config, dataset, cache, timer
        self.data_key = data_key
        self.verbose = verbose
        self.placement = placement or Placement()
        self.models: dict[str, object] = {}
        self.reused: dict[str, bool] = {}
        self.scores: dict[str, np.ndarray] = {}

    def key(self, name: str) -> str:
        src = SOURCES[name]
        upstream = self.key(src.parent) if src.parent else self.data_key
        replicas = self.placement.replicas  # a global batch of several replicas: another model
        return stage_key(upstream, name, *src.options(self.config),
                         *([("replicas", replicas)] if replicas > 1 else []))

    def entry(self, name: str) -> Path:
        return self.cache.entry(f"keras-{name}", self.key(name))

    def is_cached(self, name: str) -> bool:
        return (self.entry(name) / ".complete").is_file()

    def get(self, name: str):
        """The trained Keras model `name` (from the cache, or built now with its parents)."""
        if name not in self.models:
            src = SOURCES[name]
            with self.timer(f"keras:{name}"):
                model, reused = self.cache.get_or_make(
                    f"keras-{name}", self.key(name), lambda d: self._make(src, d),
                    src.load or _load_keras,
                )
                if reused and self.timer.log is not None:
                    self.timer.log(f"    reused cached {name} model")
            self.models[name], self.reused[name] = model, reused
        return self.models[name]

    def checkpoints(self, name: str) -> Path | None:
        """The folder of source `name`'s training checkpoints (None: the run keeps none)."""
        root = self.placement.checkpoints
        return None if root is None else root / f"{name}-{self.key(name)}"

    def _make(self, src: Source, folder: Path) -> None:
        parent = self.get(src.parent) if src.parent else None
        checkpoints = self.checkpoints(src.name)
        placement = self.placement.within(checkpoints)
        model = src.build(parent, self.dataset, self.config, self.verbose, placement)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "HDF5 ... legacy": h5 is what tf_keras loads
            model.save(str(folder / "model.h5"))
        if self.cache.enabled:  # stored where a rerun finds it: the checkpoints are done
            self.drop_checkpoints(src.name)

    def drop_checkpoints(self, *names: str) -> None:
        """Remove the training checkpoints of sources `names` (all built ones when none): the
        chief's, once their models are stored; they belong to one dataset and set of options."""
        if not self.placement.chief:
            return
        for name in names or tuple(self.models):
            folder = self.checkpoints(name)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def test_scores(self, name: str) -> np.ndarray:
        """Scores of the Keras model `name` on the test split (computed once)."""
        if name not in self.scores:
            spec = get_spec(self.config.model.architecture)
            self.scores[name] = keras_predict(self.get(name), self.dataset.x_test, spec.mean, spec.std)
        return self.scores[name]

    def test_accuracy(self, name: str) -> float:
        return float(np.mean(self.test_scores(name).argmax(1) == self.dataset.y_test))


def _load_keras(d: Path):
    from pipeline._tf import keras

    return keras.models.load_model(str(d / "model.h5"), compile=False)


def run_sources(config: PipelineConfig, cache: StageCache, timer: Timer, verbose: int,
                log=None, placement: Placement | None = None) -> KerasSources:
    """Load the dataset (through the cache) and the lazily built sources of one run, trained
    under `placement` (default: one device, no checkpoints).

    Under several workers the trained models are not taken from the cache (each worker must
    train alike, and a worker's cache may hold what another's lacks); the data still is."""
    placement = placement or Placement()
    with timer("data"):
        dataset, key = cached_dataset(config, cache, log or timer.log or (lambda m: None))
    models = StageCache(cache.root, enabled=cache.enabled and not placement.multi_worker)
    return KerasSources(config, dataset, models, timer, key, verbose, placement)


def load_split(config: PipelineConfig, log=None) -> Dataset:
    """The dataset `config` describes, from the stage cache next to its models (or decoded)."""
    cache = StageCache(Path(config.out_dir) / ".cache")
    return cached_dataset(config, cache, log or (lambda msg: None))[0]


def cached_keras_scores(config: PipelineConfig, dataset: Dataset, source: str) -> np.ndarray | None:
    """Test-split scores of a Keras source if it is in the stage cache; None (never trains)."""
    cache = StageCache(Path(config.out_dir) / ".cache")
    sources = KerasSources(config, dataset, cache, Timer(None), dataset.fingerprint, verbose=0)
    return sources.test_scores(source) if sources.is_cached(source) else None
