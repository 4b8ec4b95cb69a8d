"""pipeline.quantspec: the int8 spec holds on our converted model and fails, precisely, when broken."""

from __future__ import annotations

import numpy as np
import pytest

import _models  # noqa: I001  (puts the checkout on sys.path, builds the tiny models)
from pipeline.errors import ConfigError
from pipeline.quantspec import Check, check_quantization, op_graph_diff, weight_sparsity
from pipeline.tflite_file import parse_model, schema_module

NAMES = ["weights int8", "weights in [-127, 127]", "weights symmetric (zero point 0)",
         "activations int8, per-tensor", "biases int32, zero point 0", "input uint8", "output uint8"]


@pytest.fixture(scope="module")
def int8():
    return parse_model(_models.int8_model())


@pytest.fixture(scope="module")
def floaty():
    return parse_model(_models.float_model())


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def _conv(model):
    return next(op for op in model.ops if op.opcode == "CONV_2D")


def test_int8_model_passes(int8):
    checks = check_quantization(int8)
    assert [c.name for c in checks] == NAMES
    assert all(c.ok for c in checks), "\n".join(map(str, checks))
    by = _by_name(checks)
    image, scores = int8.tensor(int8.inputs[0]).name, int8.tensor(int8.outputs[0]).name
    assert by["input uint8"].detail == f"{image!r} uint8, scale 0.00392157 (1/255), zero point 0"
    assert by["output uint8"].detail == f"{scores!r} uint8, scale 0.00390625 (1/256), zero point 0"
    assert by["weights int8"].detail == "2 weight tensors, all int8"
    assert by["weights in [-127, 127]"].detail == "2 int8 weight tensors, values span [-127, 127], no -128"
    assert by["weights symmetric (zero point 0)"].detail == "all zero points 0; per-axis (dim 0): 2"
    assert by["biases int32, zero point 0"].detail == "2 biases int32, zero point 0, scale = input scale x weight scale"
    assert str(by["input uint8"]).startswith("✓ input uint8: ")


def test_float_model_fails(floaty):
    by = _by_name(check_quantization(floaty))
    assert not any(c.ok for c in by.values())
    assert by["weights int8"].detail.startswith("2 of 2 weight tensors are not int8: ")
    assert by["weights int8"].detail.count("float32") == 2
    assert by["weights in [-127, 127]"].detail == "no int8 weight tensors to check"
    assert by["activations int8, per-tensor"].detail.endswith("- the model is not fully int8")
    assert "is float32" in by["biases int32, zero point 0"].detail
    image = floaty.tensor(floaty.inputs[0]).name
    assert by["input uint8"].detail == f"{image!r} float32 (expected uint8)"
    assert str(by["input uint8"]).startswith("✗ input uint8: ")


def test_float_io_dtype(floaty):
    by = _by_name(check_quantization(floaty, io_dtype="float32"))
    assert by["input float32"].ok and by["output float32"].ok
    assert not by["weights int8"].ok


def test_bad_io_dtype(int8):
    with pytest.raises(ConfigError) as info:
        check_quantization(int8, io_dtype="int4")
    assert str(info.value) == ("io_dtype must be one of uint8, int8, float32, got 'int4' - use io_dtype='uint8' for "
                               "the deployable model (ML Kit reference models are uint8 in/out)")


def _mutated(edit) -> object:
    return parse_model(_models.repack(_models.int8_model(), edit))


def test_input_dtype_float32_fails():
    def to_float(model):
        graph = model.subgraphs[0]
        graph.tensors[graph.inputs[0]].type = schema_module().TensorType.FLOAT32

    model = _mutated(to_float)
    by = _by_name(check_quantization(model))
    name = model.tensor(model.inputs[0]).name
    assert not by["input uint8"].ok
    assert by["input uint8"].detail == f"{name!r} float32 (expected uint8)"
    assert by["output uint8"].ok


def test_weight_of_minus_128_fails():
    """Edit one byte of the conv weights in the file itself."""
    data = bytearray(_models.int8_model())
    model = parse_model(bytes(data))
    weights = model.tensor(_conv(model).inputs[1])
    root = schema_module().Model.GetRootAs(data, 0)
    buffer_index = root.Subgraphs(0).Tensors(weights.index).Buffer()
    view = root.Buffers(buffer_index).DataAsNumpy()  # a writable view into `data`
    view[5] = 0x80  # -128 as int8
    mutated = parse_model(bytes(data))
    assert mutated.tensor(weights.index).data.flat[5] == -128
    by = _by_name(check_quantization(mutated))
    assert not by["weights in [-127, 127]"].ok
    assert by["weights in [-127, 127]"].detail == (
        f"symmetric int8 weights never use -128, but {weights.name!r} has 1 x -128")
    assert by["weights int8"].ok


