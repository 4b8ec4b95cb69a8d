"""Check a `.tflite` file against what ML Kit's custom image labeler accepts (docs/FACTS.md).

ML Kit says nothing until the app runs ("Failed to initialize detector"), so we check every
requirement on the developer's machine, for our models and for any file a user brings:

    report = check_mlkit("models/digits/model.tflite")
    print(format_report(report))        # one ✓/✗ line per requirement
    require_mlkit_compatible(path)      # the pipeline's gate: raises ValidationError

Files are untrusted. Our own parsing never lets an exception escape as a crash: every failure
becomes a ✗ line. The LiteRT interpreter, however, can abort or segfault on a malformed
flatbuffer, so the interpreter load (allocate + one invoke on zeros) runs in a child process
(`pipeline.probe.InterpreterProbe`) with a timeout and a memory cap; a crash, hang or memory
blow-up there is a ✗ line here. A check that depends on an earlier failed one says
"not checked: <reason>". Before anything is read, the path must be a regular file of at most
`MAX_MODEL_BYTES` (a FIFO, a device such as /dev/zero or a folder is refused unread).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

from pipeline.errors import ModelFileError, PipelineError, ValidationError
from pipeline.metadata import (METADATA_IDENTIFIER, METADATA_NAME, label_lines,
                               read_associated_file)
from pipeline.probe import InterpreterProbe, ProbeResult  # noqa: F401 - re-exported
from pipeline.tflite_file import parse_model

# Requirement names, in report order. Tests and the app's docs quote them: change with care.
R_FLATBUFFER = "valid TFLite flatbuffer"
R_LOADS = "loads in the LiteRT interpreter"
R_ONE_INPUT = "single input tensor"
R_INPUT_SHAPE = "input shape 1xHxWx3 (NHWC, RGB)"
R_INPUT_DTYPE = "input dtype uint8 or float32"
R_ONE_OUTPUT = "single output tensor"
R_OUTPUT_SHAPE = "output shape 1xN or 1x1x1xN"
R_OUTPUT_DTYPE = "output dtype uint8 or float32"
R_METADATA = "metadata present and parseable"
R_NORMALIZATION = "NormalizationOptions for float32 input"
R_LABELS = "labels file (TENSOR_AXIS_LABELS) with N lines"
R_SOFTMAX = "output scores are probabilities (softmax)"

REQUIREMENT_NAMES = (
    R_FLATBUFFER, R_LOADS, R_ONE_INPUT, R_INPUT_SHAPE, R_INPUT_DTYPE, R_ONE_OUTPUT,
    R_OUTPUT_SHAPE, R_OUTPUT_DTYPE, R_METADATA, R_NORMALIZATION, R_LABELS, R_SOFTMAX,
)

# The largest file check-mlkit reads (`invoke check-mlkit --max-mb`). An image classifier that
# ML Kit runs on a phone is a few MB to a few hundred MB; TFLite flatbuffers cannot exceed 2 GB.
MAX_MODEL_BYTES = 512 * 1024 * 1024

_SUPPORTED_INPUT_DTYPES = ("uint8", "float32")
_SUPPORTED_OUTPUT_DTYPES = ("uint8", "float32")
# Ops that carry probabilities through unchanged (requantize, reshape) between SOFTMAX and the output.
_PASS_THROUGH_OPS = ("QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE")


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One ML Kit requirement and its verdict.

    Attributes:
        name: the requirement, as printed (one of `REQUIREMENT_NAMES`).
        ok: True when the model meets it. A requirement that could not be checked is not ok.
        detail: for ✗, what is wrong (or "not checked: <reason>"); for ✓, what was found.
        fix: for ✗, how to fix it; empty when not checked (fix the earlier failure first).
    """

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""

    @property
    def checked(self) -> bool:
        return self.ok or not self.detail.startswith("not checked")

    def line(self) -> str:
        if self.ok:
            return f"✓ {self.name}"
        text = f"✗ {self.name}: {self.detail}"
        return f"{text} - {self.fix}" if self.fix else text


@dataclasses.dataclass(frozen=True)
class MlkitReport:
    """Every requirement's verdict for one model file (`source` is its path, or "<bytes>")."""

    source: str
    requirements: tuple[Requirement, ...]

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.requirements)

    @property
    def failures(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if not r.ok)

    def requirement(self, name: str) -> Requirement:
        for req in self.requirements:
            if req.name == name:
                return req
        raise KeyError(name)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "passed": self.passed,
            "requirements": [dataclasses.asdict(r) | {"line": r.line()} for r in self.requirements],
        }


