"""Hostile and mistaken inputs: each one is a clean one-line error (or a listed skip), never a
traceback, a hang or a memory blow-up, and it leaves earlier good outputs byte-identical.

Every CLI case runs the real Invoke program (in this process, or as a subprocess for the few
that check the whole command line) against a workspace holding a good `models/good/` and
`dist/good-debug.apk`; after each case the workspace's files must be unchanged. All of them fail
before any TensorFlow import or training.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from invoke import Collection, Program
from PIL import Image

from pipeline.config import DataOptions, load_config
from pipeline.data import fingerprint_source, load_dataset
from pipeline.errors import ConfigError, DataError, DeviceError, ModelFileError
from pipeline.imageops import APP_MAX_PIXELS, MAX_DECODE_PIXELS, load_rgb, sample_factor
from pipeline.mlkit import check_mlkit

ROOT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"
_spec = importlib.util.spec_from_file_location("_tasks_under_test", ROOT / "tasks.py")
TASKS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(TASKS)


# ------------------------------------------------------------------------------ the workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Earlier good outputs: a model folder and an APK (their bytes must never change)."""
    root = tmp_path_factory.mktemp("ws")
    model = root / "models" / "good"
    model.mkdir(parents=True)
    (model / "model.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 8)
    (model / "labels.txt").write_text("cat\ndog\n")
    (model / "report.json").write_text('{"deployable": "pruned_int8"}\n')
    (root / "dist").mkdir()
    (root / "dist" / "good-debug.apk").write_bytes(b"PK\x03\x04" + bytes(512))
    return root


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".toml"}


@pytest.fixture
def unchanged(ws):
    """Asserts after the test that models/ and dist/ hold exactly the same bytes as before."""
    before = _files(ws / "models") | {f"dist/{k}": v for k, v in _files(ws / "dist").items()}
    yield ws
    after = _files(ws / "models") | {f"dist/{k}": v for k, v in _files(ws / "dist").items()}
    assert after == before


