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

Integrity: report.json records the sha256 of every other file the model stage wrote
(`artifacts`, from report version 4). Readers get those files through `ModelDir`, which checks
them first (`model_bytes`, `verified_bytes`, `verify`): a file that changed on disk is an
IntegrityError naming it and the command that rebuilds the folder, and nothing is derived from
it. Written later and not recorded: report.json itself, report.html, device-report.json and
screenshots/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import IntegrityError, ModelMissingError
from pipeline.fsutil import atomic_write_json, sha256_bytes, sha256_file

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

REPORT_VERSION = 4  # bump when report.json's layout changes, and keep reading the previous one
READABLE_REPORT_VERSIONS = (3, 4)  # 4 added `artifacts` (checksums) and `dataset.content`
REQUIRED_REPORT_KEYS = ("name", "deployable", "variants", "options")
UNRECORDED = (REPORT_JSON, REPORT_HTML, DEVICE_REPORT, SCREENSHOTS_DIR)  # written after the record


@dataclass(frozen=True)
class ModelDir:
    """`models/<name>/` (or a staging folder that will become it)."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rejected_path(self) -> Path:
        """Where a run whose deployable model failed its gates leaves its report."""
        return self.path.with_name(f"{self.path.name}.rejected")

    @property
    def build_command(self) -> str:
        """The command that writes this folder (`invoke model --name <name> [--out <root>]`)."""
        root = self.path.parent
        out = "" if root == Path("models") else f" --out {root}"
        return f"invoke model --name {self.path.resolve().name}{out}"

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
        """The deployable model's bytes (checked), or ModelMissingError saying how to build it."""
        return self.verified_bytes(self.model_path)

    def variant_bytes(self, variant: str) -> bytes:
        return self.verified_bytes(self.variant_path(variant))

    def verified_bytes(self, path: Path) -> bytes:
        """The bytes of a file in the folder, checked against the recorded checksum (if any)."""
        return self.check_bytes(path, self._read_model(Path(path)))

    def check_bytes(self, path: Path, data: bytes) -> bytes:
        """`data`, read from `path` in the folder, if it matches the recorded checksum."""
        recorded = self.recorded_checksums()
        rel = Path(path).resolve().relative_to(self.path.resolve()).as_posix()
        if recorded is not None and rel in recorded and sha256_bytes(data) != recorded[rel]:
            raise self._changed(rel, sha256_bytes(data), recorded[rel])
        return data

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
            newer = isinstance(version, (int, float)) and version > REPORT_VERSION
            raise self._rebuild(
                f"{path} has report version {version!r}; this pipeline reads "
                f"{', '.join(map(str, READABLE_REPORT_VERSIONS))}"
                + (" (it was written by a newer version)" if newer else ""),
                "update the pipeline, or " if newer else "")
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

    def _rebuild(self, problem: str, first: str = "") -> ModelMissingError:
        return ModelMissingError(problem, f"{first}rebuild the model: invoke model --name {self.name} --force")

    # ------------------------------------------------------------------------- integrity

    def checksums(self) -> dict[str, str]:
        """sha256 of every file in the folder but the unrecorded ones, by relative path."""
        files = sorted(p for p in self.path.rglob("*") if p.is_file()
                       and p.relative_to(self.path).parts[0] not in UNRECORDED)
        return {p.relative_to(self.path).as_posix(): sha256_file(p) for p in files}

    def recorded_checksums(self) -> dict[str, str] | None:
        """What report.json recorded (None: no report, or one from before checksums)."""
        if not self.has_report():
            return None
        recorded = self.read_report().get("artifacts")
        return recorded if isinstance(recorded, dict) else None

    def verify(self, prefix: str = "") -> dict:
        """Check every recorded file (under `prefix`, e.g. "eval/") is there and unchanged;
        returns the report. Raises IntegrityError for the first that is not."""
        report = self.read_report()
        recorded = report.get("artifacts")
        for rel, digest in sorted((recorded or {}).items()):
            if not rel.startswith(prefix):
                continue
            path = self.path / rel
            if not path.is_file():
                raise IntegrityError(f"{path} is missing (it was written with the model)",
                                     f"rebuild the model: {self.build_command} --force")
            now = sha256_file(path)
            if now != digest:
                raise self._changed(rel, now, digest)
        return report

    def _changed(self, rel: str, now: str, recorded: str) -> IntegrityError:
        return IntegrityError(
            f"{self.path / rel} changed since the model was written (sha256 {now[:12]}, "
            f"recorded {recorded[:12]}); nothing is built from it",
            f"restore it, or rebuild the model: {self.build_command} --force")

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
