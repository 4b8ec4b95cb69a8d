"""The one place that imports TensorFlow: legacy Keras (tf_keras) must be selected first.

tfmot fails on Keras 3, and it sets TF_USE_LEGACY_KERAS itself on import, so import order
decides which Keras the whole process gets. Every module imports `tf`, `keras`, `tfmot` from here.

Quiet by default: TensorFlow's C++ runtime logs through absl before Python can configure
anything (`I0000 ... cudart_stub.cc] Could not find cuda drivers`, `E0000 ... failed call to
cuInit`, `NodeDef mentions attribute ...`). `TF_CPP_MIN_LOG_LEVEL=3` (set before the import)
silences the C++ logs from then on; the lines absl writes while TensorFlow's libraries load
(before `absl::InitializeLog()`) ignore it, so stderr's file descriptor is captured during the
import and replayed only if the import fails. Python-side TF and absl loggers are set to ERROR.
With `PIPELINE_VERBOSE=1` (the tasks' `--verbose`) nothing is silenced.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

VERBOSE_ENV = "PIPELINE_VERBOSE"
VERBOSE = os.environ.get(VERBOSE_ENV, "") not in ("", "0")

os.environ["TF_USE_LEGACY_KERAS"] = "1"
if not VERBOSE:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


@contextlib.contextmanager
def native_stderr_captured(enabled: bool = not VERBOSE):
    """Send file descriptor 2 (C++ prints) to a temporary file; replay it if the body raises."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


with native_stderr_captured():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402
    import tensorflow_model_optimization as tfmot  # noqa: E402

if not VERBOSE:
    import absl.logging  # noqa: E402 - installed with TensorFlow

    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)

__all__ = ["tf", "keras", "tfmot", "VERBOSE_ENV", "native_stderr_captured"]
