"""The TFLite int8 quantization spec, checked on the converted file (docs/FACTS.md, "int8").

Source: tensorflow.org/lite/performance/quantization_spec. real = (q - zero_point) * scale.

* weights of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (/ TRANSPOSE_CONV): int8, symmetric
  (zero point 0, values in [-127, 127], never -128), per-axis or per-tensor;
* activations: int8, per-tensor (one scale > 0, one zero point in [-128, 127]); other int8
  constants (e.g. a constant operand of ADD/MUL) follow the activation rule: the spec treats them
  as asymmetric per-tensor inputs, so they are not held to the weight rule;
* biases: int32, zero point 0, scale = input scale x weight scale;
* the model's inputs and outputs have the deployable dtype (`io_dtype`).

`check_quantization` returns one `Check` per rule (printable as a ✓/✗ line); `weight_sparsity`
and `op_graph_diff` report what pruning and quantization did to the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pipeline.errors import ConfigError
from pipeline.tflite_file import ModelFile, TensorInfo

WEIGHT_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}
BIAS_INPUT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}
IO_DTYPES = ("uint8", "int8", "float32")
_FLOAT_LIKE = ("float32", "float16", "float64", "bfloat16")
_NOT_INT8_ACTIVATION = _FLOAT_LIKE + ("uint8", "int16")
_SHOWN = 3  # offenders named in a detail line


@dataclass(frozen=True)
class Check:
    """One rule's verdict: prints as a single ✓/✗ line."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


def check_quantization(model: ModelFile, *, io_dtype: str = "uint8") -> list[Check]:
    """Check `model` against the TFLite int8 spec with `io_dtype` inputs/outputs."""
    if io_dtype not in IO_DTYPES:
        raise ConfigError(
            f"io_dtype must be one of {', '.join(IO_DTYPES)}, got {io_dtype!r}",
            "use io_dtype='uint8' for the deployable model (ML Kit reference models are uint8 in/out)",
        )
    weights = _weight_tensors(model)
    return [
        _check_weight_dtype(weights),
        _check_weight_range(weights),
        _check_weight_zero_points(weights),
        _check_activations(model, weights),
        _check_biases(model),
        _check_io(model, "input", model.inputs, io_dtype),
        _check_io(model, "output", model.outputs, io_dtype),
    ]


def weight_sparsity(model: ModelFile) -> dict:
    """Fraction of (real-valued) zeros in the conv/depthwise/fc weight tensors, biases excluded.

    Returns {"overall": fraction, "zeros": n, "total": n, "tensors": {name: fraction},
    "counts": {name: {"zeros": n, "total": n}}}; a quantized value is zero when q == zero_point.
    """
    tensors, counts = {}, {}
    for tensor in _weight_tensors(model).values():
        zeros, total = _zero_count(tensor)
        name = tensor.name if tensor.name not in counts else f"{tensor.name}#{tensor.index}"
        counts[name] = {"zeros": zeros, "total": total}
        tensors[name] = zeros / total if total else 0.0
    zeros = sum(c["zeros"] for c in counts.values())
    total = sum(c["total"] for c in counts.values())
    return {"overall": zeros / total if total else 0.0, "zeros": zeros, "total": total,
            "tensors": tensors, "counts": counts}


def layer_sparsity(model: ModelFile) -> list[tuple[str, float]]:
    """[("#k OPCODE", zero fraction)] for each op with constant weights, in graph order.

    Float16 weights reach their op through a DEQUANTIZE: the constant behind it is counted.
    Zeros are counted as `_zero_count` counts them (per-axis zero points included).
    """
    out = []
    producers = {t: op for op in model.ops for t in op.outputs}
    for op in model.ops:
        w = model.op_input(op, WEIGHT_INPUT.get(op.opcode))
        if w is not None and not w.is_constant:
            prod = producers.get(w.index)
            w = model.tensor(prod.inputs[0]) if prod is not None and prod.opcode == "DEQUANTIZE" \
                and prod.inputs else None
        if w is None or not w.is_constant:
            continue
        zeros, total = _zero_count(w)
        out.append((f"#{len(out) + 1} {op.opcode}", float(zeros / max(total, 1))))
    return out


def op_graph_diff(a: ModelFile, b: ModelFile) -> dict:
    """Op counts of `a` and `b`, op types added/removed/changed from a to b, and fused activations."""
    ca, cb = a.op_counts(), b.op_counts()
    return {
        "a": ca,
        "b": cb,
        "added": {op: n for op, n in cb.items() if op not in ca},
        "removed": {op: n for op, n in ca.items() if op not in cb},
        "changed": {op: (ca[op], cb[op]) for op in ca if op in cb and ca[op] != cb[op]},
        "fused_activations": {"a": _fused(a), "b": _fused(b)},
    }