def format_report(report: MlkitReport) -> str:
    """One line per requirement: `✓ name` or `✗ name: what is wrong - how to fix it`."""
    return "\n".join(r.line() for r in report.requirements)


def to_json(report: MlkitReport) -> str:
    """The report as a JSON document (what `invoke check-mlkit --json` prints)."""
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)


def check_mlkit(
    model: str | os.PathLike | bytes,
    *,
    probe: InterpreterProbe | None = None,
    timeout_s: float = 30.0,
    max_bytes: int = MAX_MODEL_BYTES,
) -> MlkitReport:
    """Check `model` (a path or the file's bytes) against every ML Kit requirement.

    Never raises for anything inside the file: a broken file gives ✗ lines. `probe` reuses a
    running `InterpreterProbe` (fast when checking many files); otherwise a child process is
    started for this call and stopped after it, with `timeout_s` for the interpreter load.

    Raises:
        ModelFileError: `model` is a path that cannot be read (missing, a folder, no permission),
            is not a regular file (FIFO, device), or is larger than `max_bytes`; it is then not read.
    """
    source, data = _read(model, max_bytes)
    facts = _Facts(data, probe, timeout_s)
    requirements = []
    for name, check in _CHECKS:
        try:
            req = check(facts)
        except Exception as exc:  # noqa: BLE001 - a bug here must not hide the other verdicts
            req = Requirement(
                name, False, f"could not be checked ({type(exc).__name__}: {_short(exc)})",
                "this is a bug in pipeline.mlkit - report it with the model file")
        facts.done[name] = req
        requirements.append(req)
    return MlkitReport(source, tuple(requirements))


def require_mlkit_compatible(model: str | os.PathLike | bytes, *, what: str = "") -> MlkitReport:
    """The pipeline's gate: return the report if `model` passes, else raise ValidationError.

    The error lists every ✗ line; `what` names the model in the message (default: its path).
    """
    report = check_mlkit(model)
    if not report.passed:
        lines = "\n".join(f"  {r.line()}" for r in report.failures)
        raise ValidationError(
            f"{what or report.source} does not meet ML Kit's custom-model requirements, so the "
            f"app would fail with \"Failed to initialize detector\":\n{lines}\n",
            "fix the ✗ requirements above (each line says how), then rebuild the model",
        )
    return report


# --------------------------------------------------------------------------------------------
# The checks. Each takes the shared facts and returns one Requirement; order is report order.
# --------------------------------------------------------------------------------------------

_REEXPORT = "re-export the model with tf.lite.TFLiteConverter (ML Kit loads it with the same runtime)"
_ADD_METADATA = ("add image-classifier metadata with labels and normalization "
                 "(pipeline.metadata.write_metadata, or the pipeline's metadata stage)")


class _Facts:
    """What the checks learn about the file, computed once and shared."""

    def __init__(self, data: bytes, probe: InterpreterProbe | None, timeout_s: float):
        self.data, self.probe, self.timeout_s = data, probe, timeout_s
        self.done: dict[str, Requirement] = {}
        self.model = None  # pipeline.tflite_file.ModelFile once parsed
        self.metadata = None  # the unpacked ModelMetadataT once parsed
        self.classes: int | None = None  # N, from the output shape

    def input(self):
        return self.model.tensor(self.model.inputs[0])

    def output(self):
        return self.model.tensor(self.model.outputs[0])

    def blocked(self, *names: str) -> str | None:
        """The reason a check cannot run: the first of `names` that failed, in words."""
        for name in names:
            req = self.done.get(name)
            if req is not None and not req.ok:
                return _BLOCKED_BECAUSE[name](self)
        return None


_BLOCKED_BECAUSE = {
    R_FLATBUFFER: lambda f: "the file is not a valid TFLite flatbuffer",
    R_ONE_INPUT: lambda f: f"the model has {len(f.model.inputs)} inputs",
    R_INPUT_SHAPE: lambda f: "the input shape is wrong",
    R_INPUT_DTYPE: lambda f: f"the input dtype {f.input().dtype} is not supported",
    R_ONE_OUTPUT: lambda f: f"the model has {len(f.model.outputs)} outputs",
    R_OUTPUT_SHAPE: lambda f: "the output shape is not 1xN or 1x1x1xN",
    R_METADATA: lambda f: "no usable metadata",
}


def _not_checked(name: str, reason: str) -> Requirement:
    return Requirement(name, False, f"not checked: {reason}")


