"""Load untrusted `.tflite` bytes in the LiteRT interpreter without risking this process.

The interpreter can abort or segfault on a malformed flatbuffer, or ask for gigabytes, so
`InterpreterProbe` runs the load (create, allocate, one invoke on zero inputs) in a child
process with a timeout and an address-space cap, and turns a crash, hang or memory blow-up
into a failed `ProbeResult`. `pipeline.mlkit` uses it for its "loads in the LiteRT
interpreter" requirement; it knows nothing about ML Kit.

    with InterpreterProbe(timeout_s=30) as probe:
        result = probe.load(data)      # ProbeResult(ok, detail); never raises for the model
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.errors import ConfigError

# An input larger than this many elements is not invoked (a mutated shape can ask for gigabytes).
_MAX_PROBE_INPUT_ELEMENTS = 1 << 24




@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """What the child interpreter said: `ok`, and a one-line `detail` (the error, or a summary)."""

    ok: bool
    detail: str


class InterpreterProbe:
    """A long-lived child process that loads models into the LiteRT interpreter.

    Each `load(data)` creates an interpreter from the bytes, allocates tensors and runs one
    invoke on zero inputs. If the child crashes (abort, segfault), exceeds `timeout_s`, or
    runs out of its `memory_limit_mb` address space, the result is a failed `ProbeResult`
    naming what happened, and a fresh child is started for the next load. Reusing one probe
    for many files avoids ~0.2 s of interpreter start-up per file:

        with InterpreterProbe() as probe:
            reports = [check_mlkit(p, probe=probe) for p in paths]
    """

    def __init__(self, *, timeout_s: float = 30.0, memory_limit_mb: int = 4096):
        if not timeout_s > 0:
            raise ConfigError(f"InterpreterProbe timeout_s must be > 0, got {timeout_s}",
                              "pass a positive number of seconds")
        if memory_limit_mb < 256:
            raise ConfigError(f"InterpreterProbe memory_limit_mb must be >= 256, got {memory_limit_mb}",
                              "the interpreter alone needs ~160 MB of address space")
        self.timeout_s = float(timeout_s)
        self.memory_limit_mb = int(memory_limit_mb)
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._buffer = b""
        self.restarts = 0  # children replaced after a crash or timeout (for tests and reports)

    def __enter__(self) -> InterpreterProbe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._buffer = b""

    def load(self, data: bytes) -> ProbeResult:
        """Load `data` in the child interpreter; never raises for anything the model does."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        proc = self._proc
        err_start = self._stderr.seek(0, os.SEEK_END)
        try:
            proc.stdin.write(len(data).to_bytes(8, "little") + data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(err_start)
        line = self._read_line(time.monotonic() + self.timeout_s)
        if line is _TIMED_OUT:
            self._kill()
            return ProbeResult(False, f"the interpreter did not finish within {self.timeout_s:g} s")
        if line is None:
            return self._died(err_start)
        reply = json.loads(line)
        ok, detail = bool(reply["ok"]), str(reply["detail"])
        if not ok and detail.endswith("failed: RuntimeError"):  # no message: it went to stderr
            last = self._stderr_tail(err_start)
            detail = f"{detail} ({last})" if last else detail
        return ProbeResult(ok, detail)

    def _start(self) -> None:
        self.close()
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
        )
        self._buffer = b""

    def _command(self) -> list[str]:
        """The child's command line (tests replace it with children that crash or hang)."""
        code = f"from pipeline.probe import _serve_probe; _serve_probe({self.memory_limit_mb})"
        return [sys.executable, "-c", code]

    def _read_line(self, deadline: float):
        """The child's next reply line; None if it closed the channel (died); `_TIMED_OUT`."""
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _TIMED_OUT
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return _TIMED_OUT
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        self._proc.wait()
        self.restarts += 1
        self.close()

    def _died(self, err_start: int) -> ProbeResult:
        proc = self._proc
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        code = proc.returncode
        last = self._stderr_tail(err_start)
        if code is not None and code < 0:
            try:
                how = f"crashed ({signal.Signals(-code).name})"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        self._kill()
        return ProbeResult(False, f"the interpreter {how}" + (f" ({last})" if last else ""))

    def _stderr_tail(self, start: int) -> str:
        """The last meaningful line the child wrote to stderr since offset `start`."""
        self._stderr.seek(start)
        text = self._stderr.read().decode("utf-8", "replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("INFO:")]
        return lines[-1][:200] if lines else ""


_TIMED_OUT = object()


def _serve_probe(memory_limit_mb: int) -> None:
    """Child side of `InterpreterProbe`: read length-prefixed models on stdin, answer JSON lines."""
    import resource

    reply_channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # native code printing to stdout must not corrupt the reply channel
    limit = memory_limit_mb << 20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    requests = sys.stdin.buffer
    while True:
        header = requests.read(8)
        if len(header) < 8:
            return
        data = requests.read(int.from_bytes(header, "little"))
        stage = ["creating the interpreter"]
        try:
            reply = {"ok": True, "detail": _probe_in_this_process(data, stage)}
        except MemoryError:
            reply = {"ok": False, "detail": f"{stage[0]} ran out of memory (limit {memory_limit_mb} MB)"}
        except Exception as exc:  # noqa: BLE001 - anything the interpreter raises is the verdict
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            what = f"{stage[0]} failed: {type(exc).__name__}"
            reply = {"ok": False, "detail": f"{what}: {first}" if first else what}
        reply_channel.write(json.dumps(reply) + "\n")
        reply_channel.flush()


def _probe_in_this_process(data: bytes, stage: list[str]) -> str:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=1)
    stage[0] = "allocate_tensors"
    interpreter.allocate_tensors()
    stage[0] = "setting zero inputs"
    inputs = interpreter.get_input_details()
    for detail in inputs:
        size = int(np.prod(detail["shape"]))
        if size > _MAX_PROBE_INPUT_ELEMENTS:
            shape = "x".join(str(int(d)) for d in detail["shape"])
            raise ValueError(f"input tensor {detail['index']} has shape {shape} ({size} elements), "
                             "too large to run")
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    stage[0] = "invoke"
    interpreter.invoke()
    outputs = interpreter.get_output_details()
    return f"allocated and invoked ({len(inputs)} input(s), {len(outputs)} output(s))"
