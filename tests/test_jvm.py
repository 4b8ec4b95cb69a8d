"""The app's pure Java classes (android_app/.../core/) against Python, on the host JVM with JUnit.

pytest writes golden vectors from real models (pipeline.goldens.write_goldens), compiles the core
classes with the JUnit tests in android_app/app/src/test/ (`javac --release 8`, no android.* on
the classpath) and runs them (pipeline.jvm.run_jvm_goldens). JUnit comes from Maven into the
cache outside the repository once; after that this runs offline.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import _models  # noqa: I001  (puts the checkout on sys.path, builds the tiny models)
from _reports import make_report, write_report_json
from pipeline.errors import ToolchainError
from pipeline.evalset import load_test_split, write_eval_set
from pipeline.goldens import read_cases, write_goldens
from pipeline.jvm import core_sources, junit_classpath, jvm_tools, run_jvm_goldens
from pipeline.metadata import ModelMetadata, write_metadata

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "android_app"
LABELS = ("cat", "chien à poil", "鳥")  # UTF-8 labels: Java must read them as Python does


@pytest.fixture(scope="module")
def jvm():
    """JUnit's jars, or a skip that says what is missing and how to get it."""
    try:
        jvm_tools()
        return junit_classpath()
    except ToolchainError as exc:
        if os.environ.get("CI"):  # CI ran ./setup.sh, which fetches JUnit: never skip silently
            pytest.fail(f"host-JVM tests need a JDK and JUnit from Maven: {exc}")
        pytest.skip(f"host-JVM tests need a JDK and JUnit from Maven: {exc}")


@pytest.fixture(scope="module")
def tiny_goldens(tmp_path_factory):
    """Golden vectors for the tiny uint8 model and a float32 one with a non-trivial normalization."""
    d = tmp_path_factory.mktemp("tiny") / "tiny"
    (d / "variants").mkdir(parents=True)
    meta = ModelMetadata(name="tiny", description="", version="1", author="tests", license="Apache-2.0",
                         labels=LABELS, mean=(0.0,), std=(255.0,), input_min=0, input_max=255)
    (d / "model.tflite").write_bytes(write_metadata(_models.int8_model(), meta))
    float_meta = dataclasses.replace(meta, mean=(100.0,), std=(50.0,), input_min=-2.0, input_max=3.1)
    (d / "variants" / "float32.tflite").write_bytes(write_metadata(_models.float_model(), float_meta))
    dest = d.parent / "goldens"
    write_goldens(d, dest)
    return dest


def _assert_all_equal(run):
    assert run.passed, run.output
    assert run.results, "the JUnit run wrote no per-case results"
    bad = [k for k, v in run.results.items() if not (v["input_equal"] and v["ranking_equal"])]
    assert not bad, f"Java differs from Python on {bad[:5]}"


def test_goldens_cover_resize_shrink_and_both_input_types(tiny_goldens):
    cases = read_cases(tiny_goldens)
    models = {line.split("\t")[0]: line.split("\t")[3]
              for line in (tiny_goldens / "models.tsv").read_text().splitlines()}
    assert set(models.values()) == {"UINT8", "FLOAT32"}
    size = _models.SIZE
    assert any((c["width"], c["height"]) != (size, size) and c["width"] < size for c in cases)  # upscale
    assert any(c["width"] >= 2 * size and c["height"] >= 2 * size for c in cases)  # box pre-shrink
    assert any((c["width"] >= 2 * size) != (c["height"] >= 2 * size) for c in cases)  # one axis only


def test_java_core_matches_python_on_tiny_models(jvm, tiny_goldens):
    run = run_jvm_goldens(tiny_goldens, app_dir=APP, classpath=jvm)
    _assert_all_equal(run)
    assert run.tests >= 6
    assert len(run.results) == len(read_cases(tiny_goldens))


def test_java_core_catches_a_resize_that_rounds_differently(jvm, tiny_goldens, tmp_path):
    """The harness bites: one rounding constant changed in the Java resize fails with the case named."""
    app = tmp_path / "app_copy"
    for part in ("app/src/main/java", "app/src/test/java"):
        src = APP / part
        for f in src.rglob("*.java"):
            if part.endswith("test/java") or f.parent.name == "core":
                dest = app / part / f.relative_to(src)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
    resize = next((app / "app/src/main/java").rglob("core/Resize.java"))
    text = resize.read_text()
    assert "+ 32768) >> 16" in text
    resize.write_text(text.replace("+ 32768) >> 16", "+ 32767) >> 16"))
    run = run_jvm_goldens(tiny_goldens, app_dir=app, classpath=jvm)
    assert not run.passed
    assert "input tensor bytes differ from Python's" in run.output
    assert re.search(r"syn\d+_\d+x\d+@(model|float32) \(\d+x\d+ -> 8x8 (UINT8|FLOAT32)\): \d+ of \d+ bytes differ",
                     run.output), run.output


