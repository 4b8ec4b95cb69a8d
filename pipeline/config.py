"""Options for every stage, as frozen dataclasses composed into one `PipelineConfig`.

Resolution order: CLI override > config file (`pipeline.toml`) > default. Every field is
validated when the dataclass is built, with a message giving the allowed range and the value.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from pipeline.architectures import ARCHITECTURES
from pipeline.errors import ConfigError
from pipeline.variants import known_variants

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


SEED_MAX = 2**32 - 1  # numpy's and TensorFlow's seeds are unsigned 32-bit


def _check_range(owner: str, name: str, value, lo=None, hi=None, lo_open=False, hi_open=False):
    _check_number(owner, name, value)
    bad = (
        (lo is not None and (value <= lo if lo_open else value < lo))
        or (hi is not None and (value >= hi if hi_open else value > hi))
    )
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise ConfigError(
            f"{owner}.{name} = {value!r} is out of range {rng}",
            f"set {owner}.{name} to a value in {rng} (CLI option or pipeline.toml)",
        )


def _check_number(owner: str, name: str, value) -> None:
    """A real, finite number: NaN passes every comparison, so ranges alone cannot catch it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{owner}.{name} = {value!r} is not a number",
                          f"give {owner}.{name} a number (CLI option or pipeline.toml)")
    if not math.isfinite(value):
        raise ConfigError(f"{owner}.{name} = {value!r} is not a finite number",
                          f"give {owner}.{name} a finite number (CLI option or pipeline.toml)")


@dataclass(frozen=True)
class DataOptions:
    """Where the images come from and how they are split.

    Attributes:
      data_dir: an image folder with one subfolder per class; None = the embedded digits set.
      image_size: side of the square model input in pixels; 0 = the architecture's default.
      val_fraction: share of each class held out for validation during training.
      test_fraction: share of each class held out for the final test (never trained on).
      seed: seed of the deterministic, stratified split.
    """

    data_dir: str | None = None
    image_size: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    seed: int = 42

    def __post_init__(self):
        _check_range("data", "seed", self.seed, 0, SEED_MAX)
        _check_range("data", "image_size", self.image_size, 0, 1024)
        if 0 < self.image_size < 8:
            _check_range("data", "image_size", self.image_size, 8, 1024)
        _check_range("data", "val_fraction", self.val_fraction, 0.0, 0.5, lo_open=True)
        _check_range("data", "test_fraction", self.test_fraction, 0.0, 0.5, lo_open=True)


@dataclass(frozen=True)
class ModelOptions:
    """Which network to train.

    Attributes:
      architecture: a name from `pipeline.architectures.ARCHITECTURES` (cnn, mobilenet_v2,
        mobilenet_v3_small, mobilenet_v3_large and their _minimalistic variants).
      weights: None (random initialisation), "imagenet" (Keras's pretrained backbone, from the
        Keras cache ~/.keras/models/ or downloaded once by keras.applications; MobileNet
        architectures only), or the path of a local Keras .h5 weights file.
      width: width multiplier (alpha) of MobileNet-class models; 0 = the architecture's default
        (mobilenet_v2 0.35, mobilenet_v3_* 1.0).
    """

    architecture: str = "cnn"
    weights: str | None = None
    width: float = 0.0

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"model.architecture = {self.architecture!r} is not a known architecture",
                f"use one of: {', '.join(sorted(ARCHITECTURES))}",
            )
        _check_range("model", "width", self.width, 0.0, 2.0)


AUGMENT_PRESETS = ("none", "light", "strong")
STRATEGIES = ("auto", "default", "mirrored", "multi-worker")  # pipeline.distribute's choices
LR_SCHEDULES = ("cosine", "plateau", "constant")
CLASS_WEIGHTS = ("auto", "balanced", "none")


