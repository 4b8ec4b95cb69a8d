"""The one place that imports TensorFlow: legacy Keras (tf_keras) must be selected first.

tfmot fails on Keras 3, and it sets TF_USE_LEGACY_KERAS itself on import, so import order
decides which Keras the whole process gets. Every module imports `tf`, `keras`, `tfmot` from here.

Quiet by default (see `pipeline._quiet`): `TF_CPP_MIN_LOG_LEVEL=3`, set before the import,
silences TensorFlow's C++ logs from then on (`E0000 ... failed call to cuInit`, `NodeDef mentions
attribute ...`); the lines absl writes while the libraries load (`I0000 ... cudart_stub.cc] Could
not find cuda drivers`, before `absl::InitializeLog()`) ignore it, so the import runs with stderr's
descriptor captured. TensorFlow's and absl's Python loggers are set to ERROR. With
PIPELINE_VERBOSE=1 (the tasks' `--verbose`) nothing is silenced.
"""

from __future__ import annotations

import os

from pipeline._quiet import native_stderr_captured, verbose

os.environ["TF_USE_LEGACY_KERAS"] = "1"
if not verbose():
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

with native_stderr_captured():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402
    import tensorflow_model_optimization as tfmot  # noqa: E402

if not verbose():
    import absl.logging  # noqa: E402 - installed with TensorFlow

    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)

__all__ = ["tf", "keras", "tfmot", "native_stderr_captured"]
