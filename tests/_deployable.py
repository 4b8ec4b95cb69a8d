"""One helper for "this is a deployable model": what every shipped int8 model must be."""

from __future__ import annotations

import pytest

from pipeline.quantspec import check_quantization
from pipeline.tflite_file import parse_model


def assert_deployable(model: bytes, recorded: dict | None = None, *, shape=None, classes=None) -> None:
    """Full int8 with uint8 I/O (scale 1/255 in, 1/256 out, zero points 0), the int8 spec read from
    the file (weights in [-127, 127] with zero point 0, activation zero points in [-128, 127],
    int32 biases), one SOFTMAX; `recorded`: the variant's entry in report.json, which must agree."""
    parsed = parse_model(model)
    checks = check_quantization(parsed, io_dtype="uint8")
    assert checks and all(c.ok for c in checks), [str(c) for c in checks if not c.ok]
    assert parsed.op_counts().get("SOFTMAX") == 1
    weights = [t for t in parsed.tensors if t.is_constant and t.dtype == "int8"]
    assert weights
    for t in weights:
        assert t.data.min() >= -127 and t.data.max() <= 127
        assert set(t.zero_points) == {0}
    for t in parsed.tensors:
        if not t.is_constant and t.dtype == "int8":
            assert len(t.zero_points) == 1 and -128 <= t.zero_points[0] <= 127
    biases = [parsed.tensor(op.inputs[2]) for op in parsed.ops
              if op.opcode in ("CONV_2D", "FULLY_CONNECTED") and len(op.inputs) > 2 and op.inputs[2] >= 0]
    assert biases and all(b.dtype == "int32" for b in biases)
    if recorded is not None:
        _assert_recorded_io(recorded, shape, classes)


def _assert_recorded_io(v: dict, shape, classes) -> None:
    io = v["io"]
    assert io["input"]["dtype"] == "uint8" and io["output"]["dtype"] == "uint8"
    assert io["input"]["scale"] == pytest.approx(1 / 255) and io["input"]["zero_point"] == 0
    assert io["output"]["scale"] == pytest.approx(1 / 256) and io["output"]["zero_point"] == 0
    assert v["quantization_ok"], [c for c in v["quantization_checks"] if not c["ok"]]
    if shape is not None:
        assert io["input"]["shape"] == [1, *shape, 3]
    if classes is not None:
        assert io["output"]["shape"] == [1, classes]
