"""The model folder `models/<name>/`: the one place that names its files and reads them back.

Layout (written by the model stage in one atomic rename, `pipeline.flow.run_model`):

  model.tflite         the deployable model (metadata inside: labels, normalization, names)
  labels.txt           its labels, one per line (a copy for people; the app reads the metadata)
  variants/<v>.tflite  every other converted variant
  samples/             a few test images for the app's sample strip
  eval/eval.json       the evaluation set: per image, Python's interpreter results
  eval/images/NNN.png  its images at the model's input size (lossless)
  report.json          everything measured, versioned (`REPORT_VERSION`)
  report.html          the same, rendered for people
  device-report.json   written by `invoke emulator-test` (the app on a device)
  screenshots/         the app's screen, rendered on the Android framework (host tests)

Every other module asks `ModelDir` for these paths and contents; none spells a file name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ModelMissingError
from pipeline.fsutil import atomic_write_json

MODEL = "model.tflite"
LABELS = "labels.txt"
VARIANTS_DIR = "variants"
SAMPLES_DIR = "samples"
EVAL_DIR = "eval"  # also the folder name inside the APK's assets
EVAL_JSON = "eval.json"
EVAL_IMAGES = "images"  # inside EVAL_DIR
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
DEVICE_REPORT = "device-report.json"
SCREENSHOTS_DIR = "screenshots"

REPORT_VERSION = 3  # bump when report.json's layout changes, and keep reading the previous one
READABLE_REPORT_VERSIONS = (3,)
REQUIRED_REPORT_KEYS = ("name", "deployable", "variants", "options")


@dataclass(frozen=True)
class ModelDir:
    """`models/<name>/` (or a staging folder that will become it)."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------------- paths

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def labels_path(self) -> Path:
        return self.path / LABELS

    @property
    def variants_dir(self) -> Path:
        return self.path / VARIANTS_DIR

    def variant_path(self, variant: str) -> Path:
        return self.variants_dir / f"{variant}.tflite"

    @property
    def samples_dir(self) -> Path:
        return self.path / SAMPLES_DIR

    @property
    def eval_dir(self) -> Path:
        return self.path / EVAL_DIR

    @property
    def eval_json(self) -> Path:
        return self.eval_dir / EVAL_JSON

    @property
    def eval_images_dir(self) -> Path:
        return self.eval_dir / EVAL_IMAGES

    @property
    def report_json(self) -> Path:
        return self.path / REPORT_JSON

    @property
    def report_html(self) -> Path:
        return self.path / REPORT_HTML

    @property
    def device_report_path(self) -> Path:
        return self.path / DEVICE_REPORT

    @property
    def screenshots_dir(self) -> Path:
        return self.path / SCREENSHOTS_DIR

    # ------------------------------------------------------------------------- models

    def model_bytes(self) -> bytes:
        """The deployable model's bytes, or ModelMissingError saying how to build it."""
        return self._read_model(self.model_path)

    def variant_bytes(self, variant: str) -> bytes:
        return self._read_model(self.variant_path(variant))

    def model_files(self, deployable: str) -> dict[str, Path]:
        """Every converted model in the folder by variant name (the deployable one first)."""
        files = {deployable: self.model_path}
        if self.variants_dir.is_dir():
            files.update({p.stem: p for p in sorted(self.variants_dir.glob("*.tflite"))})
        return files

    def write_models(self, deployable: bytes, others: dict[str, bytes], labels) -> None:
        """model.tflite, labels.txt and variants/ (into a staging folder: not atomic per file)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.model_path.write_bytes(deployable)
        self.labels_path.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
        self.variants_dir.mkdir(exist_ok=True)
        for name, data in others.items():
            self.variant_path(name).write_bytes(data)

    def _read_model(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError:
            raise ModelMissingError(
                f"no model at {path}", f"build it first: invoke model --name {self.name}"
            ) from None

    # ------------------------------------------------------------------------- report.json

    def has_report(self) -> bool:
        return self.report_json.is_file()

    def read_report(self) -> dict:
        """report.json, checked: a readable version and the keys every reader relies on.

        Raises ModelMissingError (one line, with the command that builds or rebuilds the folder)
        when it is missing, not JSON, from another program, or of a version this code cannot read.
        """
        path = self.report_json
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except OSError:
            raise ModelMissingError(
                f"no model report at {path}", f"build the model first: invoke model --name {self.name}"
            ) from None
        except ValueError as exc:
            raise self._rebuild(f"{path} is not valid JSON ({exc})") from None
        if not isinstance(report, dict) or "report_version" not in report:
            raise self._rebuild(f"{path} is not a report written by this pipeline")
        version = report["report_version"]
        if version not in READABLE_REPORT_VERSIONS:
            newer = isinstance(version, int) and version > REPORT_VERSION
            raise self._rebuild(
                f"{path} has report version {version!r}; this pipeline reads "
                f"{', '.join(map(str, READABLE_REPORT_VERSIONS))}"
                + (" (it was written by a newer version: update the pipeline, or" if newer else ""))
        missing = [k for k in REQUIRED_REPORT_KEYS if k not in report]
        if missing:
            raise self._rebuild(f"{path} lacks {', '.join(missing)}")
        return report

    def write_report(self, report: dict) -> Path:
        """Write report.json atomically (stamping the current version)."""
        return atomic_write_json(self.report_json, {"report_version": REPORT_VERSION, **report})

    def update_report(self, **fields) -> dict:
        """Read report.json, set `fields`, write it back; returns the new report."""
        report = {**self.read_report(), **fields}
        self.write_report(report)
        return report

    def _rebuild(self, problem: str) -> ModelMissingError:
        return ModelMissingError(problem, f"rebuild the model: invoke model --name {self.name} --force")

    # ------------------------------------------------------------------------- other documents

    def read_eval_doc(self) -> dict | None:
        """eval/eval.json, or None when it is missing or unreadable."""
        return _read_json(self.eval_json)

    def read_device_report(self) -> dict | None:
        """device-report.json, or None when there is none (or it is unreadable)."""
        return _read_json(self.device_report_path)

    def write_device_report(self, report: dict) -> Path:
        return atomic_write_json(self.device_report_path, report)


def _read_json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