def test_weight_zero_point_fails():
    def shift_zero_point(model):
        graph = model.subgraphs[0]
        conv = next(op for op in graph.operators if len(op.inputs) == 3 and graph.tensors[op.inputs[1]].shape[0] == 4)
        quant = graph.tensors[conv.inputs[1]].quantization
        quant.zeroPoint = [3] + [0] * (len(quant.zeroPoint) - 1)

    model = _mutated(shift_zero_point)
    check = _by_name(check_quantization(model))["weights symmetric (zero point 0)"]
    name = model.tensor(_conv(model).inputs[1]).name
    assert not check.ok
    assert check.detail == f"{name!r} has zero point(s) [0, 3], not 0"


def test_per_tensor_weights_are_reported():
    def per_tensor(model):
        graph = model.subgraphs[0]
        for op in graph.operators:
            if len(op.inputs) == 3 and op.inputs[1] >= 0 and graph.tensors[op.inputs[1]].quantization is not None:
                quant = graph.tensors[op.inputs[1]].quantization
                if quant.scale is not None and len(quant.scale) > 1:
                    quant.scale, quant.zeroPoint = [float(max(quant.scale))], [0]
                    bias_quant = graph.tensors[op.inputs[2]].quantization
                    in_scale = graph.tensors[op.inputs[0]].quantization.scale[0]
                    bias_quant.scale, bias_quant.zeroPoint = [in_scale * quant.scale[0]], [0]

    by = _by_name(check_quantization(_mutated(per_tensor)))
    assert by["weights symmetric (zero point 0)"].detail == "all zero points 0; per-tensor: 2"
    assert by["biases int32, zero point 0"].ok


def test_bias_scale_mismatch_fails():
    def scale_bias(model):
        graph = model.subgraphs[0]
        conv = next(op for op in graph.operators if len(op.inputs) == 3 and graph.tensors[op.inputs[1]].shape[0] == 4)
        quant = graph.tensors[conv.inputs[2]].quantization
        quant.scale = [s * 2 for s in quant.scale]

    model = _mutated(scale_bias)
    check = _by_name(check_quantization(model))["biases int32, zero point 0"]
    bias = model.tensor(_conv(model).inputs[2]).name
    assert not check.ok
    assert check.detail == f"CONV_2D op 1 bias {bias!r} scale is not input scale x weight scale"


def test_activation_with_two_scales_fails(int8):
    target = int8.tensor(_conv(int8).outputs[0])

    def two_scales(model):
        quant = model.subgraphs[0].tensors[target.index].quantization
        quant.scale, quant.zeroPoint = [0.1, 0.2], [0, 0]

    check = _by_name(check_quantization(_mutated(two_scales)))["activations int8, per-tensor"]
    assert not check.ok
    assert check.detail == f"{target.name!r} has 2 scales/2 zero points (needs one of each)"


def test_weight_sparsity(int8, floaty):
    dense = weight_sparsity(int8)
    assert dense["total"] == 4 * 3 * 3 * 3 + 3 * 4
    assert set(dense) == {"overall", "zeros", "total", "tensors", "counts"}
    conv_name = int8.tensor(_conv(int8).inputs[1]).name
    assert dense["counts"][conv_name]["total"] == 108
    assert weight_sparsity(floaty)["zeros"] == 0

    data = bytearray(_models.int8_model())
    root = schema_module().Model.GetRootAs(data, 0)
    weights = int8.tensor(_conv(int8).inputs[1])
    view = root.Buffers(root.Subgraphs(0).Tensors(weights.index).Buffer()).DataAsNumpy()
    view[:54] = 0  # prune half of the conv kernel (first two output channels)
    pruned = parse_model(bytes(data))
    result = weight_sparsity(pruned)
    conv_zeros = int(np.count_nonzero(pruned.tensor(weights.index).data == 0))
    assert conv_zeros >= 54
    assert result["tensors"][conv_name] == conv_zeros / 108
    assert result["zeros"] == sum(c["zeros"] for c in result["counts"].values())
    assert result["overall"] == pytest.approx(result["zeros"] / 120)


def test_op_graph_diff(int8, floaty):
    diff = op_graph_diff(floaty, int8)
    assert diff["a"] == {"CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1}
    assert diff["added"] == {"QUANTIZE": 2}
    assert diff["removed"] == {} and diff["changed"] == {}
    assert diff["fused_activations"] == {"a": {"RELU": 1}, "b": {"RELU": 1}}
    assert op_graph_diff(int8, floaty)["removed"] == {"QUANTIZE": 2}
