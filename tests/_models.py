"""Tiny converted models shared by the tflite_file / metadata / quantspec tests (built once per run).

Conv2D(4, 3) -> ReLU -> GlobalAveragePooling -> Dense(3) -> Softmax on an 8x8x3 input, converted
to a float32 model and to a full-int8 model with uint8 input/output.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the tests import `pipeline` from the checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipeline._tf import keras, tf  # noqa: E402

SIZE = 8
CLASSES = 3
LABELS = ("cat", "dog", "bird")


def sample_images(n: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 RGB images, N x 8 x 8 x 3."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


def _bias():
    return keras.initializers.RandomUniform(-0.2, 0.2, seed=1)


@functools.lru_cache(maxsize=None)
def keras_model():
    """The tiny classifier; inputs are pixels / 255 (float in [0, 1])."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, name="conv", bias_initializer=_bias())(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(CLASSES, name="dense", bias_initializer=_bias())(x)
    outputs = keras.layers.Softmax()(x)
    return keras.Model(inputs, outputs)


def _representative():
    for image in sample_images(16, seed=1):
        yield [image[None].astype(np.float32) / 255.0]


@functools.lru_cache(maxsize=None)
def float_model() -> bytes:
    """float32 in / float32 out; the input is the normalized image (p / 255)."""
    return tf.lite.TFLiteConverter.from_keras_model(keras_model()).convert()


@functools.lru_cache(maxsize=None)
def int8_model() -> bytes:
    """Full int8, uint8 input (scale 1/255) and uint8 output (scale 1/256)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return converter.convert()


def run_tflite(model: bytes, batch: np.ndarray) -> np.ndarray:
    """Run the model on each image of `batch` (already in the input dtype) with LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    results = []
    for item in batch:
        interpreter.set_tensor(inp, item[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(results)


def repack(model: bytes, edit) -> bytes:
    """Rebuild `model` through the TFLite object API after `edit(model_t)` changed it."""
    import flatbuffers

    from pipeline.tflite_file import schema_module

    schema = schema_module()
    obj = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    edit(obj)
    builder = flatbuffers.Builder(0)
    builder.Finish(obj.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def with_external_buffers(model: bytes) -> bytes:
    """`model` with every weight buffer moved after the flatbuffer (Buffer.offset/size, as >2 GB models do)."""
    import flatbuffers

    from pipeline.tflite_file import schema_module

    schema = schema_module()
    obj = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    keep = {entry.buffer for entry in obj.metadata or []}
    moved = {}
    for i, buf in enumerate(obj.buffers):
        if i not in keep and buf.data is not None and len(buf.data):
            moved[i] = np.asarray(buf.data, dtype=np.uint8).tobytes()
            buf.data, buf.offset, buf.size = None, 1 << 40, len(moved[i])  # placeholder, same packed size

    def pack() -> bytes:
        builder = flatbuffers.Builder(0)
        builder.Finish(obj.Pack(builder), b"TFL3")
        return bytes(builder.Output())

    length = len(pack())
    start = -(-length // 16) * 16
    tail = b""
    for i, data in moved.items():
        obj.buffers[i].offset = start + len(tail)
        tail += data + b"\0" * (-len(data) % 16)
    flat = pack()
    assert len(flat) == length
    return flat + b"\0" * (start - length) + tail