# ----------------------------------------------------------------------------- helpers


def _weight_tensors(model: ModelFile) -> dict[int, TensorInfo]:
    """Constant tensors consumed as weights by conv/depthwise/fc ops (each tensor once)."""
    found: dict[int, TensorInfo] = {}
    for op in model.ops:
        tensor = model.op_input(op, WEIGHT_INPUT.get(op.opcode))
        if tensor is not None and tensor.is_constant:
            found.setdefault(tensor.index, tensor)
    return found


def _names(tensors, describe=lambda t: repr(t.name)) -> str:
    tensors = list(tensors)
    shown = ", ".join(describe(t) for t in tensors[:_SHOWN])
    return shown + (f" and {len(tensors) - _SHOWN} more" if len(tensors) > _SHOWN else "")


def _fmt_scale(scale: float) -> str:
    if scale > 0 and np.isfinite(scale):
        inverse = 1.0 / scale
        if abs(inverse - round(inverse)) < 1e-3 * inverse:
            return f"{scale:.6g} (1/{round(inverse)})"
    return f"{scale:.6g}"


def _check_weight_dtype(weights: dict[int, TensorInfo]) -> Check:
    name = "weights int8"
    if not weights:
        return Check(name, True, "no CONV_2D/DEPTHWISE_CONV_2D/FULLY_CONNECTED weight tensors")
    bad = [t for t in weights.values() if t.dtype != "int8"]
    if bad:
        return Check(name, False, f"{len(bad)} of {len(weights)} weight tensors are not int8: "
                     + _names(bad, lambda t: f"{t.name!r} {t.dtype}"))
    return Check(name, True, f"{len(weights)} weight tensors, all int8")


def _check_weight_range(weights: dict[int, TensorInfo]) -> Check:
    name = "weights in [-127, 127]"
    int8 = [t for t in weights.values() if t.dtype == "int8"]
    if not int8:
        return Check(name, not weights, "no int8 weight tensors to check")
    minus = {t.index: int(np.count_nonzero(t.data == -128)) for t in int8}
    bad = [t for t in int8 if minus[t.index]]
    if bad:
        return Check(name, False, "symmetric int8 weights never use -128, but "
                     + _names(bad, lambda t: f"{t.name!r} has {minus[t.index]} x -128"))
    low = min(int(t.data.min()) for t in int8 if t.data.size)
    high = max(int(t.data.max()) for t in int8 if t.data.size)
    return Check(name, True, f"{len(int8)} int8 weight tensors, values span [{low}, {high}], no -128")


def _check_weight_zero_points(weights: dict[int, TensorInfo]) -> Check:
    name = "weights symmetric (zero point 0)"
    int8 = [t for t in weights.values() if t.dtype == "int8"]
    if not int8:
        return Check(name, not weights, "no int8 weight tensors to check")
    problems = [p for t in int8 if (p := _weight_quant_problem(t))]
    if problems:
        return Check(name, False, "; ".join(problems[:_SHOWN])
                     + (f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""))
    per_axis = [t for t in int8 if len(t.scales) > 1]
    per_tensor = [t for t in int8 if len(t.scales) == 1]
    dims = sorted({t.quantized_dimension for t in per_axis})
    parts = []
    if per_axis:
        parts.append(f"per-axis (dim {', '.join(map(str, dims))}): {len(per_axis)}")
    if per_tensor:
        parts.append(f"per-tensor: {len(per_tensor)}")
    return Check(name, True, "all zero points 0; " + ", ".join(parts))


def _weight_quant_problem(t: TensorInfo) -> str | None:
    if not t.scales or len(t.zero_points) != len(t.scales):
        return f"{t.name!r} has {len(t.scales)} scales and {len(t.zero_points)} zero points"
    if any(z != 0 for z in t.zero_points):
        return f"{t.name!r} has zero point(s) {sorted(set(t.zero_points))[:4]}, not 0"
    if not all(np.isfinite(s) and s > 0 for s in t.scales):
        return f"{t.name!r} has a scale that is not > 0"
    if len(t.scales) > 1:
        dim = t.quantized_dimension
        if not 0 <= dim < len(t.shape) or t.shape[dim] != len(t.scales):
            return f"{t.name!r} has {len(t.scales)} per-axis scales for dim {dim} of shape {t.shape}"
    return None


def _activation_problem(t: TensorInfo) -> str | None:
    if len(t.scales) != 1 or len(t.zero_points) != 1:
        return f"{t.name!r} has {len(t.scales)} scales/{len(t.zero_points)} zero points (needs one of each)"
    if not (np.isfinite(t.scales[0]) and t.scales[0] > 0):
        return f"{t.name!r} has scale {t.scales[0]} (needs > 0)"
    if not -128 <= t.zero_points[0] <= 127:
        return f"{t.name!r} has zero point {t.zero_points[0]} (needs [-128, 127])"
    return None