def test_core_sources_have_no_android_imports():
    files = core_sources(APP)
    assert any(f.name == "InputEncoder.java" for f in files)
    assert all(not re.search(r"^\s*import\s+android", f.read_text(), re.M) for f in files)


def test_missing_jdk_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ToolchainError, match=r"javac \(a JDK\) is not on PATH.*apt-get install default-jdk-headless"):
        jvm_tools()


@pytest.mark.slow
def test_java_core_matches_python_on_the_digits_model(jvm, digits_run, tmp_path):
    """The real deployable model and its float32 variant: eval images plus synthetic sizes."""
    _, result = digits_run
    dataset = load_test_split(result.model_dir)
    model_dir = tmp_path / "digits"
    shutil.copytree(result.model_dir, model_dir)
    write_eval_set(model_dir, dataset=dataset)
    summary = write_goldens(model_dir, tmp_path / "goldens")
    assert summary["models"] == ["model", "float32"]
    run = run_jvm_goldens(tmp_path / "goldens", app_dir=APP, classpath=jvm)
    _assert_all_equal(run)
    eval_ids = [k for k in run.results if k.startswith("eval") and k.endswith("@model")]
    assert len(eval_ids) == 100
    cases = {c["id"]: c for c in read_cases(tmp_path / "goldens")}
    for k in eval_ids:  # the same top-1 and bit-identical scores as Python
        assert run.results[k]["top1"] == cases[k]["ranking"][0]
        assert np.array_equal(np.float32(run.results[k]["scores"]), np.float32(cases[k]["scores"]))


# ----------------------------------------------------------------------------- fidelity table


def _tiny_model_dir(tmp_path):
    from pipeline.data import Dataset

    d = tmp_path / "tiny"
    d.mkdir()
    meta = ModelMetadata(name="tiny", description="", version="1", author="tests", license="Apache-2.0",
                         labels=LABELS, mean=(0.0,), std=(255.0,), input_min=0, input_max=255)
    (d / "model.tflite").write_bytes(write_metadata(_models.int8_model(), meta))
    write_report_json(d, make_report(options={"data": {"seed": 1}}))
    x = np.random.default_rng(0).integers(0, 256, size=(12, _models.SIZE, _models.SIZE, 3), dtype=np.uint8)
    y = np.arange(12) % 3
    none = np.zeros((0, _models.SIZE, _models.SIZE, 3), np.uint8)
    ds = Dataset(class_names=LABELS, x_train=none, y_train=y[:0], x_val=none, y_val=y[:0], x_test=x, y_test=y,
                 source="synthetic", fingerprint="f" * 64)
    write_eval_set(d, dataset=ds, count=9)
    return d, ds


def test_fidelity_table_on_a_tiny_model(jvm, tmp_path):
    from pipeline.fidelity import fidelity_table, format_fidelity, update_device_row
    from pipeline.fsutil import atomic_write_json
    from pipeline.validate import run_interpreter

    d, ds = _tiny_model_dir(tmp_path)
    keras = run_interpreter((d / "model.tflite").read_bytes(), ds.x_test).scores + 0.01  # a stand-in source
    table = fidelity_table(d, dataset=ds, keras_scores=keras, app_dir=APP)
    rows = table["rows"]
    assert list(rows) == ["keras", "interpreter", "mediapipe", "jvm"]
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert table["host_agreement"] and table["host_runtimes"] == ["interpreter", "mediapipe", "jvm"]
    assert rows["keras"]["max_score_diff"] == pytest.approx(0.01, abs=1e-6)
    assert rows["interpreter"]["eval_json_matches"] and rows["jvm"]["junit_passed"]
    assert rows["jvm"]["input_bytes_equal"] == 9 and rows["jvm"]["max_score_diff"] == 0.0
    text = format_fidelity(table)
    assert text.splitlines()[-1] == ("✓ host runtimes (interpreter, mediapipe, jvm) agree on every "
                                     "image's top-1: yes")

    # After `invoke emulator-test`, the device row joins the table in report.json.
    report = json.loads((d / "report.json").read_text())
    report["fidelity"] = table
    atomic_write_json(d / "report.json", report)
    doc = json.loads((d / "eval" / "eval.json").read_text())
    (d / "device-report.json").write_text(json.dumps({
        "top1_agreement": 8 / 9, "changed": [{"file": "images/004.png"}],
        "device": {"runtime": "LiteRT", "device": "Google sdk_gphone64_x86_64", "abi": "x86_64", "sdk": "34",
                   "accuracy": 0.5, "model_sha256": doc["model_sha256"]},
        "per_image": [{"max_score_diff": 0.0}] * 8 + [{"max_score_diff": 0.25}],
    }))
    assert update_device_row(d)
    row = json.loads((d / "report.json").read_text())["fidelity"]["rows"]["device"]
    assert row["runtime"] == "LiteRT on Google sdk_gphone64_x86_64, x86_64, API 34"
    assert row["disagreements"] == ["images/004.png"] and row["max_score_diff"] == 0.25


