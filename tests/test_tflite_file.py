"""pipeline.tflite_file: parse real converted models; refuse anything else with ModelFileError."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import _models  # noqa: I001  (puts the checkout on sys.path, builds the tiny models)
from pipeline.errors import ModelFileError
from pipeline.tflite_file import ModelFile, TensorInfo, parse_model


@pytest.fixture(scope="module")
def float_bytes() -> bytes:
    return _models.float_model()


@pytest.fixture(scope="module")
def int8_bytes() -> bytes:
    return _models.int8_model()


def _by_op(model: ModelFile, opcode: str):
    return next(op for op in model.ops if op.opcode == opcode)


def test_float_model_structure(float_bytes):
    model = parse_model(float_bytes)
    assert model.version == 3
    assert model.subgraph_count == 1
    assert model.description == "MLIR Converted."
    assert model.op_counts() == {"CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1}
    image, scores = model.tensor(model.inputs[0]), model.tensor(model.outputs[0])
    assert (image.shape, image.dtype, image.is_constant) == ((1, 8, 8, 3), "float32", False)
    assert (scores.shape, scores.dtype) == ((1, 3), "float32")
    assert image.scales == () and image.zero_points == ()
    assert _by_op(model, "CONV_2D").fused_activation == "RELU"
    assert _by_op(model, "SOFTMAX").fused_activation is None
    assert "min_runtime_version" in model.metadata_buffers
    assert model.metadata_buffers["min_runtime_version"].rstrip(b"\0") == b"1.6.0"


def test_float_weights_are_the_keras_weights(float_bytes):
    """Constant data is read from the right buffer, in the right dtype and layout."""
    model = parse_model(float_bytes)
    kernel, bias = _models.keras_model().get_layer("conv").get_weights()
    dense_kernel, dense_bias = _models.keras_model().get_layer("dense").get_weights()
    conv = _by_op(model, "CONV_2D")
    fc = _by_op(model, "FULLY_CONNECTED")
    np.testing.assert_array_equal(model.tensor(conv.inputs[1]).data, kernel.transpose(3, 0, 1, 2))  # HWIO -> OHWI
    np.testing.assert_array_equal(model.tensor(conv.inputs[2]).data, bias)
    np.testing.assert_array_equal(model.tensor(fc.inputs[1]).data, dense_kernel.T)
    np.testing.assert_array_equal(model.tensor(fc.inputs[2]).data, dense_bias)
    assert model.tensor(conv.inputs[1]).data.dtype == np.float32


def test_int8_model_quantization(int8_bytes):
    model = parse_model(int8_bytes)
    assert model.op_counts() == {"QUANTIZE": 2, "CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1}
    image, scores = model.tensor(model.inputs[0]), model.tensor(model.outputs[0])
    assert (image.dtype, image.zero_points) == ("uint8", (0,))
    assert image.scales[0] == pytest.approx(1 / 255)
    assert (scores.dtype, scores.zero_points, scores.scales) == ("uint8", (0,), (1 / 256,))
    conv = _by_op(model, "CONV_2D")
    assert conv.fused_activation == "RELU"
    weights = model.tensor(conv.inputs[1])
    assert (weights.dtype, weights.shape, weights.quantized_dimension) == ("int8", (4, 3, 3, 3), 0)
    assert len(weights.scales) == 4 and weights.zero_points == (0, 0, 0, 0)
    kernel = _models.keras_model().get_layer("conv").get_weights()[0].transpose(3, 0, 1, 2)
    scales = np.asarray(weights.scales)[:, None, None, None]
    assert np.all(np.abs(weights.data * scales - kernel) <= scales / 2 + 1e-9)
    bias = model.tensor(conv.inputs[2])
    assert bias.dtype == "int32" and bias.is_constant
    activation = model.tensor(conv.outputs[0])
    assert activation.dtype == "int8" and not activation.is_constant and len(activation.scales) == 1


def test_tensor_index_and_equality(int8_bytes):
    model = parse_model(int8_bytes)
    assert model.tensor(0) is model.tensors[0]
    last = len(model.tensors) - 1
    with pytest.raises(IndexError, match=rf"tensor index 99 is out of range 0\.\.{last}$"):
        model.tensor(99)
    assert parse_model(int8_bytes) == model  # data arrays take no part in equality
    assert isinstance(model.tensors[0], TensorInfo)


def test_omitted_optional_input_is_minus_one(float_bytes):
    def drop_fc_bias(model):
        fc = next(op for op in model.subgraphs[0].operators if len(op.inputs) == 3 and op.opcodeIndex != 0)
        fc.inputs = [*fc.inputs[:2], -1]

    fc = _by_op(parse_model(_models.repack(float_bytes, drop_fc_bias)), "FULLY_CONNECTED")
    assert fc.inputs[2] == -1


def test_trailing_zip_is_ignored(int8_bytes):
    out = io.BytesIO(int8_bytes)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("labels.txt", "a\nb\nc\n")
    assert parse_model(out.getvalue()) == parse_model(int8_bytes)


def test_buffers_stored_after_the_flatbuffer(int8_bytes):
    """Buffer.offset/size (the >2 GB layout): same tensors; LiteRT runs it the same."""
    moved = _models.with_external_buffers(int8_bytes)
    original, parsed = parse_model(int8_bytes), parse_model(moved)
    assert parsed == original
    for a, b in zip(original.tensors, parsed.tensors):
        assert (a.data is None) == (b.data is None)
        if a.data is not None:
            np.testing.assert_array_equal(a.data, b.data)
    images = _models.sample_images(2)
    np.testing.assert_array_equal(_models.run_tflite(moved, images), _models.run_tflite(int8_bytes, images))
    with pytest.raises(ModelFileError, match=r"past the end of the .*-byte file \(truncated file\)"):
        parse_model(moved[:-20])


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(200)


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("model.tflite", b"x" * 100)
    return out.getvalue()


FIX = ("pass the .tflite file written by tf.lite.TFLiteConverter (convert() output), "
       "not a renamed or partly copied file")


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "the data is too short to be a TFLite model (0 bytes; a TFLite flatbuffer starts with a "
              "4-byte root offset and the identifier 'TFL3')"),
        (b"1234567", "the data is too short to be a TFLite model (7 bytes; a TFLite flatbuffer starts "
                     "with a 4-byte root offset and the identifier 'TFL3')"),
        (_png(), "the data is not a TFLite model: the file identifier 'TFL3' is missing (it looks like a PNG image)"),
        (_zip(), "the data is not a TFLite model: the file identifier 'TFL3' is missing (it looks like a zip "
                 "archive (a Keras .keras file, an .aar/.apk or a zipped model?))"),
        (b"\x00" * 4 + b"ABCD" + bytes(20), "the data is not a TFLite model: the file identifier 'TFL3' is "
                                            "missing (bytes 4..8 are b'ABCD')"),
        (b"\xff\xff\x00\x00TFL3" + bytes(20), "the TFLite flatbuffer's root offset 65535 lies outside the "
                                              "28-byte file (truncated or corrupted)"),
    ],
    ids=["empty", "7-bytes", "png", "zip", "other-identifier", "root-offset"],
)
def test_not_a_model_exact_messages(data, problem):
    with pytest.raises(ModelFileError) as info:
        parse_model(data)
    assert info.value.problem == problem
    assert str(info.value) == f"{problem} - {FIX}"


def test_random_bytes():
    data = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    with pytest.raises(ModelFileError, match="file identifier 'TFL3' is missing"):
        parse_model(data)
    forged = data[:4] + b"TFL3" + data[8:]  # right identifier, garbage body
    with pytest.raises(ModelFileError):
        parse_model(forged)


def test_not_bytes():
    with pytest.raises(ModelFileError, match=r"expected the model as bytes, got str - read the file first"):
        parse_model("model.tflite")


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
def test_truncated_model(int8_bytes, fraction):
    with pytest.raises(ModelFileError):
        parse_model(int8_bytes[: max(8, int(len(int8_bytes) * fraction))])


def test_every_truncation_point(float_bytes):
    for cut in range(0, len(float_bytes), 7):
        with pytest.raises(ModelFileError):
            parse_model(float_bytes[:cut])


@pytest.mark.parametrize("which", ["float", "int8"])
def test_corrupted_bytes_never_escape_as_other_errors(which):
    """Random byte edits either still parse or raise ModelFileError - nothing else."""
    data = _models.float_model() if which == "float" else _models.int8_model()
    rng = random.Random(1)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(8, len(mutated))] = rng.randrange(256)
        try:
            parse_model(bytes(mutated))
            outcomes["parsed"] += 1
        except ModelFileError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100


def test_wrong_schema_version(float_bytes):
    def set_version(model):
        model.version = 2

    with pytest.raises(ModelFileError, match="schema version 2; TFLite runtimes load only version 3"):
        parse_model(_models.repack(float_bytes, set_version))


def test_out_of_range_tensor_index(float_bytes):
    def break_op(model):
        op = model.subgraphs[0].operators[0]
        op.inputs = [99, *op.inputs[1:]]

    count = len(parse_model(float_bytes).tensors)
    with pytest.raises(ModelFileError, match=rf"op 0 \(CONV_2D\) refers to tensor 99, but subgraph 0 has {count} tensors"):
        parse_model(_models.repack(float_bytes, break_op))


def test_import_is_cheap():
    """tflite_file, metadata and quantspec load neither TensorFlow nor mediapipe."""
    code = ("import sys; import pipeline.tflite_file, pipeline.metadata, pipeline.quantspec; "
            "print(sorted(m for m in ('tensorflow', 'mediapipe', 'tf_keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=_models.ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