def _check_activations(model: ModelFile, weights: dict[int, TensorInfo]) -> Check:
    """int8 activations (and other int8 constants) are per-tensor; nothing inside stays float."""
    name = "activations int8, per-tensor"
    io = set(model.inputs) | set(model.outputs)
    inner = [t for t in model.tensors if t.index not in io and t.index not in weights]
    int8 = [t for t in inner if t.dtype == "int8"]
    not_int8 = [t for t in inner if not t.is_constant and t.dtype in _NOT_INT8_ACTIVATION]
    if not_int8:
        return Check(name, False, f"{len(not_int8)} activations are not int8: "
                     + _names(not_int8, lambda t: f"{t.name!r} {t.dtype}") + " - the model is not fully int8")
    problems = [p for t in int8 if (p := _activation_problem(t))]
    if problems:
        return Check(name, False, "; ".join(problems[:_SHOWN]))
    if not int8:
        return Check(name, False, "no int8 activations: the model is not quantized")
    constants = sum(t.is_constant for t in int8)
    zps = [t.zero_points[0] for t in int8]
    return Check(name, True, f"{len(int8) - constants} int8 activations (+{constants} int8 constants), "
                 f"one scale each, zero points in [{min(zps)}, {max(zps)}]")


def _check_biases(model: ModelFile) -> Check:
    name = "biases int32, zero point 0"
    problems, count = [], 0
    for op in model.ops:
        bias = model.op_input(op, BIAS_INPUT.get(op.opcode))
        if bias is None or not bias.is_constant:
            continue
        count += 1
        problem = _bias_problem(model, op, bias)
        if problem:
            problems.append(problem)
    if problems:
        return Check(name, False, "; ".join(problems[:_SHOWN])
                     + (f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""))
    if not count:
        return Check(name, True, "no constant biases")
    return Check(name, True, f"{count} biases int32, zero point 0, scale = input scale x weight scale")


def _bias_problem(model: ModelFile, op, bias: TensorInfo) -> str | None:
    where = f"{op.opcode} op {op.index} bias {bias.name!r}"
    if bias.dtype != "int32":
        return f"{where} is {bias.dtype}"
    if not bias.zero_points or any(z != 0 for z in bias.zero_points):
        return f"{where} has zero point(s) {sorted(set(bias.zero_points))[:4] or 'none'}, not 0"
    data_in = model.tensor(op.inputs[0]) if op.inputs[0] >= 0 else None
    weight = model.tensor(op.inputs[WEIGHT_INPUT[op.opcode]])
    if data_in is None or len(data_in.scales) != 1 or not weight.scales:
        return None
    expected = np.asarray(weight.scales) * data_in.scales[0]
    actual = np.asarray(bias.scales)
    if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=1e-3, atol=0):
        return f"{where} scale is not input scale x weight scale"
    return None


def _check_io(model: ModelFile, which: str, indices: tuple[int, ...], io_dtype: str) -> Check:
    name = f"{which} {io_dtype}"
    described, ok = [], True
    for t in (model.tensor(i) for i in indices):
        text = f"{t.name!r} {t.dtype}"
        if t.dtype != io_dtype:
            ok = False
            text += f" (expected {io_dtype})"
        if t.dtype in ("uint8", "int8"):
            if len(t.scales) == 1 and len(t.zero_points) == 1:
                text += f", scale {_fmt_scale(t.scales[0])}, zero point {t.zero_points[0]}"
            else:
                ok = False
                text += ", no (single) quantization scale/zero point"
        described.append(text)
    if not indices:
        return Check(name, False, f"the model has no {which}s")
    return Check(name, ok, "; ".join(described))


def _zero_count(t: TensorInfo) -> tuple[int, int]:
    """(zeros, elements) of a constant tensor; values not stored by a sparse tensor are zeros."""
    total = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
    data = t.data
    if t.dtype == "bfloat16":  # raw bytes; +0 and -0 are zero
        nonzero = int(np.count_nonzero(data.view("<u2") & 0x7FFF))
    elif t.dtype in _FLOAT_LIKE or not t.zero_points or all(z == 0 for z in t.zero_points) or t.sparse:
        nonzero = int(np.count_nonzero(data))
    else:
        zp = np.asarray(t.zero_points)
        if zp.size > 1:
            shape = [1] * data.ndim
            shape[t.quantized_dimension] = zp.size
            zp = zp.reshape(shape)
        nonzero = int(np.count_nonzero(data != zp))
    return total - nonzero, total


def _fused(model: ModelFile) -> dict[str, int]:
    return dict(Counter(op.fused_activation for op in model.ops if op.fused_activation))
