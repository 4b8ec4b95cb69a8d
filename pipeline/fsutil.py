"""Atomic file output: a reader (or a crash) never sees a half-written artifact."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from pipeline.errors import OutputError


def ensure_writable_dir(path: Path) -> Path:
    """Create `path` (and parents) and prove we can write into it, or raise OutputError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        raise OutputError(
            f"output directory {path} is not writable ({exc.strerror or exc})",
            "choose another location with --out, or fix its permissions (chmod u+w)",
        ) from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh sibling folder to fill; on success it replaces `final` in one rename.

    On any error the staging folder is removed and `final` is left exactly as it was.
    """
    final = Path(final)
    ensure_writable_dir(final.parent)
    remove_stale(final.parent, f".{final.name}.staging-")
    remove_stale(final.parent, f".{final.name}.old-")
    stage = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.staging-{os.getpid()}-"))
    os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual folder mode
    try:
        yield stage
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}-{stage.name[-8:]}")
            os.replace(final, old)
        os.replace(stage, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def remove_stale(parent: Path, prefix: str, marker: str = "") -> list[Path]:
    """Remove the folders `<parent>/<prefix>...<marker><pid>-*` whose process is gone: a killed
    run's staging or temporary folders (ones without a pid, from an older version, too)."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for path in entries:
        name = path.name
        if not name.startswith(prefix) or (marker and marker not in name[len(prefix):]):
            continue
        rest = name[len(prefix):]
        pid = rest.split(marker, 1)[1] if marker else rest
        pid = pid.split("-", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, fix: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (a file beside what it guards) or refuse at once.

    A second process that asks while the first holds it gets OutputError naming the holder's
    pid; the lock goes with the process, so a killed run never leaves it taken. The file is
    removed on release (a killed run's file is only a name: the next run takes it over).
    """
    path = Path(path)
    ensure_writable_dir(path.parent)
    handle = _locked(path, what, fix)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: a waiting opener re-checks the inode
        handle.close()


def _locked(path: Path, what: str, fix: str):
    """The open, flock-ed lock file at `path` (the same inode as the name), or OutputError."""
    import fcntl

    while True:
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise OutputError(f"{what} is being written by {holder}", fix) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # the holder removed that name as we opened it: take the new one


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
