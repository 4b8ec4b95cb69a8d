"""Quiet by default: what TensorFlow's and LiteRT's C++ code prints straight to file descriptor 2.

Some of it comes before Python can configure anything (absl's `I0000 ...` lines while the
libraries load) or bypasses logging levels (`INFO: Created TensorFlow Lite XNNPACK delegate`,
the converter's `fully_quantize: 0, ...`). `native_stderr_captured()` sends descriptor 2 to a
temporary file around such a call and replays it if the call raises, so a failure still shows
everything. With `PIPELINE_VERBOSE=1` (every task's `--verbose`) nothing is captured.
No TensorFlow import here: TF-free modules (mlkit, validate) use it too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

VERBOSE_ENV = "PIPELINE_VERBOSE"


def verbose() -> bool:
    """True when the user asked for the native logs (`--verbose` / PIPELINE_VERBOSE=1)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextlib.contextmanager
def native_stderr_captured(enabled: bool | None = None):
    """Send file descriptor 2 (C++ prints) to a temporary file; replay it if the body raises."""
    if not (not verbose() if enabled is None else enabled):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
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
    finally:
        os.close(saved)
