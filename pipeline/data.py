"""Datasets: the embedded default (scikit-learn's digits, offline) or a user's image folder.

Public entry point: `load_dataset(options, image_size) -> Dataset`. Images are RGB uint8
(N, S, S, 3) exactly as the app will see them after its resize; labels are int indices into
`class_names`. The split is stratified and deterministic for a given seed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import DataOptions
from pipeline.errors import DataError
from pipeline.imageops import IMAGE_SUFFIXES, ImageTooLargeError, load_rgb, resize_rgb

MIN_PER_CLASS = 3  # one each for train, validation and test


@dataclass(frozen=True)
class Dataset:
    """A split dataset. `skipped` lists (path, reason) for files that could not be used."""

    class_names: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[1])

    def summary(self) -> dict:
        def counts(y):
            return {n: int((y == i).sum()) for i, n in enumerate(self.class_names)}

        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "classes": list(self.class_names),
            "image_size": self.image_size,
            "counts": {
                "train": counts(self.y_train),
                "val": counts(self.y_val),
                "test": counts(self.y_test),
            },
            "totals": {
                "train": int(len(self.y_train)),
                "val": int(len(self.y_val)),
                "test": int(len(self.y_test)),
            },
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def load_dataset(options: DataOptions, image_size: int, progress=None) -> Dataset:
    """Load, resize and split the images named by `options` to `image_size` pixels square."""
    if options.data_dir is None:
        images, labels, names, skipped, source = _load_digits(image_size)
    else:
        images, labels, names, skipped, source = _load_folder(
            Path(options.data_dir).expanduser(), image_size, progress
        )
    parts = _split(labels, names, options)
    fp = dataset_key(options, image_size)
    return Dataset(
        class_names=tuple(names),
        x_train=images[parts[0]], y_train=labels[parts[0]],
        x_val=images[parts[1]], y_val=labels[parts[1]],
        x_test=images[parts[2]], y_test=labels[parts[2]],
        source=source, fingerprint=fp, skipped=tuple(skipped),
    )


def dataset_key(options: DataOptions, image_size: int, content: str | None = None) -> str:
    """Content hash of the raw inputs plus everything that shapes the split and the pixels.

    `content`: `fingerprint_source(options)` when the caller has computed it already."""
    return hashlib.sha256(
        f"{content or fingerprint_source(options)}|{image_size}|{options.val_fraction}|"
        f"{options.test_fraction}|{options.seed}|resize-v1".encode()
    ).hexdigest()


def fingerprint_source(options: DataOptions) -> str:
    """A content hash of the raw inputs (file bytes and class names), for the stage cache."""
    if options.data_dir is None:
        import sklearn

        return f"sklearn-digits-{sklearn.__version__}"
    root = Path(options.data_dir).expanduser()
    _check_root(root)
    digest = hashlib.sha256()
    classes, skipped = _class_folders(root)
    for name, files in classes:
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        for f in files:
            digest.update(f.name.encode("utf-8", "surrogateescape") + b"\0")
            try:
                with open(f, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
            except OSError as exc:  # the load skips it too; its name and the reason still count
                digest.update(f"\0unreadable {exc.errno}\0".encode())
    for path, reason in skipped:  # relative: the key must not depend on where the folder is
        digest.update(f"{os.path.relpath(path, root)}\0{reason}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# The embedded default: scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels).

def _load_digits(image_size: int):
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (N, 8, 8)
    rgb = np.repeat(gray[..., None], 3, axis=3)
    images = np.stack([resize_rgb(im, image_size, image_size) for im in rgb])
    names = [str(i) for i in range(10)]
    return (images, digits.target.astype(np.int64), names, [],
            "embedded: scikit-learn digits (8x8 -> RGB)")


# ---------------------------------------------------------------------------------------------
# A user's folder: one subfolder per class.

def _check_root(root: Path) -> None:
    if not root.exists():
        raise DataError(
            f"data folder {root} does not exist",
            "pass --data with a folder holding one subfolder of images per class",
        )
    if not root.is_dir():
        raise DataError(
            f"data path {root} is a file, not a folder",
            "pass --data with a folder holding one subfolder of images per class",
        )


def _class_folders(root: Path) -> tuple[list[tuple[str, list[Path]]], list[tuple[str, str]]]:
    """Sorted (class name, sorted files) for each visible subfolder, and the (path, reason) of
    entries that cannot be used (unreadable folders, broken or looping links, FIFOs...)."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"data folder {root} cannot be read ({exc.strerror})",
                        "check its permissions (chmod u+rx)") from None
    classes, skipped = [], []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        kind = _kind(entry)
        if kind != "dir":
            if kind != "file" and not kind.startswith("not a regular"):
                skipped.append((entry.path, kind))  # a plain file beside the classes is ignored
            continue
        _check_label(entry.name, root)
        inside = _scan(Path(entry.path), skipped)
        if inside is None:
            continue
        files = []
        for e in inside:
            if e.name.startswith("."):
                continue
            kind = _kind(e)
            if kind == "file":
                files.append(Path(e.path))
            elif kind != "dir":  # subfolders of a class folder are not searched
                skipped.append((e.path, kind))
        classes.append((entry.name, files))
    if not classes:
        raise DataError(
            f"data folder {root} has no class subfolders",
            "put the images of each class in its own subfolder, e.g. "
            f"{root}/cats/*.jpg and {root}/dogs/*.jpg",
        )
    _check_distinct(root, classes)
    return classes, skipped