def _check_flatbuffer(f: _Facts) -> Requirement:
    try:
        f.model = parse_model(f.data)
    except ModelFileError as exc:
        return Requirement(R_FLATBUFFER, False, exc.problem, exc.fix)
    return Requirement(R_FLATBUFFER, True, f"{len(f.data):,} bytes, {len(f.model.ops)} ops in "
                       f"subgraph 0 of {f.model.subgraph_count}")


def _check_loads(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER):
        return _not_checked(R_LOADS, why)
    if f.probe is None:
        with InterpreterProbe(timeout_s=f.timeout_s) as own:
            result = own.load(f.data)
    else:
        result = f.probe.load(f.data)
    if result.ok:
        return Requirement(R_LOADS, True, result.detail)
    return Requirement(R_LOADS, False, f"LiteRT cannot run it: {result.detail}", _REEXPORT)


def _check_one_input(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER):
        return _not_checked(R_ONE_INPUT, why)
    n = len(f.model.inputs)
    if n == 1:
        return Requirement(R_ONE_INPUT, True)
    return Requirement(
        R_ONE_INPUT, False, f"the model has {n} input tensors, ML Kit feeds exactly one image",
        "export a model with a single 1xHxWx3 image input")


def _check_input_shape(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER, R_ONE_INPUT):
        return _not_checked(R_INPUT_SHAPE, why)
    shape = f.input().shape
    text = _dims(shape)
    if len(shape) == 4 and shape[0] == 1 and shape[3] == 3 and min(shape) >= 1:
        return Requirement(R_INPUT_SHAPE, True, text)
    fix = "build the Keras model with a channels-last RGB input keras.Input((H, W, 3)) and batch size 1"
    if len(shape) != 4:
        return Requirement(R_INPUT_SHAPE, False, f"the input shape is {text} ({len(shape)}-D), not 4-D", fix)
    if shape[1] == 3 and shape[3] != 3:
        return Requirement(R_INPUT_SHAPE, False,
                           f"the input shape is {text}: channels first (NCHW), ML Kit feeds NHWC", fix)
    if shape[3] != 3:
        return Requirement(R_INPUT_SHAPE, False,
                           f"the input shape is {text}: {shape[3]} channel(s), ML Kit feeds 3 (RGB)", fix)
    if shape[0] != 1:
        return Requirement(R_INPUT_SHAPE, False,
                           f"the input shape is {text}: batch {shape[0]}, ML Kit feeds 1", fix)
    return Requirement(R_INPUT_SHAPE, False, f"the input shape is {text}: a dimension is not positive", fix)


def _check_input_dtype(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER, R_ONE_INPUT):
        return _not_checked(R_INPUT_DTYPE, why)
    dtype = f.input().dtype
    if dtype in _SUPPORTED_INPUT_DTYPES:
        return Requirement(R_INPUT_DTYPE, True, dtype)
    return Requirement(
        R_INPUT_DTYPE, False, f"the input tensor is {dtype}; ML Kit accepts uint8 or float32",
        "convert with converter.inference_input_type = tf.uint8 (quantized model), "
        "or keep a float32 input with NormalizationOptions metadata")


def _check_one_output(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER):
        return _not_checked(R_ONE_OUTPUT, why)
    n = len(f.model.outputs)
    if n == 1:
        return Requirement(R_ONE_OUTPUT, True)
    return Requirement(
        R_ONE_OUTPUT, False, f"the model has {n} output tensors; an image labeler has one score output",
        "export a model whose only output is the class scores")


def _check_output_shape(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER, R_ONE_OUTPUT):
        return _not_checked(R_OUTPUT_SHAPE, why)
    shape = f.output().shape
    if (len(shape) == 2 and shape[0] == 1 and shape[1] >= 1) or (
            len(shape) == 4 and shape[:3] == (1, 1, 1) and shape[3] >= 1):
        f.classes = shape[-1]
        return Requirement(R_OUTPUT_SHAPE, True, f"{_dims(shape)}, N = {shape[-1]}")
    return Requirement(
        R_OUTPUT_SHAPE, False, f"the output shape is {_dims(shape)} ({len(shape)}-D); ML Kit expects "
        "1xN or 1x1x1xN", "reshape the scores to (1, N) in the model (e.g. Flatten or Reshape((N,)) "
        "before the softmax)")


