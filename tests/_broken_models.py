"""Tiny models that break one ML Kit requirement each, and untrusted non-models (for test_mlkit).

Every model is the 8x8x3 -> 3-class classifier of `_models` (or a variant of its graph), converted
once per test session (each conversion takes ~0.3 s). The broken models get their metadata from
`attach_metadata`, because `write_metadata` rightly refuses most of them (int8 input, no
normalization, wrong label count, two inputs, NCHW): it builds the same image-classifier metadata
with the knobs the tests need and packs it with `pipeline.metadata`'s own (private)
buffer-insertion and zip helpers.
"""

from __future__ import annotations

import functools
import io
import zipfile

import flatbuffers
import numpy as np

from _models import (CLASSES, LABELS, SIZE, _bias, _representative, float_model, int8_model,
                     keras_model)
from pipeline import metadata as md
from pipeline._tf import keras, tf
from pipeline.metadata import ModelMetadata, write_metadata

FLOAT_MEAN, FLOAT_STD = (0.0,), (255.0,)  # the tiny models take pixels / 255


def good_meta(io_dtype: str) -> ModelMetadata:
    lo, hi = (0.0, 255.0) if io_dtype == "uint8" else (0.0, 1.0)
    return ModelMetadata(
        name="tiny", description="8x8 RGB test classifier", version="1", author="tests",
        license="Apache-2.0", labels=LABELS, mean=FLOAT_MEAN, std=FLOAT_STD,
        input_min=lo, input_max=hi,
    )


@functools.lru_cache(maxsize=None)
def good_uint8() -> bytes:
    """Deployable-style: full int8, uint8 in / uint8 out, metadata with labels."""
    return write_metadata(int8_model(), good_meta("uint8"))


@functools.lru_cache(maxsize=None)
def good_float32() -> bytes:
    """float32 in / out, metadata with NormalizationOptions (mean 0, std 255) and labels."""
    return write_metadata(float_model(), good_meta("float32"))


def attach_metadata(model: bytes, *, labels=LABELS, normalization=True,
                    labels_type: str = "TENSOR_AXIS_LABELS") -> bytes:
    """Image-classifier metadata without write_metadata's checks: for deliberately broken models.

    One input-tensor entry per model input (NormalizationOptions only if `normalization`), one
    output entry with `labels` packed as `labels.txt` of type `labels_type`.
    """
    from pipeline.tflite_file import parse_model

    mfb = md._mfb()
    parsed = parse_model(model)
    inputs = []
    for _ in parsed.inputs:
        tensor = mfb.TensorMetadataT()
        tensor.name = "image"
        tensor.content = mfb.ContentT()
        tensor.content.contentPropertiesType = mfb.ContentProperties.ImageProperties
        tensor.content.contentProperties = mfb.ImagePropertiesT()
        tensor.content.contentProperties.colorSpace = mfb.ColorSpaceType.RGB
        if normalization:
            norm = mfb.NormalizationOptionsT()
            norm.mean, norm.std = list(FLOAT_MEAN), list(FLOAT_STD)
            unit = mfb.ProcessUnitT()
            unit.optionsType = mfb.ProcessUnitOptions.NormalizationOptions
            unit.options = norm
            tensor.processUnits = [unit]
        inputs.append(tensor)
    scores = mfb.TensorMetadataT()
    scores.name = "probability"
    scores.content = mfb.ContentT()
    scores.content.contentPropertiesType = mfb.ContentProperties.FeatureProperties
    scores.content.contentProperties = mfb.FeaturePropertiesT()
    labels_file = mfb.AssociatedFileT()
    labels_file.name = "labels.txt"
    labels_file.type = getattr(mfb.AssociatedFileType, labels_type)
    scores.associatedFiles = [labels_file]
    graph = mfb.SubGraphMetadataT()
    graph.inputTensorMetadata = inputs
    graph.outputTensorMetadata = [scores] * len(parsed.outputs)
    root = mfb.ModelMetadataT()
    root.name = "broken"
    root.subgraphMetadata = [graph]
    root.minParserVersion = "1.0.0"
    builder = flatbuffers.Builder(1024)
    builder.Finish(root.Pack(builder), md.METADATA_IDENTIFIER)
    flat = md._insert_metadata_buffer(model, bytes(builder.Output()))
    return md._append_zip(flat, {"labels.txt": "".join(f"{x}\n" for x in labels).encode()})