def _scan(folder: Path, skipped: list) -> list[os.DirEntry] | None:
    """The folder's entries sorted by name; None (and a skipped entry) if it cannot be read."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        skipped.append((str(folder), f"class folder cannot be read ({exc.strerror}), so it is "
                                     "not a class - check its permissions (chmod u+rx)"))
        return None


def _kind(entry: os.DirEntry) -> str:
    """"file", "dir", "other" (a FIFO, socket or device: never opened), or why a link is unusable."""
    try:
        st = os.stat(entry.path)  # follows links; a loop or a dangling link fails here
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (it points back to itself)"
        if entry.is_symlink():
            return f"broken symbolic link (its target is missing: {exc.strerror})"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "not a regular file (a FIFO, socket or device): never read"


def _check_distinct(root: Path, classes) -> None:
    seen: dict[str, str] = {}
    for name, _ in classes:
        key = unicodedata.normalize("NFC", name).casefold()
        if key in seen:
            raise DataError(
                f"class folders {seen[key]!r} and {name!r} in {root} differ only in case or "
                "Unicode form, so they would be the same label on the phone",
                "merge or rename one of them",
            )
        seen[key] = name


def _check_label(name: str, root: Path) -> None:
    where = f"class folder {name.encode('utf-8', 'surrogateescape')!r} in {root}"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{where} is not valid UTF-8, so it cannot be a label",
                        "rename the folder using UTF-8 characters") from None
    if name != name.strip() or any(unicodedata.category(c).startswith("C") for c in name):
        raise DataError(
            f"class folder {name!r} in {root} has leading/trailing spaces or control characters, "
            "which cannot be a label (labels are lines of labels.txt)",
            "rename the folder to a plain name such as 'golden_retriever'",
        )


def _load_folder(root: Path, image_size: int, progress):
    _check_root(root)
    classes, skipped = _class_folders(root)
    if len(classes) < 2:
        unread = [Path(p).name for p, r in skipped if r.startswith("class folder cannot be read")]
        also = f" ({', '.join(unread)} cannot be read)" if unread else ""
        raise DataError(
            f"data folder {root} has a single class ({classes[0][0]!r}){also}; a classifier "
            "needs two or more",
            "add a subfolder of images for each other class" + (", or fix the permissions of "
                                                                 "the unreadable ones" if unread else ""),
        )
    images, labels = [], []
    total = sum(len(files) for _, files in classes)
    done = 0
    for index, (name, files) in enumerate(classes):
        loaded = 0
        for f in files:
            done += 1
            if progress:
                progress(done, total)
            reason = _unusable(f)
            if reason:
                skipped.append((str(f), reason))
                continue
            rgb = _decode(f, skipped)
            if rgb is None:
                continue
            if rgb.shape[0] == 0 or rgb.shape[1] == 0:
                skipped.append((str(f), "image has zero width or height"))
                continue
            images.append(resize_rgb(rgb, image_size, image_size))
            labels.append(index)
            loaded += 1
        _check_class_count(root, name, loaded, [s for s in skipped if Path(s[0]).parent.name == name])
    return (np.stack(images), np.asarray(labels, dtype=np.int64), [n for n, _ in classes],
            skipped, f"folder: {root}")


def _decode(path: Path, skipped: list) -> np.ndarray | None:
    """The file's RGB pixels, or None after listing why it cannot be used."""
    from PIL import Image

    try:
        return load_rgb(path)
    except (ImageTooLargeError, Image.DecompressionBombError) as exc:
        skipped.append((str(path), f"too large to decode safely, a decompression bomb? ({exc})"))
    except PermissionError as exc:
        skipped.append((str(path), f"cannot be read ({exc.strerror}) - check its permissions"))
    except MemoryError:
        skipped.append((str(path), "not enough memory to decode it"))
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError, ...
        skipped.append((str(path), f"not a readable image ({type(exc).__name__}: {exc})"))
    return None


def _unusable(path: Path) -> str | None:
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return f"not an image file (suffix {path.suffix or 'none'}; expected {', '.join(IMAGE_SUFFIXES)})"
    return None


def _check_class_count(root, name, loaded, skipped_here):
    if loaded == 0:
        listed = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped_here[:5])
        more = f" (+{len(skipped_here) - 5} more)" if len(skipped_here) > 5 else ""
        raise DataError(
            f"class {name!r} in {root} has no readable images"
            + (f" ({len(skipped_here)} skipped: {listed}{more})" if skipped_here else " (folder is empty)"),
            f"add JPEG/PNG/BMP/GIF/WebP images to {root / name} or remove the folder",
        )
    if loaded < MIN_PER_CLASS:
        raise DataError(
            f"class {name!r} in {root} has {loaded} usable image(s); at least {MIN_PER_CLASS} are "
            "needed to split it into train, validation and test",
            f"add images to {root / name} or remove the folder",
        )


def split_indices(labels: np.ndarray, num_classes: int, options: DataOptions):
    """(train, val, test) index arrays of the split `load_dataset` makes of these labels.

    Lets a data generator know which files will land in the test split (pipeline.synthetic).
    """
    return _split(np.asarray(labels), range(num_classes), options)


def _split(labels: np.ndarray, names, options: DataOptions):
    """Stratified, seeded split: per class, shuffle, then take test, val, and the rest to train."""
    rng = np.random.default_rng(options.seed)
    train, val, test = [], [], []
    for c in range(len(names)):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_test = min(max(1, int(round(n * options.test_fraction))), n - 2)
        n_val = min(max(1, int(round(n * options.val_fraction))), n - n_test - 1)
        test.append(idx[:n_test])
        val.append(idx[n_test:n_test + n_val])
        train.append(idx[n_test + n_val:])
    return tuple(np.sort(np.concatenate(p)) for p in (train, val, test))
