"""Small helpers every stage shares: progress lines, stage timers, versions, output tails."""

from __future__ import annotations

import platform
import sys
import time
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Iterator

Log = Callable[[str], None]

# The packages whose versions decide what a model run produces (recorded in report.json).
RUNTIME_PACKAGES = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert",
                    "mediapipe", "numpy")


def log(msg: str) -> None:
    """A progress line on stderr (stdout is kept for results)."""
    print(msg, file=sys.stderr, flush=True)


def quiet(msg: str) -> None:
    """A log that drops every line."""


class Timer:
    """Times named steps (`with timer("convert"):`) into `times`, announcing each through `log`.

    `prefix` goes before the announcement ("==> " for the model stages); `log=None` is silent.
    """

    def __init__(self, log: Log | None = log, prefix: str = "==> "):
        self.times: dict[str, float] = {}
        self.log = log
        self.prefix = prefix

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        if self.log is not None:
            self.log(f"{self.prefix}{step}")
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[step] = round(time.perf_counter() - t0, 3)


def package_version(package: str, missing: str | None = "?") -> str | None:
    """The installed version of `package`, or `missing` when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return missing


def package_versions(packages=RUNTIME_PACKAGES) -> dict:
    """Python, machine and the given packages' versions (None when not installed)."""
    out = {"python": platform.python_version(), "machine": platform.machine()}
    out.update({pkg: package_version(pkg, None) for pkg in packages})
    return out


def output_tail(text: str | None, lines: int = 1, sep: str = " | ", width: int | None = None,
                empty: str = "no output") -> str:
    """The last `lines` non-blank lines of a tool's output, joined by `sep` (cut at `width`)."""
    kept = [line.strip() for line in (text or "").splitlines() if line.strip()][-lines:]
    joined = sep.join(kept)
    if width is not None:
        joined = joined[:width]
    return joined or empty


def first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
