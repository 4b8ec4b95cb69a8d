"""The Invoke tasks as a user runs them: one clean error line (no traceback) and an exit code."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"


def _invoke(*args, cwd=ROOT):
    return subprocess.run([str(INVOKE), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_list_shows_every_task_with_a_summary():
    out = _invoke("--list").stdout
    for name in ("model", "train", "evaluate", "build-apk", "check-mlkit", "emulator-test",
                 "report", "benchmark", "setup-android", "android-assets", "synthetic-data",
                 "robolectric-test"):
        assert f"  {name} " in out, name


def test_every_model_option_has_help():
    out = _invoke("--help", "model").stdout
    for option in ("--data", "--name", "--epochs", "--final-sparsity", "--prune-epochs",
                   "--architecture", "--image-size", "--force", "--quick", "--presets",
                   "--sweep", "--max-accuracy-drop", "--augment", "--width", "--weights",
                   "--strategy"):
        line = next(l for l in out.splitlines()
                    if f"{option}=" in l or l.rstrip().endswith(option) or f"{option} " in l)
        flags, _, help_text = line.strip().partition("   ")
        assert help_text.strip(), f"{option} has no help text: {line!r}"


@pytest.mark.parametrize("args, message", [
    (("model", "--data", "/nonexistent/photos"),
     "error: data folder /nonexistent/photos does not exist - pass --data with a folder"),
    (("model", "--final-sparsity", "1.0"),
     "error: prune.final_sparsity (--final-sparsity) = 1.0 is out of range [0.0, 1.0)"),
    (("model", "--epochs", "0"), "error: train.epochs (--epochs) = 0 is out of range (0, 10000]"),
    (("model", "--architecture", "resnet999"),
     "error: model.architecture (--architecture) = 'resnet999' is not a known architecture - "
     "use one of:"),
    (("model", "--strategy", "gpu"), "error: train.strategy (--strategy) = 'gpu' is not one of "
                                     "auto, default, mirrored, multi-worker"),
    (("model", "--strategy", "multi-worker", "--out", "/tmp/no-models-here"),
     "error: --strategy multi-worker needs the cluster in the TF_CONFIG environment variable"),
    (("build-apk", "--strategy", "multi-worker"),
     "error: build-apk does not train on several machines"),
    (("evaluate", "--name", "never-built", "--out", "/tmp/no-models-here"),
     "error: no model report at /tmp/no-models-here/never-built/report.json - build the model "
     "first: invoke model --name never-built"),
])
def test_bad_input_is_one_clean_line(args, message):
    result = _invoke(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr


def test_bad_config_file_is_named(tmp_path):
    (tmp_path / "bad.toml").write_text("[train]\nepoch = 3\n")
    result = _invoke("model", "--config", str(tmp_path / "bad.toml"))
    assert result.returncode == 2
    assert "error: unknown option 'train.epoch' in " in result.stderr


def test_check_mlkit_exit_codes(tmp_path):
    bad = tmp_path / "photo.tflite"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    result = _invoke("check-mlkit", str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("✗ valid TFLite flatbuffer")
    missing = _invoke("check-mlkit", str(tmp_path / "nope.tflite"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def _photo_folder(root: Path) -> Path:
    """Three colour classes of varied sizes, modes and formats, plus two unusable files."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = {"red fox": (200, 40, 30), "green_frog": (40, 180, 60), "blue-jay": (40, 60, 200)}
    formats = (("png", "RGB"), ("jpg", "RGB"), ("bmp", "RGB"), ("webp", "RGBA"), ("gif", "P"))
    for c, (name, colour) in enumerate(colours.items()):
        d = root / name
        d.mkdir(parents=True)
        for i in range(20):
            h, w = int(rng.integers(20, 90)), int(rng.integers(20, 90))
            noise = rng.integers(-60, 60, (h, w, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            ext, mode = formats[i % len(formats)]
            Image.fromarray(pixels).convert(mode).save(d / f"{i:02d}.{ext}")
    (root / "red fox" / "notes.txt").write_text("not an image")
    (root / "green_frog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root


@pytest.mark.slow
def test_model_on_a_users_image_folder(tmp_path):
    import json

    from pipeline.metadata import read_metadata

    data = _photo_folder(tmp_path / "birds")
    result = _invoke("model", "--data", str(data), "--out", str(tmp_path / "models"), "--quick",
                     "--image-size", "16", "--variants", "float32",
                     "--batch-size", "8", "--epochs", "20", "--prune-epochs", "20")
    assert result.returncode == 0, result.stderr[-3000:]
    model_dir = tmp_path / "models" / "birds"  # named after the folder
    report = json.loads((model_dir / "report.json").read_text())
    assert report["dataset"]["classes"] == ["blue-jay", "green_frog", "red fox"]
    assert sorted(Path(s["path"]).name for s in report["dataset"]["skipped"]) == [
        "broken.jpg", "notes.txt"]
    meta = read_metadata((model_dir / "model.tflite").read_bytes())
    assert meta.labels == ("blue-jay", "green_frog", "red fox")
    assert (model_dir / "labels.txt").read_text().splitlines() == list(meta.labels)
    assert report["variants"]["pruned_int8"]["accuracy"] >= 0.9
    assert report["fidelity"]["host_agreement"]
    assert "skipped" in result.stderr and "broken.jpg" in result.stderr
    _assert_no_native_logs(result.stderr)


# absl/glog lines (`E0000 00:00:... cuda_platform.cc:52] failed call to cuInit`), TFLite's
# `INFO: Created TensorFlow Lite XNNPACK delegate`, the converter's `fully_quantize: 0, ...`.
_NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |cuda|^INFO: |^WARNING: All log messages|fully_quantize|"
                         r"NodeDef mentions", re.I)


def _assert_no_native_logs(stderr: str) -> None:
    noise = [line for line in stderr.splitlines() if _NATIVE_LOG.search(line)]
    assert not noise, noise[:10]


@pytest.mark.slow
def test_default_quick_model_prints_no_tensorflow_log(tmp_path):
    result = _invoke("model", "--quick", "--out", str(tmp_path / "models"), "--force")
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_no_native_logs(result.stderr)
    assert "==> keras:baseline" in result.stderr and "Epoch 1/" in result.stdout


def test_console_command_has_the_same_tasks_and_help_as_invoke(tmp_path):
    """`tflite-pipeline` ([project.scripts] -> pipeline.cli:main) from any folder == `invoke` here."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"tflite-pipeline": "pipeline.cli:main"}
    command = [sys.executable, "-m", "pipeline.cli"]
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    ours = subprocess.run([*command, "--list"], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=120)
    assert ours.returncode == 0, ours.stderr
    theirs = _invoke("--list").stdout
    names = lambda out: [l.split()[0] for l in out.splitlines() if l.startswith("  ") and  # noqa
                         not l.startswith("   ")]
    from pipeline.cli import ns

    assert names(ours.stdout) == names(theirs) and len(names(theirs)) == len(ns.tasks) == 12
    help_ours = subprocess.run([*command, "--help", "model"], cwd=tmp_path, capture_output=True,
                               text=True, env=env, timeout=120).stdout
    assert "-e INT, --epochs=INT" in help_ours and "--final-sparsity=FLOAT" in help_ours
    from pipeline.config import PipelineConfig

    epochs = PipelineConfig().train.epochs
    assert "--variants=LIST" in help_ours and f"(default {epochs})" in help_ours
    assert help_ours.split("Options:")[1] == _invoke("--help", "model").stdout.split("Options:")[1]
