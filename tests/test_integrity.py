"""Your own model, never the wrong one: checksums, build-apk packaging the existing folder,
refusing other data, one run per model folder, and what a killed run leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from _reports import make_report, write_report_json
from pipeline.artifacts import ModelDir
from pipeline.cache import StageCache
from pipeline.config import ModelOptions, PipelineConfig
from pipeline.errors import IntegrityError, OutputError
from pipeline.fsutil import exclusive_lock, remove_stale, staged_dir

ROOT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"


def _folder(tmp_path) -> ModelDir:
    """A hand-made model folder whose report records its files' checksums."""
    d = ModelDir(tmp_path / "models" / "m")
    d.write_models(b"\x00\x00\x00\x00TFL3 model", {"float32": b"TFL3 float"}, ["a", "b"])
    d.eval_images_dir.mkdir(parents=True)
    (d.eval_images_dir / "000.png").write_bytes(b"png")
    d.eval_json.write_text("{}")
    write_report_json(d.path, make_report("m", artifacts=d.checksums()))
    return d


def test_checksums_cover_what_the_model_stage_wrote(tmp_path):
    d = _folder(tmp_path)
    recorded = d.recorded_checksums()
    assert sorted(recorded) == ["eval/eval.json", "eval/images/000.png", "labels.txt",
                                "model.tflite", "variants/float32.tflite"]
    assert d.verify()["name"] == "m" and d.model_bytes().endswith(b"TFL3 model")


@pytest.mark.parametrize("rel", ["model.tflite", "variants/float32.tflite", "eval/images/000.png"])
def test_a_flipped_byte_is_an_integrity_error(tmp_path, rel):
    d = _folder(tmp_path)
    path = d.path / rel
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=rf"{rel} changed since the model was written .* - "
                                              r"restore it, or rebuild the model: invoke model --name m "
                                              r"--out .* --force$"):
        d.verify()
    if rel.endswith(".tflite"):
        with pytest.raises(IntegrityError):
            d.verified_bytes(path)


def test_a_missing_recorded_file_is_an_integrity_error(tmp_path):
    d = _folder(tmp_path)
    (d.path / "labels.txt").unlink()
    with pytest.raises(IntegrityError, match=r"labels.txt is missing \(it was written with the model\)"):
        d.verify()


def test_unrecorded_files_and_old_reports_are_not_checked(tmp_path):
    d = _folder(tmp_path)
    d.write_device_report({"device": {}})  # written later, not part of the record
    d.report_html.write_text("<html>")
    assert d.verify()
    old = ModelDir(tmp_path / "old")
    old.write_models(b"TFL3", {}, ["a"])
    write_report_json(old.path, make_report("old", report_version=3))
    assert old.recorded_checksums() is None and old.model_bytes() == b"TFL3"


def test_weights_file_bytes_are_part_of_the_cache_key(tmp_path):
    from pipeline.sources import _baseline_options

    weights = tmp_path / "start.h5"
    weights.write_bytes(b"first")
    cfg = PipelineConfig(model=ModelOptions(weights=str(weights)))
    first = _baseline_options(cfg)
    weights.write_bytes(b"second")  # same path, other bytes
    assert _baseline_options(cfg) != first


def test_second_run_on_the_same_folder_is_refused(tmp_path):
    lock = tmp_path / ".m.lock"
    with exclusive_lock(lock, "models/m", "wait for it"):
        with pytest.raises(OutputError, match=rf"models/m is being written by pid {os.getpid()} - wait for it"):
            with exclusive_lock(lock, "models/m", "wait for it"):
                pass
    assert not lock.exists()  # released: nothing left behind
    with exclusive_lock(lock, "models/m", "wait for it"):  # free again
        pass


def test_a_killed_runs_leftovers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = [tmp_path / f".m.staging-{dead}-abc", tmp_path / ".m.staging-oldstyle",
             tmp_path / f".m.old-{dead}-x"]
    live = tmp_path / f".m.staging-{os.getpid()}-mine"
    for p in [*stale, live]:
        p.mkdir()
    with staged_dir(tmp_path / "m") as stage:
        (stage / "f").write_text("x")
    assert not any(p.exists() for p in stale) and live.is_dir()
    assert (tmp_path / "m" / "f").read_text() == "x"
    cache = StageCache(tmp_path / ".cache")
    (tmp_path / ".cache" / "data").mkdir(parents=True)
    half = tmp_path / ".cache" / "data" / f".otherkey.tmp-{dead}-zz"
    half.mkdir()
    cache.get_or_make("data", "k", lambda d: (d / "v").write_text("1"), lambda d: None)
    assert not half.exists()
    assert remove_stale(tmp_path, ".m.staging-") == []  # the live one stays


# ------------------------------------------------------------------------------ end to end


def _invoke(*args, cwd=ROOT):
    return subprocess.run([str(INVOKE), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def _images(root: Path, colours: dict[str, tuple[int, int, int]], seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(12):
            noise = rng.integers(-50, 50, (24, 24, 3))
            Image.fromarray(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)).save(
                root / name / f"{i:02d}.png")
    return root


def _one_error_line(result, *expected):
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")][-1]
    for text in expected:
        assert text in line, line
    return line


@pytest.mark.slow
def test_build_apk_packages_the_users_model_and_never_a_corrupt_one(tmp_path):
    ws = tmp_path
    flowers = _images(ws / "flowers", {"rose": (200, 30, 40), "iris": (60, 40, 200), "fern": (40, 160, 50)})
    quick = ("--quick", "--image-size", "16", "--variants", "float32", "--epochs", "20",
             "--prune-epochs", "20")
    built = _invoke("model", "--data", flowers, "--out", ws / "models", *quick, cwd=ws)
    assert built.returncode == 0, built.stderr[-3000:]
    folder = ModelDir(ws / "models" / "flowers")
    before = folder.model_bytes()

    apk = _invoke("build-apk", "--name", "flowers", "--out", ws / "models", "--dist", ws / "dist", cwd=ws)
    assert apk.returncode == 0, apk.stderr[-3000:]
    assert f"==> packaging {folder.path}: flowers, 3 classes (fern, iris, rose)" in apk.stderr
    assert "keras:baseline" not in apk.stderr  # nothing was trained
    with zipfile.ZipFile(ws / "dist" / "flowers-debug.apk") as z:
        assert z.read("assets/model.tflite") == before == folder.model_bytes()
    from pipeline.metadata import read_metadata

    assert read_metadata(before).labels == ("fern", "iris", "rose")
    shipped = (ws / "dist" / "flowers-debug.apk").read_bytes()

    other = _images(ws / "cars", {"red": (220, 0, 0), "blue": (0, 0, 220)}, seed=1)
    refused = _invoke("build-apk", "--name", "flowers", "--data", other, "--out", ws / "models",
                      "--dist", ws / "dist", cwd=ws)
    _one_error_line(refused, "holds a model trained on", "another name (--name)")

    data = bytearray(folder.model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    folder.model_path.write_bytes(bytes(data))
    for args in (("build-apk", "--name", "flowers", "--out", ws / "models", "--dist", ws / "dist"),
                 ("evaluate", "--name", "flowers", "--out", ws / "models"),
                 ("emulator-test", "--name", "flowers", "--out", ws / "models",
                  "--apk", ws / "dist" / "flowers-debug.apk")):
        _one_error_line(_invoke(*args, cwd=ws), "model.tflite changed since the model was written",
                        "--force")
    assert (ws / "dist" / "flowers-debug.apk").read_bytes() == shipped  # the good APK stays
    assert json.loads(folder.report_json.read_text())["artifacts"]["model.tflite"]
