"""Stage the app's assets: the deployable model and the sample images for the UI's strip.

Public entry point: `bundle_assets(model_dir, dest, samples_dir=None) -> BundleResult`
(`check_model(model_dir)` alone checks the model is there before a longer build starts; the
model stage writes `models/<name>/samples/` with `pipeline.evalset.write_samples`).
`dest` is replaced as a whole (atomically): the hermetic build stages into a temporary folder;
for Gradle builds the destination is `android_app/app/src/main/assets/` (ignored by git).

The model is copied byte for byte. Its labels and normalization travel inside it (TFLite
metadata), which is where the app reads them: nothing about the model is copied beside it.
The asset names are mirrored by the app's `ModelAssets.java` (tests check they agree).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.artifacts import EVAL_DIR, ModelDir
from pipeline.errors import DataError, ModelFileError, ModelMissingError
from pipeline.evalset import MAX_SAMPLES
from pipeline.fsutil import sha256_bytes, staged_dir

# Asset names, mirrored by the app's ModelAssets.java (tests check they agree).
MODEL_ASSET = "model.tflite"  # ModelAssets.MODEL_ASSET: where the app (and ML Kit) load it from
SAMPLES_DIR = "samples"  # ModelAssets.SAMPLES_DIR
EVAL_ASSETS = EVAL_DIR  # the evaluation set, copied whole to assets/eval/
SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
MAX_SAMPLE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class BundleResult:
    """What went into the assets folder.

    Attributes:
      assets_dir: the staged folder.
      model: the source model file; model_bytes / model_sha256 describe its exact bytes.
      samples: asset paths of the sample images, sorted.
      samples_source: the folder they came from, or None when the app gets no samples.
      eval_files: how many files of `<model_dir>/eval/` went to `assets/eval/` (0: none there).
    """

    assets_dir: Path
    model: Path
    model_bytes: int
    model_sha256: str
    samples: tuple[str, ...]
    samples_source: Path | None
    eval_files: int = 0


def bundle_assets(model_dir: Path, dest: Path, samples_dir: Path | None = None,
                  eval_set: bool = True) -> BundleResult:
    """Copy `<model_dir>/model.tflite` and up to MAX_SAMPLES images into `dest/`.

    `samples_dir`: images for the UI's strip; None = `<model_dir>/samples/` when it exists,
    else the evaluation set's images (`<model_dir>/eval/images/`). The evaluation set
    (`<model_dir>/eval/`, written by pipeline.goldens) is copied whole to `assets/eval/` when
    `eval_set` (debug builds; a release build carries no evaluation set).
    Raises ModelMissingError when the model is missing, ModelFileError when it is not a TFLite
    file, DataError when a given samples folder does not exist.
    """
    folder = ModelDir(model_dir)
    model = check_model(folder.path)
    if folder.has_report():
        folder.verify()  # every recorded file unchanged, before anything is copied
    data = folder.model_bytes()
    source = _samples_source(folder, samples_dir)
    samples = _sample_files(source) if source is not None else []
    eval_dir = folder.eval_dir
    eval_files = [p for p in sorted(eval_dir.rglob("*")) if p.is_file()] if eval_set and eval_dir.is_dir() else []
    with staged_dir(Path(dest)) as stage:
        (stage / MODEL_ASSET).write_bytes(data)
        if samples:
            (stage / SAMPLES_DIR).mkdir()
            for path in samples:
                shutil.copyfile(path, stage / SAMPLES_DIR / path.name)
        for path in eval_files:
            target = stage / EVAL_ASSETS / path.relative_to(eval_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return BundleResult(
        assets_dir=Path(dest),
        model=model,
        model_bytes=len(data),
        model_sha256=sha256_bytes(data),
        samples=tuple(f"{SAMPLES_DIR}/{p.name}" for p in samples),
        samples_source=source,
        eval_files=len(eval_files),
    )


def check_model(model_dir: Path) -> Path:
    """`<model_dir>/model.tflite` if it exists and is a TFLite file.

    Raises ModelMissingError (with the command that builds it) or ModelFileError.
    """
    model = ModelDir(model_dir).model_path
    build = build_command(Path(model_dir))
    if not model.is_file():
        raise ModelMissingError(f"no model at {model}", f"build it first: {build}")
    with open(model, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ModelFileError(
            f"{model} is not a TFLite model (no TFL3 file identifier)", f"rebuild it: {build} --force"
        )
    return model


def build_command(model_dir: Path) -> str:
    """The command that writes `<model_dir>/model.tflite` (`invoke model --name <name> [--out <root>]`)."""
    return ModelDir(model_dir).build_command


def _samples_source(folder: ModelDir, samples_dir: Path | None) -> Path | None:
    if samples_dir is None:
        for default in (folder.samples_dir, folder.eval_images_dir):
            if default.is_dir():
                return default
        return None
    samples_dir = Path(samples_dir)
    if not samples_dir.is_dir():
        raise DataError(
            f"the sample images folder {samples_dir} does not exist",
            "pass a folder of PNG/JPEG images, or leave samples unset",
        )
    return samples_dir


def _sample_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name, small enough to ship."""
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SAMPLE_SUFFIXES and p.stat().st_size <= MAX_SAMPLE_BYTES
        and not p.name.startswith(".")
    )
    return files[:MAX_SAMPLES]
