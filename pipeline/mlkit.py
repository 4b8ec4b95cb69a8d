"""Check a `.tflite` file against what ML Kit's custom image labeler accepts (FIELD_NOTES §1).

ML Kit says nothing until the app runs ("Failed to initialize detector"), so we check every
requirement on the developer's machine, for our models and for any file a user brings:

    report = check_mlkit("models/digits/model.tflite")
    print(format_report(report))        # one ✓/✗ line per requirement
    require_mlkit_compatible(path)      # the pipeline's gate: raises ValidationError

Files are untrusted. Our own parsing never lets an exception escape as a crash: every failure
becomes a ✗ line. The LiteRT interpreter, however, can abort or segfault on a malformed
flatbuffer, so the interpreter load (allocate + one invoke on zeros) runs in a child process
(`InterpreterProbe`) with a timeout and a memory cap; a crash, hang or memory blow-up there is
a ✗ line here. A check that depends on an earlier failed one says "not checked: <reason>".
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import re
import sys
import tempfile
import time
from pathlib import Path

from pipeline.errors import ConfigError, ModelFileError, PipelineError, ValidationError
from pipeline.metadata import METADATA_IDENTIFIER, METADATA_NAME, read_associated_file
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

_SUPPORTED_INPUT_DTYPES = ("uint8", "float32")
_SUPPORTED_OUTPUT_DTYPES = ("uint8", "float32")
# Ops that carry probabilities through unchanged (requantize, reshape) between SOFTMAX and the output.
_PASS_THROUGH_OPS = ("QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE")
# An input larger than this many elements is not invoked (a mutated shape can ask for gigabytes).
_MAX_PROBE_INPUT_ELEMENTS = 1 << 24


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
) -> MlkitReport:
    """Check `model` (a path or the file's bytes) against every ML Kit requirement.

    Never raises for anything inside the file: a broken file gives ✗ lines. `probe` reuses a
    running `InterpreterProbe` (fast when checking many files); otherwise a child process is
    started for this call and stopped after it, with `timeout_s` for the interpreter load.

    Raises:
        ModelFileError: `model` is a path that cannot be read (missing, a folder, no permission).
    """
    source, data = _read(model)
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
        lines = _label_lines(raw.decode("utf-8"))
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


def _read(model) -> tuple[str, bytes]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return "<bytes>", bytes(model)
    path = Path(model)
    try:
        return str(path), path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path} ({exc.strerror or exc})",
                             "check the path: pass an existing .tflite file") from None


def _metadata_schema():
    """MediaPipe's generated metadata schema, through pipeline.metadata's loader (which avoids
    importing the `mediapipe` package, and TensorFlow with it)."""
    from pipeline import metadata

    return metadata.metadata_schema()


def _label_lines(text: str) -> list[str]:
    """MediaPipe's rule (as pipeline.metadata reads it): one label per line (\\n, \\r\\n or \\r);
    the final line break and one trailing empty line are dropped."""
    lines = re.split(r"\r\n|\r|\n", text)
    for _ in range(2):
        if lines and lines[-1] == "":
            lines.pop()
    return lines


def _dims(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "a scalar"


def _text(raw) -> str:
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def _short(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0] or "no message"
    return text if len(text) <= 160 else text[:157] + "..."


# --------------------------------------------------------------------------------------------
# The interpreter probe: load models in a child process so a crash there cannot take us down.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """What the child interpreter said: `ok`, and a one-line `detail` (the error, or a summary)."""

    ok: bool
    detail: str


class InterpreterProbe:
    """A long-lived child process that loads models into the LiteRT interpreter.

    Each `load(data)` creates an interpreter from the bytes, allocates tensors and runs one
    invoke on zero inputs. If the child crashes (abort, segfault), exceeds `timeout_s`, or
    runs out of its `memory_limit_mb` address space, the result is a failed `ProbeResult`
    naming what happened, and a fresh child is started for the next load. Reusing one probe
    for many files avoids ~0.2 s of interpreter start-up per file:

        with InterpreterProbe() as probe:
            reports = [check_mlkit(p, probe=probe) for p in paths]
    """

    def __init__(self, *, timeout_s: float = 30.0, memory_limit_mb: int = 4096):
        if not timeout_s > 0:
            raise ConfigError(f"InterpreterProbe timeout_s must be > 0, got {timeout_s}",
                              "pass a positive number of seconds")
        if memory_limit_mb < 256:
            raise ConfigError(f"InterpreterProbe memory_limit_mb must be >= 256, got {memory_limit_mb}",
                              "the interpreter alone needs ~160 MB of address space")
        self.timeout_s = float(timeout_s)
        self.memory_limit_mb = int(memory_limit_mb)
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._buffer = b""
        self.restarts = 0  # children replaced after a crash or timeout (for tests and reports)

    def __enter__(self) -> InterpreterProbe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._buffer = b""

    def load(self, data: bytes) -> ProbeResult:
        """Load `data` in the child interpreter; never raises for anything the model does."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        proc = self._proc
        err_start = self._stderr.seek(0, os.SEEK_END)
        try:
            proc.stdin.write(len(data).to_bytes(8, "little") + data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(err_start)
        line = self._read_line(time.monotonic() + self.timeout_s)
        if line is _TIMED_OUT:
            self._kill()
            return ProbeResult(False, f"the interpreter did not finish within {self.timeout_s:g} s")
        if line is None:
            return self._died(err_start)
        reply = json.loads(line)
        ok, detail = bool(reply["ok"]), str(reply["detail"])
        if not ok and detail.endswith("failed: RuntimeError"):  # no message: it went to stderr
            last = self._stderr_tail(err_start)
            detail = f"{detail} ({last})" if last else detail
        return ProbeResult(ok, detail)

    def _start(self) -> None:
        self.close()
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
        )
        self._buffer = b""

    def _command(self) -> list[str]:
        """The child's command line (tests replace it with children that crash or hang)."""
        code = f"from pipeline.mlkit import _serve_probe; _serve_probe({self.memory_limit_mb})"
        return [sys.executable, "-c", code]

    def _read_line(self, deadline: float):
        """The child's next reply line; None if it closed the channel (died); `_TIMED_OUT`."""
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _TIMED_OUT
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return _TIMED_OUT
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        self._proc.wait()
        self.restarts += 1
        self.close()

    def _died(self, err_start: int) -> ProbeResult:
        proc = self._proc
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        code = proc.returncode
        last = self._stderr_tail(err_start)
        if code is not None and code < 0:
            try:
                how = f"crashed ({signal.Signals(-code).name})"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        self._kill()
        return ProbeResult(False, f"the interpreter {how}" + (f" ({last})" if last else ""))


    def _stderr_tail(self, start: int) -> str:
        """The last meaningful line the child wrote to stderr since offset `start`."""
        self._stderr.seek(start)
        text = self._stderr.read().decode("utf-8", "replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("INFO:")]
        return lines[-1][:200] if lines else ""


_TIMED_OUT = object()


def _serve_probe(memory_limit_mb: int) -> None:
    """Child side of `InterpreterProbe`: read length-prefixed models on stdin, answer JSON lines."""
    import resource

    reply_channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # native code printing to stdout must not corrupt the reply channel
    limit = memory_limit_mb << 20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    requests = sys.stdin.buffer
    while True:
        header = requests.read(8)
        if len(header) < 8:
            return
        data = requests.read(int.from_bytes(header, "little"))
        stage = ["creating the interpreter"]
        try:
            reply = {"ok": True, "detail": _probe_in_this_process(data, stage)}
        except MemoryError:
            reply = {"ok": False, "detail": f"{stage[0]} ran out of memory (limit {memory_limit_mb} MB)"}
        except Exception as exc:  # noqa: BLE001 - anything the interpreter raises is the verdict
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            what = f"{stage[0]} failed: {type(exc).__name__}"
            reply = {"ok": False, "detail": f"{what}: {first}" if first else what}
        reply_channel.write(json.dumps(reply) + "\n")
        reply_channel.flush()


def _probe_in_this_process(data: bytes, stage: list[str]) -> str:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=1)
    stage[0] = "allocate_tensors"
    interpreter.allocate_tensors()
    stage[0] = "setting zero inputs"
    inputs = interpreter.get_input_details()
    for detail in inputs:
        size = int(np.prod(detail["shape"]))
        if size > _MAX_PROBE_INPUT_ELEMENTS:
            shape = "x".join(str(int(d)) for d in detail["shape"])
            raise ValueError(f"input tensor {detail['index']} has shape {shape} ({size} elements), "
                             "too large to run")
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    stage[0] = "invoke"
    interpreter.invoke()
    outputs = interpreter.get_output_details()
    return f"allocated and invoked ({len(inputs)} input(s), {len(outputs)} output(s))"