def test_fidelity_refuses_an_eval_set_of_another_model(tmp_path):
    from pipeline.errors import ValidationError
    from pipeline.fidelity import fidelity_table

    d, _ = _tiny_model_dir(tmp_path)
    meta = ModelMetadata(name="other", description="", version="2", author="tests", license="Apache-2.0",
                         labels=LABELS, mean=(0.0,), std=(255.0,), input_min=0, input_max=255)
    (d / "model.tflite").write_bytes(write_metadata(_models.int8_model(), meta))
    with pytest.raises(ValidationError, match=r"eval was made for another model than .*model.tflite"):
        fidelity_table(d, mediapipe=False, jvm=False)


@pytest.mark.slow
def test_fidelity_table_on_the_digits_model(jvm, digits_run, tmp_path):
    """The issue's bar: 100% top-1 agreement across the host runtimes on the real model."""
    from pipeline.fidelity import _cached_keras_scores, fidelity_table, format_fidelity

    _, result = digits_run
    d = tmp_path / "digits"
    shutil.copytree(result.model_dir, d)
    dataset = load_test_split(result.model_dir)
    write_eval_set(d, dataset=dataset)
    keras, _ = _cached_keras_scores(result.model_dir, dataset)  # the run's own stage cache
    table = fidelity_table(d, dataset=dataset, keras_scores=keras, app_dir=APP)
    print(format_fidelity(table))
    assert table["rows"]["keras"]["status"] == "ok"
    assert table["host_agreement"], format_fidelity(table)
    assert table["host_runtimes"] == ["interpreter", "mediapipe", "jvm"]
    assert table["rows"]["jvm"]["max_score_diff"] == 0.0


def test_missing_maven_is_a_clear_error(tmp_path):
    from pipeline.android.toolchain import ToolchainOptions

    empty = tmp_path / "bin"
    empty.mkdir()
    options = ToolchainOptions(install=False, cache_dir=tmp_path / "cache", path=str(empty))
    with pytest.raises(ToolchainError, match=r"Maven \(to fetch junit:junit:4.13.2:jar\).*apt-get install -y maven"):
        junit_classpath(options)


def test_orientation_goldens_in_the_java_test_are_pillows():
    """OrientationTest.PIL_UPRIGHT (EXIF 1-8 on a 3x2 image) is what exif_transpose gives."""
    from PIL import Image, ImageOps

    text = (APP / "app/src/test/java/com/example/imageclassifier/core/OrientationTest.java").read_text()
    table = re.search(r"PIL_UPRIGHT = \{(.*?)\};", text, re.S).group(1)
    rows = [[int(v) for v in row.split(",")] for row in re.findall(r"\{([-\d, ]+)\}", table)]
    assert [r[0] for r in rows] == list(range(1, 9))
    stored = np.arange(6, dtype=np.uint8).reshape(2, 3)
    for orientation, width, height, *pixels in rows:
        img = Image.fromarray(np.stack([stored * 40] * 3, axis=-1), "RGB")
        img.getexif()[0x0112] = orientation
        upright = np.asarray(ImageOps.exif_transpose(img))[..., 0] // 40
        assert upright.shape == (height, width), orientation
        assert upright.reshape(-1).tolist() == pixels, orientation