def _check_metadata(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER):
        return _not_checked(R_METADATA, why)
    raw = f.model.metadata_buffers.get(METADATA_NAME)
    if raw is None:
        return Requirement(
            R_METADATA, False, f"the model has no TFLite metadata (no {METADATA_NAME} buffer), "
            "so ML Kit finds no labels", _ADD_METADATA)
    if len(raw) < 8 or raw[4:8] != METADATA_IDENTIFIER:
        return Requirement(
            R_METADATA, False, f"the {METADATA_NAME} buffer ({len(raw)} bytes) lacks the metadata "
            f"identifier {METADATA_IDENTIFIER.decode()!r}", _ADD_METADATA)
    mfb = _metadata_schema()
    try:
        md = mfb.ModelMetadataT.InitFromObj(mfb.ModelMetadata.GetRootAs(raw, 0))
    except Exception as exc:  # noqa: BLE001 - a corrupt flatbuffer raises anything
        return Requirement(
            R_METADATA, False, f"the {METADATA_NAME} buffer is corrupt ({type(exc).__name__}: "
            f"{_short(exc)})", _ADD_METADATA)
    graphs = md.subgraphMetadata or []
    if len(graphs) != 1 or graphs[0] is None:
        return Requirement(
            R_METADATA, False, f"the metadata describes {len(graphs)} subgraphs; ML Kit reads "
            "exactly one", _ADD_METADATA)
    graph = graphs[0]
    for what, described, actual in (
            ("input", graph.inputTensorMetadata, f.model.inputs),
            ("output", graph.outputTensorMetadata, f.model.outputs)):
        if len(described or []) != len(actual) or any(t is None for t in described or []):
            return Requirement(
                R_METADATA, False, f"the metadata describes {len(described or [])} {what} tensor(s) "
                f"but the model has {len(actual)}", _ADD_METADATA)
    f.metadata = graph
    return Requirement(R_METADATA, True, _text(md.name) or "(unnamed)")


def _check_normalization(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER, R_ONE_INPUT, R_INPUT_DTYPE):
        return _not_checked(R_NORMALIZATION, why)
    if f.input().dtype != "float32":
        return Requirement(R_NORMALIZATION, True, f"not needed: {f.input().dtype} input")
    if why := f.blocked(R_METADATA):
        return _not_checked(R_NORMALIZATION, why)
    mfb = _metadata_schema()
    tensor = f.metadata.inputTensorMetadata[0]
    for unit in tensor.processUnits or []:
        if unit is not None and unit.optionsType == mfb.ProcessUnitOptions.NormalizationOptions:
            mean = [] if unit.options is None or unit.options.mean is None else list(unit.options.mean)
            std = [] if unit.options is None or unit.options.std is None else list(unit.options.std)
            if len(mean) in (1, 3) and len(std) == len(mean) and all(s > 0 for s in std):
                return Requirement(R_NORMALIZATION, True, f"mean {mean}, std {std}")
            return Requirement(
                R_NORMALIZATION, False, f"NormalizationOptions has mean {mean} and std {std}; "
                "ML Kit needs 1 or 3 values each, std > 0", "write the mean/std the model was "
                "trained with (pipeline.metadata.write_metadata)")
    return Requirement(
        R_NORMALIZATION, False, "the input is float32 but its metadata has no NormalizationOptions, "
        "so ML Kit cannot scale the pixels", "write the training mean/std into the input tensor "
        "metadata (pipeline.metadata.write_metadata), or convert with a uint8 input")