# ------------------------------------------------------------------------------ graph variants


def _convert(model, *, quantize: bool = False, input_type=None, output_type=None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = input_type
        converter.inference_output_type = output_type
    return converter.convert()


def _head(x, softmax: bool = True):
    x = keras.layers.Conv2D(4, 3, bias_initializer=_bias())(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(CLASSES, bias_initializer=_bias())(x)
    return keras.layers.Softmax()(x) if softmax else x


def _model(build):
    keras.utils.set_random_seed(0)
    return build()


@functools.lru_cache(maxsize=None)
def int8_input() -> bytes:
    return attach_metadata(_convert(keras_model(), quantize=True, input_type=tf.int8,
                                    output_type=tf.uint8))


@functools.lru_cache(maxsize=None)
def int8_output() -> bytes:
    return attach_metadata(_convert(keras_model(), quantize=True, input_type=tf.uint8,
                                    output_type=tf.int8))


@functools.lru_cache(maxsize=None)
def float_without_normalization() -> bytes:
    return attach_metadata(float_model(), normalization=False)


@functools.lru_cache(maxsize=None)
def nchw_input() -> bytes:
    def build():
        inputs = keras.Input((3, SIZE, SIZE))
        return keras.Model(inputs, _head(keras.layers.Permute((2, 3, 1))(inputs)))

    return attach_metadata(_convert(_model(build)))


@functools.lru_cache(maxsize=None)
def output_3d() -> bytes:
    def build():
        inputs = keras.Input((SIZE, SIZE, 3))
        return keras.Model(inputs, keras.layers.Reshape((1, CLASSES))(_head(inputs)))

    return attach_metadata(_convert(_model(build)))


@functools.lru_cache(maxsize=None)
def output_4d() -> bytes:
    """1x1x1xN output: allowed by ML Kit (this one passes)."""
    def build():
        inputs = keras.Input((SIZE, SIZE, 3))
        return keras.Model(inputs, keras.layers.Reshape((1, 1, CLASSES))(_head(inputs)))

    return attach_metadata(_convert(_model(build)))


@functools.lru_cache(maxsize=None)
def two_inputs() -> bytes:
    def build():
        a, b = keras.Input((SIZE, SIZE, 3)), keras.Input((SIZE, SIZE, 3))
        return keras.Model([a, b], _head(keras.layers.Add()([a, b])))

    return attach_metadata(_convert(_model(build)))


@functools.lru_cache(maxsize=None)
def no_softmax() -> bytes:
    def build():
        inputs = keras.Input((SIZE, SIZE, 3))
        return keras.Model(inputs, _head(inputs, softmax=False))

    return attach_metadata(_convert(_model(build)))


def no_metadata() -> bytes:
    return int8_model()


@functools.lru_cache(maxsize=None)
def wrong_label_count() -> bytes:
    return attach_metadata(float_model(), labels=(*LABELS, "fish"))


@functools.lru_cache(maxsize=None)
def labels_of_wrong_type() -> bytes:
    return attach_metadata(float_model(), labels_type="TENSOR_VALUE_LABELS")


# ------------------------------------------------------------------------------ untrusted files


def corrupt_labels_entry() -> bytes:
    """The good uint8 model with one byte of labels.txt's stored data flipped (CRC mismatch)."""
    data = bytearray(good_uint8())
    header = data.rindex(b"PK\x03\x04")
    name_len, extra_len = int.from_bytes(data[header + 26:header + 28], "little"), int.from_bytes(
        data[header + 28:header + 30], "little")
    start = header + 30 + name_len + extra_len
    data[start] ^= 0xFF
    return bytes(data)


def truncated_zip() -> bytes:
    """The good uint8 model cut inside its appended labels zip: flatbuffer intact, zip broken."""
    data = good_uint8()
    return data[:data.rindex(b"PK\x03\x04") + 20]


def png_renamed() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


def zip_renamed() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("model.tflite", good_uint8())
        archive.writestr("labels.txt", "cat\ndog\nbird\n")
    return out.getvalue()


def random_bytes(n: int = 4096, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def random_with_identifier(n: int = 4096, seed: int = 1) -> bytes:
    """Random bytes that pass the first sniff: a plausible root offset and the 'TFL3' identifier."""
    data = bytearray(random_bytes(n, seed))
    data[0:4] = (64).to_bytes(4, "little")
    data[4:8] = b"TFL3"
    return bytes(data)
