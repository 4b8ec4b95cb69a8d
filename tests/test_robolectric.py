"""The app's Activity and EvalInstrumentation on the real Android framework (Robolectric), API 24 and 36.

A debug APK is built with the project's build; its resources and assets are what Robolectric
loads. The model is "run" by a replay of the LiteRT interpreter's outputs, looked up by the exact
input bytes the app produced, so the app's whole pixel path on the framework must give Python's
bytes. Robolectric, its dependencies and the framework jars come from Maven into the cache outside
the repository (`invoke setup-android`); the run itself is offline.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.android.apk import ApkOptions, build_apk  # noqa: E402
from pipeline.android.signing import SigningOptions  # noqa: E402
from pipeline.android.robolectric import (  # noqa: E402
    SDKS,
    RobolectricOptions,
    RobolectricRun,
    fetch_robolectric,
    _find_java,
    fidelity_row,
    _picked_image,
    run_robolectric,
)
from pipeline.errors import ConfigError, ToolchainError  # noqa: E402

APP = ROOT / "android_app"
TESTS_PER_SDK = 8  # MainActivityTest (7) + EvalInstrumentationTest (1)


@pytest.fixture(scope="module")
def robolectric():
    """Robolectric's jars and a JDK 21+, or a skip (a failure in CI) saying what is missing."""
    try:
        return fetch_robolectric()
    except ToolchainError as exc:
        if os.environ.get("CI"):  # CI ran ./setup.sh, which fetches them: never skip silently
            pytest.fail(f"Robolectric tests need Maven artifacts and Java 21+: {exc}")
        pytest.skip(f"Robolectric tests need Maven artifacts and Java 21+: {exc}")


def _tiny_model_dir(tmp: Path) -> Path:
    """A real int8 model with metadata (tests/test_apk.py's) and a 9-image evaluation set."""
    from test_apk import LABELS, SIZE, _tiny_models

    from pipeline.data import Dataset
    from _reports import make_report, write_report_json
    from pipeline.evalset import write_eval_set

    d = tmp / "tiny"
    d.mkdir()
    (d / "model.tflite").write_bytes(_tiny_models()[1])
    write_report_json(d, make_report(options={"data": {"seed": 1}}))
    x = np.random.default_rng(0).integers(0, 256, size=(12, SIZE, SIZE, 3), dtype=np.uint8)
    y = np.arange(12) % 3
    none = np.zeros((0, SIZE, SIZE, 3), np.uint8)
    ds = Dataset(class_names=LABELS, x_train=none, y_train=y[:0], x_val=none, y_val=y[:0], x_test=x, y_test=y,
                 source="synthetic", fingerprint="f" * 64)
    write_eval_set(d, dataset=ds, count=9)
    return d