def _check_labels(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER, R_ONE_OUTPUT, R_METADATA):
        return _not_checked(R_LABELS, why)
    mfb = _metadata_schema()
    files = [a for a in f.metadata.outputTensorMetadata[0].associatedFiles or [] if a is not None]
    labels = [a for a in files if a.type == mfb.AssociatedFileType.TENSOR_AXIS_LABELS]
    fix = "write the labels (one per line, in output order) with pipeline.metadata.write_metadata"
    if not labels:
        others = ", ".join(_text(a.name) for a in files)
        extra = f" (it has {others}, of other types)" if others else ""
        return Requirement(
            R_LABELS, False, f"the output tensor metadata has no TENSOR_AXIS_LABELS file{extra}", fix)
    name = _text(labels[0].name)
    try:
        raw = read_associated_file(f.data, name)
    except PipelineError as exc:
        return Requirement(R_LABELS, False, exc.problem, fix)
    try:
        lines = label_lines(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Requirement(R_LABELS, False, f"{name} is not UTF-8 text (offset {exc.start})", fix)
    if why := f.blocked(R_OUTPUT_SHAPE):
        return _not_checked(R_LABELS, f"{why} ({name} has {len(lines)} lines)")
    if len(lines) != f.classes:
        return Requirement(
            R_LABELS, False, f"{name} has {len(lines)} lines but the output has N = {f.classes} "
            "classes", fix)
    return Requirement(R_LABELS, True, f"{name}: {len(lines)} labels")


def _check_softmax(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER, R_ONE_OUTPUT):
        return _not_checked(R_SOFTMAX, why)
    producers = {t: op for op in f.model.ops for t in op.outputs}
    tensor, chain = f.model.outputs[0], []
    for _ in range(len(f.model.ops) + 1):
        op = producers.get(tensor)
        if op is None or op.opcode not in _PASS_THROUGH_OPS:
            break
        chain.append(op.opcode)
        tensor = next((i for i in op.inputs if i >= 0), -1)
    via = f" (through {', '.join(chain)})" if chain else ""
    fix = ("end the model with a softmax, e.g. Dense(N, activation=\"softmax\"), before converting: "
           "ML Kit reports the scores as probabilities")
    if op is None:
        return Requirement(
            R_SOFTMAX, False, f"no op produces the output tensor{via}, so it holds no class scores", fix)
    if op.opcode == "SOFTMAX":
        return Requirement(R_SOFTMAX, True, f"SOFTMAX{via}")
    return Requirement(
        R_SOFTMAX, False, f"the output comes from {op.opcode}{via}, not SOFTMAX: the scores are not "
        "probabilities", fix)


def _check_output_dtype(f: _Facts) -> Requirement:
    if why := f.blocked(R_FLATBUFFER, R_ONE_OUTPUT):
        return _not_checked(R_OUTPUT_DTYPE, why)
    dtype = f.output().dtype
    if dtype in _SUPPORTED_OUTPUT_DTYPES:
        return Requirement(R_OUTPUT_DTYPE, True, dtype)
    return Requirement(
        R_OUTPUT_DTYPE, False, f"the output tensor is {dtype}; ML Kit reads uint8 or float32 scores",
        "convert with converter.inference_output_type = tf.uint8 (quantized model) or keep a float32 output")


_CHECKS = (
    (R_FLATBUFFER, _check_flatbuffer),
    (R_LOADS, _check_loads),
    (R_ONE_INPUT, _check_one_input),
    (R_INPUT_SHAPE, _check_input_shape),
    (R_INPUT_DTYPE, _check_input_dtype),
    (R_ONE_OUTPUT, _check_one_output),
    (R_OUTPUT_SHAPE, _check_output_shape),
    (R_OUTPUT_DTYPE, _check_output_dtype),
    (R_METADATA, _check_metadata),
    (R_NORMALIZATION, _check_normalization),
    (R_LABELS, _check_labels),
    (R_SOFTMAX, _check_softmax),
)


# --------------------------------------------------------------------------------------------
# Small helpers.
# --------------------------------------------------------------------------------------------


def _read(model, max_bytes: int = MAX_MODEL_BYTES) -> tuple[str, bytes]:
    """The file's bytes, refusing (before reading) anything but a regular file of <= max_bytes."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return "<bytes>", bytes(model)
    path = Path(model)
    fix = "check the path: pass an existing .tflite file"
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ModelFileError(f"cannot read {path} ({exc.strerror or exc})", fix) from None
    try:
        too_big = _refuse_unless_small_file(path, os.fstat(fd), max_bytes)
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            data = _read_at_most(handle, max_bytes + 1)
        except OSError as exc:
            raise ModelFileError(f"cannot read {path} ({exc.strerror or exc})", fix) from None
    if len(data) > max_bytes:  # it grew after the size check
        raise too_big
    return str(path), data


def _refuse_unless_small_file(path: Path, st: os.stat_result, max_bytes: int) -> ModelFileError:
    """Raise unless `st` is a regular file of <= max_bytes; return the error for "too big"."""
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError(f"{path} is a folder, not a .tflite file",
                             "pass the model file itself, e.g. models/digits/model.tflite")
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(f"{path} is not a regular file (a FIFO, socket or device), so it "
                             "was not read", "copy the model to a file and check that file")
    too_big = ModelFileError(
        f"{path} is larger than check-mlkit's limit of {max_bytes:,} bytes, so it was not read",
        f"pass --max-mb with a larger limit (default {MAX_MODEL_BYTES >> 20}) if it really is a model")
    if st.st_size > max_bytes:
        raise too_big
    return too_big


def _read_at_most(handle, limit: int) -> bytes:
    chunks, total = [], 0
    while total < limit:
        chunk = handle.read(min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _metadata_schema():
    """MediaPipe's generated metadata schema, through pipeline.metadata's loader (which avoids
    importing the `mediapipe` package, and TensorFlow with it)."""
    from pipeline import metadata

    return metadata.metadata_schema()


def _dims(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "a scalar"


def _text(raw) -> str:
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def _short(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0] or "no message"
    return text if len(text) <= 160 else text[:157] + "..."
