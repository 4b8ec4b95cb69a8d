"""Content-hashed stage cache: a stage whose inputs and options are unchanged is reused.

Layout: `<out_dir>/.cache/<stage>/<key>/`. A key hashes the upstream key, the stage's options
and `CACHE_VERSION` (bump it when a stage's code changes what it produces). Entries are written
to a temporary folder and renamed into place, so a crash never leaves a half entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Callable, TypeVar

from pipeline.fsutil import remove_stale

CACHE_VERSION = 1
T = TypeVar("T")


def stage_key(*parts) -> str:
    """A short, stable hash of JSON-able parts (dataclasses are hashed by their fields)."""
    norm = [asdict(p) if is_dataclass(p) else p for p in parts]
    text = json.dumps([CACHE_VERSION, *norm], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class StageCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def get_or_make(self, stage: str, key: str, make: Callable[[Path], None],
                    load: Callable[[Path], T]) -> tuple[T, bool]:
        """Return (`load(entry)`, reused?); on a miss (or when disabled) `make(tmp)` fills it."""
        final = self.entry(stage, key)
        if self.enabled and (final / ".complete").exists():
            return load(final), True
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(final.parent, ".", marker=".tmp-")  # killed runs' half entries
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}.tmp-{os.getpid()}-"))
        try:
            make(tmp)
            (tmp / ".complete").write_text(key)
            _publish(tmp, final, replace=not self.enabled)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return load(final), False


def _publish(tmp: Path, final: Path, replace: bool) -> None:
    """Rename `tmp` to `final`. An entry another process completed meanwhile (two workers of
    one machine making the same one) is kept and `tmp` dropped, unless `replace` (a rebuild)."""
    if (final / ".complete").exists() and not replace:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if final.exists():
        shutil.rmtree(final)
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / ".complete").exists():  # not another process's finished entry
            raise
        shutil.rmtree(tmp, ignore_errors=True)