@contextlib.contextmanager
def _deadline(seconds: int):
    """Turn a hang into a test failure (a FIFO read that waits forever, for instance)."""
    def _raise(*_):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _cli(capsys, *argv) -> tuple[int, str, str]:
    """Run `invoke <argv>` in this process: (exit code, stdout, stderr)."""
    program = Program(namespace=Collection.from_module(TASKS), binary="invoke")
    code = 0
    with _deadline(60):
        try:
            program.run(["invoke", *map(str, argv)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _one_clean_line(code: int, out: str, err: str, *expected: str, exit_code: int = 2,
                    after_progress: bool = False) -> str:
    """The error contract: exit code, one `error: problem - fix` line, no traceback (with
    `after_progress`, stage progress lines may come before it)."""
    assert "Traceback" not in out + err
    assert code == exit_code, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if after_progress:
        assert [ln for ln in lines if ln.startswith("error")] == lines[-1:], err
        lines = lines[-1:]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: ") and " - " in line, line
    for text in expected:
        assert text in line, (text, line)
    return line


def _toml(ws: Path, text: str | bytes) -> Path:
    path = ws / "hostile.toml"
    path.write_bytes(text if isinstance(text, bytes) else textwrap.dedent(text).encode())
    return path


# ------------------------------------------------------------------------------ --config and TOML


def test_config_file_that_does_not_exist(capsys, unchanged):
    res = _cli(capsys, "model", "--name", "good", "--out", unchanged / "models",
               "--config", unchanged / "nope.toml")
    _one_clean_line(*res, "config file", "nope.toml does not exist", "--config")


def test_config_that_is_a_folder(capsys, unchanged):
    res = _cli(capsys, "model", "--name", "good", "--out", unchanged / "models",
               "--config", unchanged / "models")
    _one_clean_line(*res, "is a folder, not a file", "--config")


def test_config_that_is_a_fifo(capsys, unchanged, tmp_path):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    res = _cli(capsys, "model", "--name", "good", "--out", unchanged / "models", "--config", fifo)
    _one_clean_line(*res, "is not a regular file")


@pytest.mark.parametrize("text, expected", [
    ("name = 5\n", ["name = 5 is not text", "hostile.toml", "in quotes"]),
    ("out_dir = 5\n", ["out_dir = 5 is not text"]),
    ("[data]\ndata_dir = 5\n", ["data.data_dir = 5 is not text", "hostile.toml"]),
    ("[train]\nepochs = [1, 2]\n", ["train.epochs = [1, 2] is not a number", "whole number"]),
    ("[train]\nepochs = 2.5\n", ["train.epochs = 2.5 is not a whole number"]),
    ("[train]\nbatch_size = \"big\"\n", ["train.batch_size = 'big' is not a number"]),
    ("[train]\nlearning_rate = nan\n", ["train.learning_rate = nan is not a finite number"]),
    ("[train]\nlearning_rate = inf\n", ["train.learning_rate = inf is not a finite number"]),
    ("[prune]\nfinal_sparsity = -inf\n", ["prune.final_sparsity = -inf is not a finite number"]),
    ("[trian]\nepochs = 3\n", ["unknown section [trian]", "did you mean 'train'?"]),
    ("[train]\nepoch = 3\n", ["unknown option 'train.epoch'", "did you mean 'train.epochs'?"]),
    ("nmae = \"x\"\n", ["unknown option 'nmae'", "did you mean 'name'?"]),
    ("train = 5\n", ["train = 5 in", "is not a table", "[train] header"]),
    ("[validate]\nmediapipe = 5\n", ["validate.mediapipe = 5 is not a boolean", "true or false"]),
    ("[validate]\nthreads = [1.5]\n", ["validate.threads = 1.5 is not a whole number"]),
    ("[prune]\nm_by_n = [1, 2, 3]\n", ["is not a valid M:N pattern", "[2, 4]"]),
    ("[convert]\nvariants = [1]\n", ["convert.variants has 1, which is not text"]),
    ("[data]\nimage_size = true\n", ["data.image_size = True is not a number"]),
    ("[data]\nseed = -1\n", ["data.seed = -1 is out of range [0, 4294967295]"]),
    ("[train\n", ["is not valid TOML", "fix the file"]),
    (b"[train]\nepochs = 3 # \xff\xfe\n", ["is not valid TOML"]),
])
def test_bad_toml(capsys, unchanged, text, expected):
    path = _toml(unchanged, text)
    res = _cli(capsys, "model", "--name", "good", "--out", unchanged / "models", "--config", path)
    _one_clean_line(*res, *expected)


# ------------------------------------------------------------------------------ model options


@pytest.mark.parametrize("args, expected", [
    (["--seed", "-1"], ["(--seed) = -1 is out of range [0, 4294967295]"]),
    (["--seed", "4294967296"], ["(--seed) = 4294967296 is out of range"]),
    (["--learning-rate", "nan"], ["train.learning_rate (--learning-rate) = nan is not a finite"]),
    (["--learning-rate", "inf"], ["(--learning-rate) = inf is not a finite number"]),
    (["--final-sparsity", "nan"], ["(--final-sparsity) = nan is not a finite number"]),
    (["--max-accuracy-drop", "nan"], ["(--max-accuracy-drop) = nan is not a finite number"]),
    (["--epochs", "abc"], ["train.epochs (--epochs) = 'abc' is not a number"]),
    (["--epochs", "2.5"], ["train.epochs (--epochs) = '2.5' is not a number"]),
    (["--batch-size", "0"], ["(--batch-size) = 0 is out of range [1, 4096]"]),
    (["--image-size", "4"], ["(--image-size) = 4 is out of range [8, 1024]"]),
    (["--variants", "int4"], ["convert variant 'int4' is unknown"]),
    (["--weights", "/nonexistent/w.h5"], ["--weights /nonexistent/w.h5 is not a file"]),
    (["--weights", "/dev/zero"], ["--weights /dev/zero is not a file"]),
])
def test_bad_model_option(capsys, unchanged, args, expected):
    res = _cli(capsys, "model", "--name", "good", "--out", unchanged / "models", *args)
    _one_clean_line(*res, *expected)


def test_bad_name(capsys, unchanged):
    res = _cli(capsys, "model", "--name", "../evil", "--out", unchanged / "models")
    _one_clean_line(*res, "name (--name) = '../evil' cannot name a model folder")


def test_data_that_is_a_file(capsys, unchanged):
    res = _cli(capsys, "model", "--name", "good", "--out", unchanged / "models",
               "--data", unchanged / "dist" / "good-debug.apk")
    _one_clean_line(*res, "is a file, not a folder", "--data")


# ------------------------------------------------------------------------------ build-apk


def test_build_apk_unknown_abi_fails_before_training(capsys, unchanged):
    res = _cli(capsys, "build-apk", "--name", "never-built", "--out", unchanged / "models",
               "--dist", unchanged / "dist", "--abis", "mips")
    _one_clean_line(*res, "unknown ABI 'mips'", "arm64-v8a")
    assert not (unchanged / "models" / "never-built").exists()


def test_build_apk_dist_that_is_a_file(capsys, unchanged):
    res = _cli(capsys, "build-apk", "--name", "never-built", "--out", unchanged / "models",
               "--dist", unchanged / "dist" / "good-debug.apk")
    _one_clean_line(*res, "--dist", "good-debug.apk", "pass --dist with a folder")


def test_build_apk_release_without_signing_settings(capsys, unchanged, monkeypatch):
    for var in ("APK_KEYSTORE", "APK_KEYSTORE_PASSWORD", "APK_KEY_ALIAS"):
        monkeypatch.delenv(var, raising=False)
    res = _cli(capsys, "build-apk", "--name", "never-built", "--out", unchanged / "models",
               "--dist", unchanged / "dist", "--release")
    _one_clean_line(*res, "release signing is not configured", "APK_KEYSTORE")


def test_build_apk_release_keystore_missing(capsys, unchanged, monkeypatch):
    monkeypatch.setenv("APK_KEYSTORE", str(unchanged / "missing.jks"))
    monkeypatch.setenv("APK_KEYSTORE_PASSWORD", "secret")
    monkeypatch.setenv("APK_KEY_ALIAS", "upload")
    res = _cli(capsys, "build-apk", "--name", "never-built", "--out", unchanged / "models",
               "--dist", unchanged / "dist", "--release")
    line = _one_clean_line(*res, "missing.jks (APK_KEYSTORE) does not exist")
    assert "secret" not in line


# ------------------------------------------------------------------------------ emulator-test


@pytest.mark.parametrize("args, expected", [
    (["--max-changed", "abc"], ["--max-changed 'abc' is not a whole number"]),
    (["--max-changed", "-1"], ["--max-changed -1 is below 0"]),
    (["--threads", "0"], ["--threads 0 is below 1"]),
    (["--threads", "99"], ["threads must be in [1, 16], got 99"]),
    (["--timeout", "soon"], ["--timeout 'soon' is not a whole number"]),
    (["--install-timeout", "0"], ["--install-timeout 0 is below 1"]),
    (["--adb-timeout", "-5"], ["--adb-timeout -5 is below 1"]),
])
def test_bad_emulator_test_option(capsys, unchanged, args, expected):
    res = _cli(capsys, "emulator-test", "--name", "good", "--out", unchanged / "models", *args)
    _one_clean_line(*res, *expected)


def test_timed_out_adb_leaves_no_child(tmp_path):
    """A hanging adb (and the helper it forked) is killed as a group when its time is up."""
    from pipeline.android.device import list_devices

    pid_file = tmp_path / "helper.pid"
    adb = tmp_path / "adb"
    adb.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nwait\n")
    adb.chmod(0o755)
    with pytest.raises(DeviceError) as err:
        list_devices(adb, timeout=1)
    assert "adb devices did not finish within 1 s" in err.value.problem
    assert "--adb-timeout" in err.value.fix
    helper = int(pid_file.read_text())
    for _ in range(50):  # the kernel reaps it a moment after SIGKILL
        if not Path(f"/proc/{helper}").exists() or "Z" in _proc_state(helper):
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{helper}").exists() or "Z" in _proc_state(helper)


def _proc_state(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return "gone"


# ------------------------------------------------------------------------------ check-mlkit


def test_check_mlkit_dev_zero(capsys, unchanged):
    _one_clean_line(*_cli(capsys, "check-mlkit", "/dev/zero"), "/dev/zero is not a regular file",
                    "was not read")


def test_check_mlkit_fifo_does_not_hang(capsys, unchanged, tmp_path):
    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)
    _one_clean_line(*_cli(capsys, "check-mlkit", fifo), "is not a regular file")


def test_check_mlkit_folder(capsys, unchanged):
    _one_clean_line(*_cli(capsys, "check-mlkit", unchanged / "models"), "is a folder, not a .tflite")


def test_check_mlkit_missing(capsys, unchanged):
    _one_clean_line(*_cli(capsys, "check-mlkit", unchanged / "nope.tflite"), "cannot read",
                    "No such file")


def test_check_mlkit_over_the_limit_is_not_read(capsys, unchanged, tmp_path):
    big = tmp_path / "big.tflite"
    with open(big, "wb") as f:  # sparse: 2 MiB + 1 byte without writing them
        f.truncate((2 << 20) + 1)
    _one_clean_line(*_cli(capsys, "check-mlkit", big, "--max-mb", "2"),
                    "is larger than check-mlkit's limit of 2,097,152 bytes", "--max-mb")


def test_check_mlkit_bad_limit(capsys, unchanged):
    _one_clean_line(*_cli(capsys, "check-mlkit", "/dev/zero", "--max-mb", "lots"),
                    "--max-mb 'lots' is not a whole number")


def test_check_mlkit_limit_via_the_api(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(bytes(101))
    with pytest.raises(ModelFileError, match="larger than check-mlkit's limit of 100 bytes"):
        check_mlkit(model, max_bytes=100)
    assert not check_mlkit(model, max_bytes=101).passed  # read, and judged as a file


# ------------------------------------------------------------------------------ data folders


def _classes(root: Path, spec: dict[str, int], size=(12, 10)) -> Path:
    for c, (name, count) in enumerate(spec.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", size, (60 * c, 20 * i, 90)).save(root / name / f"{i}.png")
    return root


def _skipped(ds) -> dict[str, str]:
    return {Path(p).name: r for p, r in ds.skipped}


def test_symlink_loop_and_broken_link_are_listed(tmp_path):
    root = _classes(tmp_path / "d", {"a": 3, "b": 3})
    os.symlink("self.png", root / "a" / "self.png")
    os.symlink("gone.png", root / "b" / "dangling.png")
    os.symlink("loop", root / "loop")
    fingerprint_source(DataOptions(data_dir=str(root)))
    skipped = _skipped(load_dataset(DataOptions(data_dir=str(root)), 8))
    assert "symbolic link loop" in skipped["self.png"]
    assert "broken symbolic link" in skipped["dangling.png"]
    assert "symbolic link loop" in skipped["loop"]


def test_fifo_and_device_links_are_never_opened(tmp_path):
    root = _classes(tmp_path / "d", {"a": 3, "b": 3})
    os.mkfifo(root / "a" / "pipe.jpg")
    os.symlink("/dev/zero", root / "b" / "zero.png")
    with _deadline(30):
        fingerprint_source(DataOptions(data_dir=str(root)))
        skipped = _skipped(load_dataset(DataOptions(data_dir=str(root)), 8))
    assert "not a regular file" in skipped["pipe.jpg"]
    assert "not a regular file" in skipped["zero.png"]


def test_a_class_of_only_bad_entries_is_one_clean_line(capsys, unchanged, tmp_path):
    root = _classes(tmp_path / "d", {"a": 3})
    (root / "b").mkdir()
    os.mkfifo(root / "b" / "pipe.jpg")
    os.symlink("x.png", root / "b" / "x.png")
    res = _cli(capsys, "model", "--name", "good", "--out", unchanged / "models", "--data", root)
    _one_clean_line(*res, "class 'b'", "has no readable images (2 skipped", "pipe.jpg",
                    after_progress=True)


def _run_without_access(folder: Path) -> dict:
    """Load `folder` as a user whom its 0o000 entries lock out: as root (which reads everything)
    in a forked child that drops to nobody first; otherwise here."""
    import json

    def load():
        opts = DataOptions(data_dir=str(folder))
        try:
            fingerprint_source(opts)
            ds = load_dataset(opts, 8)
        except DataError as exc:
            return {"error": str(exc)}
        return {"classes": list(ds.class_names), "skipped": [list(s) for s in ds.skipped]}

    if os.geteuid() != 0:
        return load()
    with contextlib.suppress(DataError):  # import every decoder while still root
        load_dataset(DataOptions(data_dir=str(folder)), 8)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, json.dumps(load()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as reply:
        text = reply.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    return json.loads(text)


@pytest.fixture
def shared_dir():
    """A folder another user can enter (pytest's tmp_path is private to its owner)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="hostile-"))
    path.chmod(0o755)
    yield path
    for p in [path, *path.rglob("*")]:
        with contextlib.suppress(OSError):
            if not p.is_symlink():
                p.chmod(0o755)
    shutil.rmtree(path)


def test_unreadable_file_and_class_folder_are_listed(shared_dir):
    root = _classes(shared_dir / "d", {"a": 3, "b": 3, "locked": 3})
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (root / "a" / "secret.png").write_bytes((root / "a" / "0.png").read_bytes())
    (root / "a" / "secret.png").chmod(0)
    (root / "locked").chmod(0)
    got = _run_without_access(root)
    assert got["classes"] == ["a", "b"]
    reasons = {Path(p).name: r for p, r in got["skipped"]}
    assert "cannot be read (Permission denied)" in reasons["secret.png"]
    assert "class folder cannot be read (Permission denied)" in reasons["locked"]


def test_unreadable_class_folder_leaving_one_class_says_so(shared_dir):
    root = _classes(shared_dir / "d", {"a": 3, "locked": 3})
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (root / "locked").chmod(0)
    got = _run_without_access(root)
    assert "has a single class ('a') (locked cannot be read)" in got["error"]
    assert "fix the permissions" in got["error"] and "\n" not in got["error"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (its pixel data is a few bytes of nothing)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


def test_oversized_header_and_decompression_bomb_are_skipped(tmp_path):
    root = _classes(tmp_path / "d", {"a": 3, "b": 3})
    (root / "a" / "huge.png").write_bytes(_png_header(9000, 9000))  # over MAX_DECODE_PIXELS
    (root / "b" / "bomb.png").write_bytes(_png_header(30000, 30000))  # Pillow's own limit
    skipped = _skipped(load_dataset(DataOptions(data_dir=str(root)), 8))
    assert "too large to decode safely" in skipped["huge.png"]
    assert f"over the limit of {MAX_DECODE_PIXELS:,}" in skipped["huge.png"]
    assert "too large to decode safely" in skipped["bomb.png"]
    assert "decompression bomb" in skipped["bomb.png"]


def test_huge_jpeg_is_decoded_at_the_apps_reduction(tmp_path):
    """A 20 MP JPEG decodes at 1/2 scale inside the JPEG decoder (the app's inSampleSize 2)."""
    path = tmp_path / "big.jpg"
    Image.new("RGB", (5000, 4000), (10, 130, 250)).save(path, quality=90)
    assert sample_factor(5000, 4000) == 2
    rgb = load_rgb(path)
    assert rgb.shape == (2000, 2500, 3)
    assert np.abs(rgb[1000, 1250].astype(int) - (10, 130, 250)).max() <= 3


@pytest.mark.parametrize("mode, colour, expected", [
    ("I;16", 40000, (156, 156, 156)), ("P", 0, (0, 0, 0)), ("1", 1, (255, 255, 255)),
    ("RGBA", (10, 20, 30, 255), (10, 20, 30)),
])
def test_huge_png_of_any_mode_is_reduced_not_skipped(tmp_path, mode, colour, expected):
    path = tmp_path / "big.png"
    Image.new(mode, (4200, 4100), colour).save(path)  # 17.2 Mpx: over the app's limit
    rgb = load_rgb(path)
    assert rgb.shape == (2050, 2100, 3)
    assert tuple(rgb[100, 100]) == expected


def test_images_under_the_app_limit_decode_exactly_as_before(tmp_path):
    """Below APP_MAX_PIXELS nothing changes: the full decode the app and training share."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    for ext in ("jpg", "png", "webp"):
        path = tmp_path / f"p.{ext}"
        Image.fromarray(pixels).save(path)
        with Image.open(path) as img:
            assert np.array_equal(load_rgb(path), np.asarray(img.convert("RGB")))
    assert sample_factor(4096, 4096) == 1 and 4096 * 4096 == APP_MAX_PIXELS


# ------------------------------------------------------------------------------ whole command line


@pytest.mark.parametrize("args, expected", [
    (("model", "--config", "/nonexistent/p.toml"), "config file /nonexistent/p.toml does not exist"),
    (("model", "--learning-rate", "nan"), "(--learning-rate) = nan is not a finite number"),
    (("emulator-test", "--max-changed", "abc"), "--max-changed 'abc' is not a whole number"),
    (("check-mlkit", "/dev/zero"), "/dev/zero is not a regular file"),
])
def test_command_line_in_a_subprocess(ws, args, expected):
    res = subprocess.run([str(INVOKE), *args, *(["--out", str(ws / "models")]
                                                if args[0] != "check-mlkit" else [])],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    _one_clean_line(res.returncode, res.stdout, res.stderr, expected)


def test_config_loader_api_names_the_flag():
    with pytest.raises(ConfigError) as err:
        load_config(None, {"train.seed": "-1"}, flags={"train.seed": "--seed"})
    assert err.value.problem.startswith("train.seed (--seed) = -1 is out of range")
    with pytest.raises(DataError):
        load_dataset(DataOptions(data_dir="/nonexistent/photos"), 8)
