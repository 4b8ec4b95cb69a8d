"""Read a .tflite flatbuffer into plain, frozen Python objects (no interpreter, no TensorFlow).

`parse_model(data)` returns a `ModelFile`: tensors with dtype, shape, quantization parameters and
constant data; ops with their builtin name and fused activation; subgraph 0's inputs/outputs; and
the model's named metadata buffers (`TFLITE_METADATA`, `min_runtime_version`, ...).

Anything that is not a valid TFLite flatbuffer (empty, truncated, random bytes, a PNG or zip with
the wrong extension) raises `pipeline.errors.ModelFileError`; no exception of any other type
escapes `parse_model`, and vector lengths are bounded by the file size so hostile input cannot make
it loop for long.

The generated schema comes from `ai_edge_litert` (no TensorFlow import, ~0.3 s); TensorFlow's copy
is the fallback, imported through `pipeline._tf` so legacy Keras is still selected first.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from pipeline.errors import ModelFileError

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
_FIX = ("pass the .tflite file written by tf.lite.TFLiteConverter (convert() output), "
        "not a renamed or partly copied file")
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"PK\x03\x04": "a zip archive (a Keras .keras file, an .aar/.apk or a zipped model?)",
    b"\x89HDF": "an HDF5 file (a Keras .h5 model?)",
    b"\x1f\x8b": "a gzip file (gunzip it first)",
    b"\x7fELF": "an ELF binary",
    b"GIF8": "a GIF image",
}
# Little-endian numpy dtypes for the TFLite tensor types numpy can hold directly.
_NUMPY_DTYPES = {
    "float32": "<f4", "float16": "<f2", "float64": "<f8",
    "int8": "i1", "uint8": "u1", "int16": "<i2", "uint16": "<u2",
    "int32": "<i4", "uint32": "<u4", "int64": "<i8", "uint64": "<u8",
    "bool": "?", "complex64": "<c8", "complex128": "<c16",
}


def _load_schema() -> ModuleType:
    """The flatc-generated TFLite schema module (accessors + object API)."""
    try:
        from ai_edge_litert import schema_py_generated as module
    except ImportError:  # pragma: no cover - ai_edge_litert is pinned in requirements.lock
        from pipeline._tf import tf  # noqa: F401  (selects legacy Keras before TF loads)
        from tensorflow.lite.python import schema_py_generated as module
    return module


_schema = _load_schema()


def schema_module() -> ModuleType:
    """The generated TFLite schema module this reader uses (for writers: ModelT, BufferT, ...)."""
    return _schema


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


_TYPE_NAMES = {v: k.lower() for v, k in _enum_names(_schema.TensorType).items()}
_OP_NAMES = _enum_names(_schema.BuiltinOperator)
_OPTION_NAMES = _enum_names(_schema.BuiltinOptions)
_ACTIVATION_NAMES = _enum_names(_schema.ActivationFunctionType)
_CUSTOM = _schema.BuiltinOperator.CUSTOM


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of subgraph 0. `data` holds a constant tensor's values reshaped to `shape`.

    For dtypes numpy cannot hold, `data` is: int4 -> unpacked int8 values; anything else
    (string, bfloat16, resource...) -> the raw buffer as a flat uint8 array. A sparse tensor
    (TFLite sparsity format) keeps its stored values flat and has `sparse=True`.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int
    data: np.ndarray | None = field(default=None, compare=False, repr=False)
    sparse: bool = False

    @property
    def is_constant(self) -> bool:
        """True when the tensor has its values in the file (weights, biases, constants)."""
        return self.data is not None


@dataclass(frozen=True)
class OpInfo:
    """One operator of subgraph 0; an omitted optional input is -1 in `inputs`."""

    index: int
    opcode: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    fused_activation: str | None


@dataclass(frozen=True)
class ModelFile:
    """A parsed .tflite file: subgraph 0's tensors and ops, plus model-level facts."""

    version: int
    description: str
    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraph_count: int
    metadata_buffers: dict[str, bytes]

    def tensor(self, i: int) -> TensorInfo:
        """Tensor `i` of subgraph 0 (IndexError with the valid range otherwise)."""
        if not 0 <= i < len(self.tensors):
            raise IndexError(f"tensor index {i} is out of range 0..{len(self.tensors) - 1}")
        return self.tensors[i]

    def op_input(self, op: "OpInfo", slot: int | None) -> TensorInfo | None:
        """The tensor `op` takes at input `slot`, or None when the slot is absent or omitted (-1)."""
        if slot is None or slot >= len(op.inputs) or op.inputs[slot] < 0:
            return None
        return self.tensor(op.inputs[slot])

    def op_counts(self) -> dict[str, int]:
        """How many ops of each type subgraph 0 has, in order of first appearance."""
        return dict(Counter(op.opcode for op in self.ops))