@pytest.fixture(scope="module")
def tiny_run(robolectric, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("robolectric")
    model_dir = _tiny_model_dir(tmp)
    built = build_apk(ApkOptions(model_dir=model_dir, app_dir=APP, out_dir=tmp / "dist",
                                 signing=SigningOptions.debug(tmp / "debug.keystore")))
    return model_dir, run_robolectric(RobolectricOptions(apk=built.apk, model_dir=model_dir, app_dir=APP))


def _assert_device_report_equals_python(report: dict, images: int):
    assert report["passed"] and report["changed_count"] == 0, report["changed"]
    assert report["device"]["images"] == report["python"]["images"] == images
    for key in ("correct", "accuracy", "per_class_correct", "per_class_total"):
        assert report["device"][key] == report["python"][key], key
    assert report["top1_agreement"] == 1.0 and report["accuracy_delta"] == 0.0
    assert [p["max_score_diff"] for p in report["per_image"]] == [0.0] * images
    assert all(p["device_top1"] == p["python_top1"] for p in report["per_image"])


def test_the_app_on_the_framework_at_api_24_and_36(tiny_run):
    """MainActivity (metadata shown, top-3 of a sample, a content:// JPEG with EXIF 6, Errors and
    exceptions shown as messages, rotation and recreation, padding under the insets) and
    EvalInstrumentation, at both API levels."""
    _, run = tiny_run
    assert run.sdks == SDKS == (24, 36)
    assert run.passed, run.output[-6000:]
    assert run.tests == TESTS_PER_SDK * len(SDKS) and run.failures == 0 and run.failed == ()


def test_eval_instrumentation_output_parses_as_on_a_device(tiny_run):
    model_dir, run = tiny_run
    assert sorted(run.device_reports) == [24, 36]
    for sdk, report in run.device_reports.items():
        assert isinstance(report, dict), f"API {sdk}: {report}"
        assert report["device"]["sdk"] == str(sdk)
        assert report["device"]["runtime"] == "LiteRT (replayed)"
        _assert_device_report_equals_python(report, 9)
    doc = json.loads((model_dir / "eval" / "eval.json").read_text())
    assert run.device_reports[36]["device"]["model_sha256"] == doc["model_sha256"]


def test_screenshot_at_api_36_shows_the_result(tiny_run):
    from PIL import Image

    model_dir, run = tiny_run
    assert set(run.screenshots) == {36}  # API 24: Robolectric's legacy graphics draw no text
    shot = run.screenshots[36]
    assert shot == model_dir / "screenshots" / "api36.png"
    with Image.open(shot) as img:
        px = np.asarray(img.convert("RGB"))
    assert px.shape[:2] == (1280, 720)
    # The content keeps its 16dp (32 px at xhdpi) margin: the leftmost columns below the action
    # bar are the window background only, the preview's grey starts after them.
    body = px[200:700]
    assert len(np.unique(body[:, :30].reshape(-1, 3), axis=0)) == 1
    assert len(np.unique(body[:, 40:680].reshape(-1, 3), axis=0)) > 50  # the sample drawn


def test_fidelity_row_from_the_run(tiny_run):
    _, run = tiny_run
    row = fidelity_row(run)
    assert row["runtime"] == "framework (Robolectric API 24/36)"
    assert row["status"] == "ok" and row["images"] == 9 and row["top1_agreement"] == 1.0
    assert row["max_score_diff"] == 0.0 and row["disagreements"] == []
    assert {"runtime", "status", "images", "top1_agreement", "disagreements", "max_score_diff",
            "accuracy", "note"} <= set(row)


def test_fidelity_row_of_a_failed_run_says_why():
    run = RobolectricRun(passed=False, tests=0, failures=1, failed=(), sdks=(24, 36), java="/jdk", output="",
                         device_reports={24: "EvalInstrumentation wrote no output at API 24", 36: "x"},
                         screenshots={}, seconds={})
    row = fidelity_row(run)
    assert row["status"] == "failed" and "API 24: EvalInstrumentation wrote no output" in row["note"]


def test_picked_image_is_flat_blocks_stored_sideways():
    img = _picked_image()
    assert img.shape == (40, 56, 3)  # stored 56 wide; EXIF 6 makes it 40 x 56 upright
    assert (img[::8, ::8].repeat(8, 0).repeat(8, 1) == img).all()


def test_no_jdk_new_enough_is_a_clear_error(monkeypatch, tmp_path):
    jdk = tmp_path / "jdk-17"
    (jdk / "bin").mkdir(parents=True)
    for tool in ("java", "javac"):
        (jdk / "bin" / tool).write_text("#!/bin/sh\n")
    (jdk / "release").write_text('JAVA_VERSION="17.0.15"\n')
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    monkeypatch.delenv("ROBOLECTRIC_JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("pipeline.android.robolectric._JAVA_DIRS", ())
    with pytest.raises(ToolchainError, match=r"needs Java 99 or newer for these API levels \(API 36: Java 21\); JDKs found: .*jdk-17 \(Java 17\).*"
                                             r"ROBOLECTRIC_JAVA_HOME"):
        _find_java(99)
    assert _find_java(17) == jdk.resolve()


def test_unknown_api_level_is_refused():
    with pytest.raises(ConfigError, match=r"no Robolectric framework jar is configured for API \[23\]"):
        RobolectricOptions(apk=Path("x.apk"), model_dir=Path("m"), sdks=(23, 36))


@pytest.mark.slow
def test_eval_instrumentation_equals_python_on_all_100_digits_images(robolectric, digits_run, tmp_path):
    """The tester's path without an emulator, on the real deployable model: BitmapFactory, the
    app's resize and encoder give Python's bytes for every image at both API levels."""
    _, result = digits_run
    model_dir = tmp_path / "digits"
    shutil.copytree(result.model_dir, model_dir)
    built = build_apk(ApkOptions(model_dir=model_dir, app_dir=APP, out_dir=tmp_path / "dist",
                                 signing=SigningOptions.debug(tmp_path / "debug.keystore")))
    run = run_robolectric(RobolectricOptions(apk=built.apk, model_dir=model_dir, app_dir=APP))
    assert run.passed, run.output[-6000:]
    for sdk in SDKS:
        _assert_device_report_equals_python(run.device_reports[sdk], 100)
    row = fidelity_row(run)
    assert row["status"] == "ok" and row["images"] == 100 and row["top1_agreement"] == 1.0


def test_missing_maven_names_robolectric(tmp_path):
    from pipeline.android.toolchain import MAVEN_ARTIFACTS, ToolchainOptions, resolve_with_dependencies

    empty = tmp_path / "bin"
    empty.mkdir()
    options = ToolchainOptions(install=False, cache_dir=tmp_path / "cache", path=str(empty))
    with pytest.raises(ToolchainError, match=r"Maven \(to fetch org.robolectric:robolectric:4.17:jar and its "
                                             r"dependencies\).*apt-get install -y maven"):
        resolve_with_dependencies(MAVEN_ARTIFACTS["robolectric"], options)
