"""Native (C++) prints to file descriptor 2 are captured unless --verbose; a failure replays them."""

import subprocess
import sys

_SCRIPT = """
import os, sys
from pipeline._quiet import native_stderr_captured
with native_stderr_captured():
    os.write(2, b"E0000 hidden native line\\n")
print("after", flush=True)
try:
    with native_stderr_captured():
        os.write(2, b"E0000 replayed because the call failed\\n")
        raise RuntimeError("boom")
except RuntimeError:
    pass
"""


def _run(env_verbose: str | None):
    import os

    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_VERBOSE"}
    if env_verbose is not None:
        env["PIPELINE_VERBOSE"] = env_verbose
    return subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          env=env, timeout=60)


def test_native_stderr_is_captured_and_replayed_on_failure():
    result = _run(None)
    assert result.returncode == 0, result.stderr
    assert "hidden native line" not in result.stderr
    assert "replayed because the call failed" in result.stderr
    assert result.stdout == "after\n"


def test_verbose_lets_native_stderr_through():
    result = _run("1")
    assert "hidden native line" in result.stderr