@dataclass(frozen=True)
class TrainOptions:
    """Training of the float baseline (the recipe; pipeline.train documents each part).

    Attributes:
      epochs: the most passes over the training split (early stopping usually ends sooner).
      batch_size: images per step.
      learning_rate: peak Adam learning rate (reached after the warm-up).
      seed: seed for weights initialisation, shuffling and augmentation.
      augment: augmentation preset, "none", "light" or "strong" (random shifts, rotations,
        zoom, brightness, contrast, colour and noise; applied to training batches only).
      flip: also flip training images horizontally (off: flipping text or digits changes the class).
      patience: stop after this many epochs without a better validation loss, and restore the
        best epoch's weights; 0 = run every epoch and keep the last.
      lr_schedule: "cosine" (warm-up then cosine decay over `epochs`), "plateau" (warm-up then
        halve when the validation loss stalls) or "constant".
      warmup_epochs: epochs of linear learning-rate warm-up.
      label_smoothing: weight moved from the true class to the others in the loss (0 = off).
      class_weights: "auto" (balanced when the largest training class is over 1.5x the
        smallest), "balanced" (always) or "none".
      fine_tune_epochs: with pretrained weights ("imagenet"): epochs of fine-tuning the top of
        the backbone after the head has been trained on the frozen backbone.
      fine_tune_layers: with pretrained weights: how many of the backbone's last layers are
        unfrozen for fine-tuning (its BatchNorm layers stay in inference mode).
      fine_tune_learning_rate: Adam learning rate of that fine-tuning.
      strategy: where training runs (`pipeline.distribute`, docs/SCALING.md): "auto" (several
        machines when TF_CONFIG names them, else all local GPUs when there are several, else
        one device), "default" (one device), "mirrored" (every local GPU) or "multi-worker"
        (the machines TF_CONFIG names). `batch_size` is per replica.
    """

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    seed: int = 42
    augment: str = "light"
    flip: bool = False
    patience: int = 8
    lr_schedule: str = "cosine"
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    class_weights: str = "auto"
    fine_tune_epochs: int = 10
    fine_tune_layers: int = 30
    fine_tune_learning_rate: float = 1e-4
    strategy: str = "auto"

    def __post_init__(self):
        _check_range("train", "seed", self.seed, 0, SEED_MAX)
        _check_range("train", "epochs", self.epochs, 0, 10_000, lo_open=True)
        _check_range("train", "batch_size", self.batch_size, 1, 4096)
        _check_range("train", "learning_rate", self.learning_rate, 0.0, 1.0, lo_open=True)
        for name, allowed in (("augment", AUGMENT_PRESETS), ("lr_schedule", LR_SCHEDULES),
                              ("class_weights", CLASS_WEIGHTS), ("strategy", STRATEGIES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"train.{name} = {getattr(self, name)!r} is not one of "
                                  f"{', '.join(allowed)}", f"set train.{name} to one of them")
        _check_range("train", "patience", self.patience, 0, 10_000)
        _check_range("train", "warmup_epochs", self.warmup_epochs, 0, 10_000)
        _check_range("train", "label_smoothing", self.label_smoothing, 0.0, 1.0, hi_open=True)
        _check_range("train", "fine_tune_epochs", self.fine_tune_epochs, 0, 10_000)
        _check_range("train", "fine_tune_layers", self.fine_tune_layers, 0, 100_000)
        _check_range("train", "fine_tune_learning_rate", self.fine_tune_learning_rate, 0.0, 1.0,
                     lo_open=True)


@dataclass(frozen=True)
class PruneOptions:
    """Magnitude pruning (tfmot `prune_low_magnitude`, PolynomialDecay schedule).

    Attributes:
      initial_sparsity: sparsity when pruning starts.
      final_sparsity: target fraction of zero weights at the end (and in the shipped model).
      epochs: fine-tuning epochs while pruning (more when they would be under min_steps steps).
      min_steps: fewest fine-tuning steps (batches): a small dataset gets more epochs.
      learning_rate: Adam learning rate while pruning.
      frequency: steps between pruning updates; 0 = about ten updates over the schedule.
      min_weights: layers with fewer kernel weights than this stay dense (the first
        convolution, depthwise filters, a small classifier): pruning them costs the most
        accuracy for the fewest bytes.
      ramp_fraction: share of the fine-tuning over which sparsity rises to final_sparsity; the
        rest fine-tunes at the final sparsity, so the shipped weights have recovered from the
        last pruning step.
      m_by_n: structured sparsity, e.g. (2, 4) for 2:4; None = unstructured.
    """

    initial_sparsity: float = 0.5
    final_sparsity: float = 0.85
    epochs: int = 10
    min_steps: int = 300
    learning_rate: float = 5e-4
    frequency: int = 0
    m_by_n: tuple[int, int] | None = None
    min_weights: int = 2048
    ramp_fraction: float = 0.7

    def __post_init__(self):
        _check_range("prune", "initial_sparsity", self.initial_sparsity, 0.0, 1.0, hi_open=True)
        _check_range("prune", "final_sparsity", self.final_sparsity, 0.0, 1.0, hi_open=True)
        if self.initial_sparsity > self.final_sparsity:
            raise ConfigError(
                f"prune.initial_sparsity ({self.initial_sparsity}) is above prune.final_sparsity "
                f"({self.final_sparsity})",
                "make initial_sparsity <= final_sparsity",
            )
        _check_range("prune", "epochs", self.epochs, 0, 10_000, lo_open=True)
        _check_range("prune", "learning_rate", self.learning_rate, 0.0, 1.0, lo_open=True)
        _check_range("prune", "frequency", self.frequency, 0, 1_000_000)
        _check_range("prune", "min_steps", self.min_steps, 0, 10_000_000)
        _check_range("prune", "min_weights", self.min_weights, 0, 100_000_000)
        _check_range("prune", "ramp_fraction", self.ramp_fraction, 0.0, 1.0, lo_open=True)
        if self.m_by_n is not None:
            if len(self.m_by_n) != 2:
                raise ConfigError(f"prune.m_by_n = {self.m_by_n!r} is not a valid M:N pattern",
                                  "use two integers with 0 < M < N, e.g. [2, 4]")
            m, n = self.m_by_n
            if not (0 < m < n):
                raise ConfigError(
                    f"prune.m_by_n = {self.m_by_n!r} is not a valid M:N pattern",
                    "use two integers with 0 < M < N, e.g. [2, 4]",
                )


VARIANTS = (
    "float32",
    "dynamic",
    "float16",
    "int8",
    "pruned_float32",
    "pruned_int8",
)


@dataclass(frozen=True)
class ConvertOptions:
    """TFLite conversion.

    Attributes:
      variants: which variants to convert; the deployable one is always included.
      deployable: the variant shipped as `model.tflite` (full int8, uint8 input and output).
      representative_samples: training images used to calibrate int8 ranges.
      qat_epochs: quantization-aware fine-tuning epochs (the qat_int8 and pqat_int8 variants).
      qat_learning_rate: Adam learning rate of quantization-aware fine-tuning.
    """

    variants: tuple[str, ...] = VARIANTS
    deployable: str = "pruned_int8"
    representative_samples: int = 200
    qat_epochs: int = 3
    qat_learning_rate: float = 5e-4

    def __post_init__(self):
        known = known_variants()
        for v in (*self.variants, self.deployable):
            if v not in known:
                raise ConfigError(
                    f"convert variant {v!r} is unknown", f"use one of: {', '.join(known)}"
                )
        _check_range("convert", "representative_samples", self.representative_samples, 1, 100_000)
        _check_range("convert", "qat_epochs", self.qat_epochs, 0, 10_000, lo_open=True)
        _check_range("convert", "qat_learning_rate", self.qat_learning_rate, 0.0, 1.0, lo_open=True)


@dataclass(frozen=True)
class MetadataOptions:
    """What the .tflite metadata says about the model (ML Kit and the app read it).

    Attributes:
      description: one line on what the model does; empty = generated from the classes.
      version: model version string.
      author: who made the model.
      license: licence of the model.
    """

    description: str = ""
    version: str = "1.0.0"
    author: str = "pipeline"
    license: str = "Apache-2.0"


@dataclass(frozen=True)
class ValidateOptions:
    """Interpreter validation and the gates the deployable model must pass.

    Attributes:
      latency_runs: timed single-image invocations per variant and thread count.
      threads: interpreter thread counts to time.
      max_accuracy_drop: largest allowed drop, deployable vs float32 Keras (0.01 = 1 point).
      min_agreement: smallest allowed top-1 agreement of the deployable model with its Keras source.
      mediapipe: cross-check the deployable and float32 models with MediaPipe's ImageClassifier.
      fallback_candidates: when the deployable model misses a gate, how many other candidates
        to try before giving up (`pipeline.candidates`: pruning-preserving QAT, then lower
        sparsity); 0 = none, fail at once.
    """

    latency_runs: int = 50
    threads: tuple[int, ...] = (1, 2)
    max_accuracy_drop: float = 0.01
    min_agreement: float = 0.98
    mediapipe: bool = True
    fallback_candidates: int = 3

    def __post_init__(self):
        _check_range("validate", "latency_runs", self.latency_runs, 1, 100_000)
        _check_range("validate", "max_accuracy_drop", self.max_accuracy_drop, 0.0, 1.0)
        _check_range("validate", "min_agreement", self.min_agreement, 0.0, 1.0)
        _check_range("validate", "fallback_candidates", self.fallback_candidates, 0, 10)
        for t in self.threads:
            _check_range("validate", "threads", t, 1, 256)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything `invoke model` needs; `name` names the output folder models/<name>/."""

    name: str = "digits"
    out_dir: str = "models"
    data: DataOptions = field(default_factory=DataOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    prune: PruneOptions = field(default_factory=PruneOptions)
    convert: ConvertOptions = field(default_factory=ConvertOptions)
    metadata: MetadataOptions = field(default_factory=MetadataOptions)
    validate: ValidateOptions = field(default_factory=ValidateOptions)

    def __post_init__(self):
        if not isinstance(self.out_dir, (str, Path)):
            raise ConfigError(f"out_dir = {self.out_dir!r} is not a folder path",
                              'give out_dir a path in quotes, e.g. out_dir = "models"')
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise ConfigError(
                f"name = {self.name!r} cannot name a model folder",
                "use letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit)",
            )

    @property
    def model_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    @classmethod
    def default(cls) -> "PipelineConfig":
        return cls()

    @classmethod
    def quick(cls, **top) -> "PipelineConfig":
        """Tiny epochs, few latency runs, a looser accuracy gate: smoke runs, not for shipping."""
        return cls(**top).quickened()

    def quickened(self) -> "PipelineConfig":
        """This config with the smoke-run settings of `quick()` over it (file and CLI included)."""
        return replace(
            self,
            train=replace(self.train, epochs=4, fine_tune_epochs=2),
            prune=replace(self.prune, epochs=3, min_steps=0),
            convert=replace(self.convert, qat_epochs=1),
            validate=replace(self.validate, latency_runs=5, max_accuracy_drop=0.05,
                             min_agreement=0.95),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {f.name: f for f in fields(PipelineConfig) if dataclasses.is_dataclass(f.default_factory)}


def _coerce(section: str, key: str, value, target_type: str):
    """Turn TOML/CLI values into the field's type (tuples from lists, None from ''); a value of
    another type (`name = 5`, a list where a number is wanted) is a ConfigError naming the key."""
    t = target_type.replace(" ", "")
    where = f"{section}.{key}" if key else section
    if value is None:
        return None
    if t.startswith("tuple"):
        return _coerce_tuple(where, value, int if "tuple[int" in t else str)
    for name, typ in (("int", int), ("float", float)):
        if t.startswith(name):
            return _coerce_number(where, value, typ)
    if t.startswith("bool"):
        return _coerce_bool(where, value)
    if t.startswith("str"):
        if value == "" and "None" in t:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{where} = {value!r} is not text",
                              f'give {where} a string in quotes, e.g. {key or section} = "..."')
    return value


def _coerce_number(where: str, value, typ: type):
    kind = "whole number" if typ is int else "number"
    if isinstance(value, str):
        try:
            value = typ(value.strip())
        except ValueError:
            raise ConfigError(f"{where} = {value!r} is not a number", f"give {where} a {kind}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{where} = {value!r} is not a number", f"give {where} a {kind}")
    if typ is int and not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            raise ConfigError(f"{where} = {value!r} is not a whole number", f"give {where} a {kind}")
        return int(value)
    return typ(value)


def _coerce_tuple(where: str, value, inner: type) -> tuple:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} = {value!r} is not a list",
                          "give a list ([1, 2] in TOML) or a comma-separated value on the command line")
    if inner is int:
        return tuple(_coerce_number(where, v, int) for v in value)
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{where} has {bad[0]!r}, which is not text",
                          f'give {where} a list of strings, e.g. ["a", "b"]')
    return tuple(value)


def _coerce_bool(where: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
    raise ConfigError(f"{where} = {value!r} is not a boolean", "use true or false")


def _apply(cfg: PipelineConfig, updates: Mapping[str, Any], origin: str,
           flags: Mapping[str, str] | None = None) -> PipelineConfig:
    top: dict[str, Any] = {}
    per_section: dict[str, dict[str, Any]] = {}
    for dotted, value in updates.items():
        if value is None and origin == "command line":
            continue
        section, _, key = dotted.partition(".")
        if not key:
            _check_top_key(section, value, origin)
            try:
                top[section] = _coerce(section, "", value, "str")
            except ConfigError as exc:
                raise _where(exc, origin, flags) from None
            continue
        if section not in _SECTIONS:
            raise ConfigError(f"unknown section [{section}] in {origin}",
                              _known_options_hint(section, list(_SECTIONS)))
        cls = _SECTIONS[section].default_factory
        types = {f.name: f.type for f in fields(cls)}
        if key not in types:
            raise ConfigError(f"unknown option {dotted!r} in {origin}", _known_options_hint(dotted))
        try:
            per_section.setdefault(section, {})[key] = _coerce(section, key, value, str(types[key]))
        except ConfigError as exc:
            raise _where(exc, origin, flags) from None
    try:
        changes = {s: replace(getattr(cfg, s), **kv) for s, kv in per_section.items()}
        return replace(cfg, **top, **changes)
    except ConfigError as exc:
        raise _where(exc, origin, flags) from None


def _check_top_key(key: str, value, origin: str) -> None:
    if key in ("name", "out_dir"):
        return
    if key in _SECTIONS:
        raise ConfigError(f"{key} = {value!r} in {origin} is not a table",
                          f"write the {key} options under a [{key}] header, one `option = value` a line")
    raise ConfigError(f"unknown option {key!r} in {origin}", _known_options_hint(key))


def _where(exc: ConfigError, origin: str, flags: Mapping[str, str] | None) -> ConfigError:
    """The same error, saying where the bad value came from (the CLI flag, or the file)."""
    problem = exc.problem
    for dotted, flag in (flags or {}).items():
        if problem.startswith(dotted + " "):
            return ConfigError(f"{dotted} ({flag}){problem[len(dotted):]}", exc.fix)
    if origin != "command line":
        problem = f"{problem} (in {origin})"
    return ConfigError(problem, exc.fix)


def _known_options_hint(given: str = "", candidates: list[str] | None = None) -> str:
    """`did you mean 'train.epochs'?` when `given` is close to a known name, else the known names."""
    names = ["name", "out_dir"]
    for s, f in _SECTIONS.items():
        names += [f"{s}.{x.name}" for x in fields(f.default_factory)]
    close = difflib.get_close_matches(given, candidates or names, n=1, cutoff=0.6) if given else []
    if close:
        return f"did you mean {close[0]!r}?"
    return "known options: " + ", ".join(names)


def _flatten(doc: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                flat[f"{k}.{k2}"] = v2
        else:
            flat[k] = v
    return flat


def config_from_dict(doc: Mapping[str, Any]) -> PipelineConfig:
    """Rebuild a config from `PipelineConfig.to_dict()` output (e.g. a report's options)."""
    return _apply(PipelineConfig.default(), _flatten(doc), "saved options")


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                base: PipelineConfig | None = None, *, required: bool = False,
                flags: Mapping[str, str] | None = None) -> PipelineConfig:
    """Build the config: `base` (default) < TOML file at `path` < `overrides`.

    The file is read if it exists; with `required` (a `--config` the user gave) a missing file
    is an error too. A folder, a FIFO or an unreadable file is always an error. `overrides` uses
    dotted keys (`{"train.epochs": 3, "name": "flowers"}`); None values are ignored so unset CLI
    options fall through to the file and the defaults. `flags` maps dotted keys to the CLI
    options that set them, so an error names the option the user typed (`--seed`).
    """
    cfg = base or PipelineConfig.default()
    if path is not None and (required or os.path.lexists(path)):
        cfg = _apply(cfg, _flatten(_read_toml(Path(path))), str(path))
    if overrides:
        cfg = _apply(cfg, overrides, "command line", flags)
    return cfg


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred bytes; refuse to read a huge one


def _read_toml(path: Path) -> dict:
    fix = f"pass --config with a TOML file such as {Path('pipeline.toml')}, or leave it out"
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist", fix)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder, not a file", fix)
    if not path.is_file():
        raise ConfigError(f"config file {path} is not a regular file (a FIFO or device?)", fix)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is {path.stat().st_size:,} bytes, over the "
                              f"{MAX_CONFIG_BYTES:,}-byte limit of a config file", fix)
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror or exc})",
                          "check its permissions (chmod u+r)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})", "fix the file or remove it") from None