def parse_model(data: bytes) -> ModelFile:
    """Parse TFLite flatbuffer bytes (a zip of associated files may follow them).

    Raises ModelFileError for anything that is not a loadable TFLite flatbuffer.
    """
    buf = _as_bytes(data)
    _check_header(buf)
    try:
        return _parse(buf)
    except ModelFileError:
        raise
    except Exception as exc:  # IndexError, struct.error, ValueError, RecursionError, MemoryError...
        raise ModelFileError(
            f"the data is not a valid TFLite flatbuffer ({len(buf)} bytes; reading it failed with "
            f"{type(exc).__name__}: {_short(exc)}); it is probably truncated or corrupted",
            _FIX,
        ) from None


# ----------------------------------------------------------------------------- header / helpers


def _as_bytes(data) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise ModelFileError(
        f"expected the model as bytes, got {type(data).__name__}",
        "read the file first: Path(p).read_bytes()",
    )


def _check_header(buf: bytes) -> None:
    if len(buf) < 8:
        raise ModelFileError(
            f"the data is too short to be a TFLite model ({len(buf)} bytes; a TFLite flatbuffer "
            "starts with a 4-byte root offset and the identifier 'TFL3')",
            _FIX,
        )
    if buf[4:8] != FILE_IDENTIFIER:
        kind = next((what for magic, what in _MAGIC.items() if buf.startswith(magic)), None)
        found = f"it looks like {kind}" if kind else f"bytes 4..8 are {buf[4:8]!r}"
        raise ModelFileError(
            f"the data is not a TFLite model: the file identifier 'TFL3' is missing ({found})", _FIX
        )
    (root,) = struct.unpack_from("<I", buf, 0)
    if not 8 <= root < len(buf) - 4:
        raise ModelFileError(
            f"the TFLite flatbuffer's root offset {root} lies outside the {len(buf)}-byte file "
            "(truncated or corrupted)",
            _FIX,
        )


def _short(exc: BaseException) -> str:
    text = str(exc) or "no message"
    return text if len(text) <= 120 else text[:117] + "..."


def _bounded(n: int, what: str, buf: bytes) -> int:
    """A vector length from the file, checked against the file size (4 bytes per element)."""
    if n < 0 or n * 4 > len(buf):
        raise ModelFileError(
            f"the TFLite flatbuffer declares {n} {what}, more than a {len(buf)}-byte file can hold "
            "(corrupted file)",
            _FIX,
        )
    return n


def _int_vector(length: int, get, what: str, buf: bytes) -> tuple[int, ...]:
    return tuple(int(get(j)) for j in range(_bounded(length, what, buf)))


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8") if raw else ""


# ----------------------------------------------------------------------------- parsing


def _parse(buf: bytes) -> ModelFile:
    model = _schema.Model.GetRootAs(buf, 0)
    version = model.Version()
    if version != SCHEMA_VERSION:
        raise ModelFileError(
            f"the TFLite flatbuffer has schema version {version}; TFLite runtimes load only "
            f"version {SCHEMA_VERSION}",
            _FIX,
        )
    subgraph_count = _bounded(model.SubgraphsLength(), "subgraphs", buf)
    if subgraph_count == 0:
        raise ModelFileError("the TFLite model has no subgraphs (nothing to run)", _FIX)
    n_buffers = _bounded(model.BuffersLength(), "buffers", buf)
    buffer_bytes = _BufferReader(model, buf, n_buffers)
    graph = model.Subgraphs(0)
    n_tensors = _bounded(graph.TensorsLength(), "tensors", buf)
    tensors = tuple(_tensor(graph.Tensors(i), i, buffer_bytes) for i in range(n_tensors))
    opnames = _opcode_names(model, buf)
    ops = tuple(_op(graph.Operators(i), i, opnames, n_tensors, buf)
                for i in range(_bounded(graph.OperatorsLength(), "operators", buf)))
    inputs = _int_vector(graph.InputsLength(), graph.Inputs, "subgraph inputs", buf)
    outputs = _int_vector(graph.OutputsLength(), graph.Outputs, "subgraph outputs", buf)
    _check_indices(inputs + outputs, n_tensors, "subgraph 0 input/output")
    return ModelFile(
        version=version,
        description=_text(model.Description()),
        tensors=tensors,
        ops=ops,
        inputs=inputs,
        outputs=outputs,
        subgraph_count=subgraph_count,
        metadata_buffers=_metadata_buffers(model, buf, buffer_bytes),
    )


class _BufferReader:
    """Returns a buffer's bytes, stored inline (data vector) or after the flatbuffer (offset/size)."""

    def __init__(self, model, buf: bytes, count: int):
        self._model, self._buf, self.count = model, buf, count

    def __call__(self, index: int, owner: str) -> memoryview | None:
        if not 0 <= index < self.count:
            raise ModelFileError(
                f"{owner} refers to buffer {index}, but the model has {self.count} buffers "
                "(corrupted file)",
                _FIX,
            )
        entry = self._model.Buffers(index)
        if entry.DataLength() > 0:
            return memoryview(entry.DataAsNumpy())
        offset, size = entry.Offset(), entry.Size()
        if offset > 1 and size > 0:  # data stored outside the flatbuffer (models > 2 GB)
            if offset + size > len(self._buf):
                raise ModelFileError(
                    f"{owner}'s buffer {index} lies at bytes {offset}..{offset + size}, past the end "
                    f"of the {len(self._buf)}-byte file (truncated file)",
                    _FIX,
                )
            return memoryview(self._buf)[offset:offset + size]
        return None


