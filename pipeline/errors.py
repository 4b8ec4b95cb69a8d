"""The project's small, flat error family.

Every error a user can cause says three things: what was wrong, where, and how to fix it.
`pipeline/cli.py` (the tasks) turns a `PipelineError` into one clean line and a non-zero exit (no traceback).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: `problem` is what was wrong (and where), `fix` how to put it right."""

    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} - {fix}" if fix else problem)


class ConfigError(PipelineError):
    """An option is unknown, out of range or of the wrong type."""


class DataError(PipelineError):
    """The dataset cannot be used as given (missing folder, one class, too few images...)."""


class OutputError(PipelineError):
    """An output location cannot be written."""


class ModelMissingError(PipelineError):
    """A model that a step needs has not been built yet."""


class MetadataError(PipelineError):
    """TFLite metadata is missing, malformed, or did not read back as written."""


class ModelFileError(PipelineError):
    """A .tflite file is not a valid TFLite flatbuffer or cannot be loaded."""


class IntegrityError(PipelineError):
    """A file of a built model folder differs from the checksum recorded when it was written."""


class ValidationError(PipelineError):
    """A converted model failed one or more validation checks."""


class ToolchainError(PipelineError):
    """A build tool or Java artifact is missing or failed."""


class ApkError(PipelineError):
    """The APK could not be built, signed, or failed its own verification."""


class DeviceError(PipelineError):
    """adb, the device or the on-device instrumentation failed."""