def _quantization(tensor) -> tuple[tuple[float, ...], tuple[int, ...], int]:
    q = tensor.Quantization()
    if q is None:
        return (), (), 0
    scales = tuple(float(s) for s in q.ScaleAsNumpy()) if q.ScaleLength() else ()
    zero_points = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else ()
    return scales, zero_points, int(q.QuantizedDimension())


def _tensor(tensor, index: int, buffer_bytes: _BufferReader) -> TensorInfo:
    name = _text(tensor.Name())
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    type_code = tensor.Type()
    dtype = _TYPE_NAMES.get(type_code, f"tensortype_{type_code}")
    scales, zero_points, qdim = _quantization(tensor)
    sparse = tensor.Sparsity() is not None
    raw = buffer_bytes(tensor.Buffer(), f"tensor {index} ({name!r})")
    data = None if raw is None else _constant_values(raw, dtype, shape, sparse, f"tensor {index} ({name!r})")
    return TensorInfo(index, name, shape, dtype, scales, zero_points, qdim, data, sparse)


def _constant_values(raw: memoryview, dtype: str, shape: tuple[int, ...], sparse: bool,
                     owner: str) -> np.ndarray:
    if dtype == "int4":
        values = _unpack_int4(np.frombuffer(raw, dtype=np.uint8))
    elif dtype in _NUMPY_DTYPES:
        item = np.dtype(_NUMPY_DTYPES[dtype]).itemsize
        if len(raw) % item:
            raise ModelFileError(
                f"{owner}: its buffer holds {len(raw)} bytes, not a whole number of {dtype} values "
                "(corrupted file)",
                _FIX,
            )
        values = np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype])
    else:
        return np.frombuffer(raw, dtype=np.uint8)
    if sparse:
        return values
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if dtype == "int4" and values.size in (count, count + 1):
        values = values[:count]
    if any(d < 0 for d in shape) or values.size != count:
        raise ModelFileError(
            f"{owner}: its buffer holds {values.size} {dtype} values but its shape {shape} needs "
            f"{count} (corrupted file)",
            _FIX,
        )
    return values.reshape(shape)


def _unpack_int4(packed: np.ndarray) -> np.ndarray:
    """TFLite packs two int4 values per byte, the first in the low nibble."""
    low = (packed.astype(np.int8) << 4) >> 4
    high = packed.astype(np.int8) >> 4
    return np.stack([low, high], axis=1).reshape(-1)


def _opcode_names(model, buf: bytes) -> tuple[str, ...]:
    names = []
    for i in range(_bounded(model.OperatorCodesLength(), "operator codes", buf)):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # schema_util's rule
        if builtin == _CUSTOM:
            names.append(_text(code.CustomCode()) or "CUSTOM")
        else:
            names.append(_OP_NAMES.get(builtin, f"BUILTIN_{builtin}"))
    return tuple(names)


def _op(op, index: int, opnames: tuple[str, ...], n_tensors: int, buf: bytes) -> OpInfo:
    code = op.OpcodeIndex()
    if code >= len(opnames):
        raise ModelFileError(
            f"op {index} uses operator code {code}, but the model defines {len(opnames)} (corrupted file)",
            _FIX,
        )
    inputs = _int_vector(op.InputsLength(), op.Inputs, "op inputs", buf)
    outputs = _int_vector(op.OutputsLength(), op.Outputs, "op outputs", buf)
    _check_indices(inputs + outputs, n_tensors, f"op {index} ({opnames[code]})")
    return OpInfo(index, opnames[code], inputs, outputs, _fused_activation(op))


def _check_indices(indices: tuple[int, ...], n_tensors: int, owner: str) -> None:
    bad = [i for i in indices if not -1 <= i < n_tensors]
    if bad:
        raise ModelFileError(
            f"{owner} refers to tensor {bad[0]}, but subgraph 0 has {n_tensors} tensors (corrupted file)",
            _FIX,
        )


def _fused_activation(op) -> str | None:
    """The FusedActivationFunction of the op's builtin options, if that options table has one."""
    options_type = op.BuiltinOptionsType()
    cls = getattr(_schema, _OPTION_NAMES.get(options_type, ""), None)
    if not options_type or cls is None or not hasattr(cls, "FusedActivationFunction"):
        return None
    table = op.BuiltinOptions()
    if table is None:
        return None
    options = cls()
    options.Init(table.Bytes, table.Pos)
    act = options.FusedActivationFunction()
    return None if act == 0 else _ACTIVATION_NAMES.get(act, f"ACTIVATION_{act}")


def _metadata_buffers(model, buf: bytes, buffer_bytes: _BufferReader) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for i in range(_bounded(model.MetadataLength(), "metadata entries", buf)):
        entry = model.Metadata(i)
        name = _text(entry.Name())
        raw = buffer_bytes(entry.Buffer(), f"metadata {name!r}")
        out.setdefault(name, b"" if raw is None else bytes(raw))
    return out
