"""pipeline.android.device: `am instrument -w -r` parsing, the comparison with Python, adb errors.

The instrumentation outputs below are recorded samples written by hand from the documented raw
format (frameworks/base `am instrument -r`; the shapes ddmlib's InstrumentationResultParser and
test runners see): a successful EvalInstrumentation run, an instrumentation that is not installed,
a process crash, an uncaught exception, the instrumentation's own failure, and a cut-off run.
No device is available here: the adb error paths use a stand-in `adb` script on PATH that answers
the way adb does on a machine with no (or a refusing) device.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest

from _reports import make_report, write_report_json
from pipeline.android.device import (
    DEVICE_REPORT, INSTRUMENTATION_CLASS, DeviceOptions, check_instrumentation, compare_with_python,
    format_device_report, install_failure, parse_devices, parse_instrument_output, pick_device,
    run_emulator_test,
)
from pipeline.errors import ConfigError, DeviceError

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = f"com.example.imageclassifier/{INSTRUMENTATION_CLASS}"
LABELS = ["cat", "dog", "bird"]
MODEL = b"TFL3-not-really-a-model-but-its-bytes-are-hashed"
SHA = hashlib.sha256(MODEL).hexdigest()


def _status(i, file, label, py, dev, score, diff):
    return (
        "INSTRUMENTATION_STATUS: id=EvalInstrumentation\n"
        f"INSTRUMENTATION_STATUS: image={i}\n"
        f"INSTRUMENTATION_STATUS: file={file}\n"
        f"INSTRUMENTATION_STATUS: label={label}\n"
        f"INSTRUMENTATION_STATUS: python_top1={py}\n"
        f"INSTRUMENTATION_STATUS: device_top1={dev}\n"
        f"INSTRUMENTATION_STATUS: device_score={score}\n"
        f"INSTRUMENTATION_STATUS: max_score_diff={diff}\n"
        "INSTRUMENTATION_STATUS: total_ms=1.2034\n"
        "INSTRUMENTATION_STATUS: inference_ms=0.8811\n"
        "INSTRUMENTATION_STATUS_CODE: 1\n"
    )


# A successful run over 3 images; image 002 changed its top-1 (bird -> dog). The `stream` value
# spans two lines, as a human-readable summary does.
SUCCESS = (
    _status(0, "images/000.png", 0, 0, 0, "0.99609375", "0.0")
    + _status(1, "images/001.png", 1, 1, 1, "0.87890625", "0.0")
    + _status(2, "images/002.png", 2, 2, 1, "0.5", "0.0234375")
    + "INSTRUMENTATION_RESULT: abi=x86_64\n"
    "INSTRUMENTATION_RESULT: accuracy=0.6666666666666666\n"
    "INSTRUMENTATION_RESULT: changed=1\n"
    "INSTRUMENTATION_RESULT: changed_files=images/002.png\n"
    "INSTRUMENTATION_RESULT: correct=2\n"
    "INSTRUMENTATION_RESULT: device=Google sdk_gphone64_x86_64\n"
    "INSTRUMENTATION_RESULT: format=1\n"
    "INSTRUMENTATION_RESULT: id=EvalInstrumentation\n"
    "INSTRUMENTATION_RESULT: images=3\n"
    "INSTRUMENTATION_RESULT: inference_mean_ms=0.8811\n"
    "INSTRUMENTATION_RESULT: inference_p90_ms=0.9500\n"
    "INSTRUMENTATION_RESULT: latency_mean_ms=1.2034\n"
    "INSTRUMENTATION_RESULT: latency_p90_ms=1.4100\n"
    "INSTRUMENTATION_RESULT: max_score_diff=0.0234375\n"
    f"INSTRUMENTATION_RESULT: model_sha256={SHA}\n"
    "INSTRUMENTATION_RESULT: per_class_correct=1,1,0\n"
    "INSTRUMENTATION_RESULT: per_class_total=1,1,1\n"
    "INSTRUMENTATION_RESULT: python_accuracy=1.0\n"
    "INSTRUMENTATION_RESULT: runtime=LiteRT\n"
    "INSTRUMENTATION_RESULT: sdk=34\n"
    "INSTRUMENTATION_RESULT: stream=EvalInstrumentation: 2/3 correct on the device\n"
    "(Python: accuracy 1.0), 1 image(s) changed top-1\n"
    "INSTRUMENTATION_RESULT: threads=1\n"
    "INSTRUMENTATION_CODE: -1\n"
)

# The APK has no such <instrumentation>: am reports it as a status, then throws.
NOT_INSTALLED = (
    "INSTRUMENTATION_STATUS: id=ActivityManagerService\n"
    f"INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo{{{COMPONENT}}}\n"
    "INSTRUMENTATION_STATUS_CODE: -1\n"
    f"android.util.AndroidException: INSTRUMENTATION_FAILED: {COMPONENT}\n"
    "\tat com.android.commands.am.Instrument.run(Instrument.java:519)\n"
    "\tat com.android.commands.am.Am.runInstrument(Am.java:196)\n"
    "\tat com.android.commands.am.Am.onRun(Am.java:80)\n"
)

# The process died (native crash, killed): the classic two lines.
PROCESS_CRASHED = (
    _status(0, "images/000.png", 0, 0, 0, "0.99609375", "0.0")
    + "INSTRUMENTATION_RESULT: shortMsg=Process crashed.\n"
    "INSTRUMENTATION_CODE: 0\n"
)

# An uncaught exception on the instrumentation thread: the system reports it with its stack.
EXCEPTION = (
    "INSTRUMENTATION_RESULT: shortMsg=java.lang.UnsatisfiedLinkError\n"
    "INSTRUMENTATION_RESULT: longMsg=java.lang.UnsatisfiedLinkError: dlopen failed: library "
    "\"libtensorflowlite_jni.so\" not found\n"
    "\tat java.lang.Runtime.loadLibrary0(Runtime.java:1082)\n"
    "\tat org.tensorflow.lite.TensorFlowLite.init(TensorFlowLite.java:75)\n"
    "INSTRUMENTATION_CODE: 0\n"
)

# EvalInstrumentation caught the problem itself and finished with RESULT_CANCELED.
OWN_ERROR = (
    "INSTRUMENTATION_RESULT: error=java.io.IOException: assets/eval/eval.json is missing: the APK "
    "was built without the evaluation set - rebuild it with invoke build-apk\n"
    "INSTRUMENTATION_RESULT: error_at=com.example.imageclassifier.eval.EvalInstrumentation"
    ".readEvalSet(EvalInstrumentation.java:212)\n"
    "INSTRUMENTATION_RESULT: stream=EvalInstrumentation failed: assets/eval/eval.json is missing\n"
    "INSTRUMENTATION_CODE: 0\n"
)

# The connection dropped mid-run: a status bundle never closed, no result.
CUT_OFF = _status(0, "images/000.png", 0, 0, 0, "0.99609375", "0.0") + (
    "INSTRUMENTATION_STATUS: id=EvalInstrumentation\n"
    "INSTRUMENTATION_STATUS: image=1\n"
)


def _eval_doc():
    scores = [[0.99609375, 0.0, 0.00390625], [0.1, 0.87890625, 0.02], [0.0, 0.4765625, 0.5234375]]
    return {
        "format": 1, "model_sha256": SHA, "labels": LABELS, "count": 3, "height": 8, "width": 8,
        "python": {"runtime": "ai_edge_litert 2.3.0 interpreter", "correct": 3, "accuracy": 1.0,
                   "per_class_correct": [1, 1, 1], "per_class_total": [1, 1, 1]},
        "images": [{"file": f"images/00{i}.png", "test_index": i, "label": i, "top1": i,
                    "scores": scores[i], "raw": []} for i in range(3)],
    }


# ----------------------------------------------------------------------------- parsing


def test_parse_success():
    parsed = parse_instrument_output(SUCCESS)
    assert parsed["code"] == -1 and parsed["failed"] is None and parsed["other"] == []
    assert [s["code"] for s in parsed["statuses"]] == [1, 1, 1]
    assert parsed["statuses"][2]["values"]["device_top1"] == "1"
    assert parsed["result"]["per_class_correct"] == "1,1,0"
    assert parsed["result"]["stream"] == ("EvalInstrumentation: 2/3 correct on the device\n"
                                          "(Python: accuracy 1.0), 1 image(s) changed top-1")
    check_instrumentation(parsed, COMPONENT)  # no error


def test_parse_accepts_crlf_line_ends():
    """Older adb versions (and Windows hosts) turn the device's LF into CRLF."""
    parsed = parse_instrument_output(SUCCESS.replace("\n", "\r\n"))
    assert parsed["result"]["model_sha256"] == SHA and parsed["code"] == -1
    assert len(parsed["statuses"]) == 3


def test_instrumentation_not_installed():
    parsed = parse_instrument_output(NOT_INSTALLED)
    assert parsed["failed"].startswith("android.util.AndroidException: INSTRUMENTATION_FAILED")
    assert parsed["statuses"][0]["code"] == -1
    with pytest.raises(DeviceError) as exc:
        check_instrumentation(parsed, COMPONENT)
    assert exc.value.problem == (f"the instrumentation {COMPONENT} could not start: Unable to find "
                                 f"instrumentation info for: ComponentInfo{{{COMPONENT}}}")
    assert f'<instrumentation android:name="{INSTRUMENTATION_CLASS}"' in exc.value.fix


def test_process_crash():
    parsed = parse_instrument_output(PROCESS_CRASHED)
    assert parsed["code"] == 0 and parsed["result"] == {"shortMsg": "Process crashed."}
    with pytest.raises(DeviceError) as exc:
        check_instrumentation(parsed, COMPONENT, "emulator-5554")
    assert exc.value.problem == "the app's process crashed on emulator-5554 during the evaluation"
    assert "adb -s emulator-5554 logcat -d -b crash" in exc.value.fix


def test_uncaught_exception_keeps_its_stack_but_reports_one_line():
    parsed = parse_instrument_output(EXCEPTION)
    assert parsed["result"]["longMsg"].splitlines()[1] == "\tat java.lang.Runtime.loadLibrary0(Runtime.java:1082)"
    with pytest.raises(DeviceError) as exc:
        check_instrumentation(parsed, COMPONENT, "emulator-5554")
    assert exc.value.problem == ("the evaluation crashed on emulator-5554: java.lang.UnsatisfiedLinkError: "
                                 "dlopen failed: library \"libtensorflowlite_jni.so\" not found")


def test_the_instrumentations_own_error():
    with pytest.raises(DeviceError, match=r"^the on-device evaluation failed: java.io.IOException: "
                                          r"assets/eval/eval.json is missing.*\(at com.example"):
        check_instrumentation(parse_instrument_output(OWN_ERROR), COMPONENT)


def test_cut_off_output():
    parsed = parse_instrument_output(CUT_OFF)
    assert parsed["code"] is None
    assert parsed["statuses"][-1] == {"code": None, "values": {"id": "EvalInstrumentation", "image": "1"}}
    with pytest.raises(DeviceError, match="`am instrument` ended without a result on the device"):
        check_instrumentation(parsed, COMPONENT)


def test_another_instrumentations_result_is_refused():
    text = "INSTRUMENTATION_RESULT: stream=\nOK (0 tests)\n\nINSTRUMENTATION_CODE: -1\n"
    with pytest.raises(DeviceError, match=r"reported no evaluation result \(keys: stream\)"):
        check_instrumentation(parse_instrument_output(text), COMPONENT)


# ----------------------------------------------------------------------------- comparison


def test_compare_with_python_lists_the_changed_image():
    report = compare_with_python(_eval_doc(), parse_instrument_output(SUCCESS), {"mean": 0.05, "p90": 0.06}, 0)
    assert report["changed_count"] == 1 and not report["passed"]
    assert report["changed"][0]["file"] == "images/002.png"
    assert (report["changed"][0]["python_top1"], report["changed"][0]["device_top1"]) == (2, 1)
    assert report["python"]["accuracy"] == 1.0 and report["device"]["accuracy"] == pytest.approx(2 / 3)
    assert report["device"]["per_class_correct"] == [1, 1, 0]
    assert report["top1_agreement"] == pytest.approx(2 / 3)
    assert report["device"]["latency_ms"] == {"mean": 1.2034, "p90": 1.41}
    assert compare_with_python(_eval_doc(), parse_instrument_output(SUCCESS), None, 1)["passed"]


def test_device_table_is_side_by_side():
    text = format_device_report(compare_with_python(_eval_doc(), parse_instrument_output(SUCCESS),
                                                    {"mean": 0.05, "p90": 0.06}, 0))
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["Python", "(ai_edge_litert"]
    assert "device (LiteRT: Google sdk_gphone64_x86_64, x86_64, API 34)" in lines[0]
    assert re.match(r"accuracy\s+1\.0000 \(3/3\)\s+0\.6667 \(2/3\)$", lines[1])
    assert re.match(r"\s+class bird\s+1/1\s+0/1   <- differs$", lines[4])
    assert "changed: images/002.png: true bird, Python bird (0.5234) -> device dog (0.5000)" in text
    assert lines[-1] == "✗ 1 of 3 image(s) changed top-1 on the device (allowed: 0)"


def test_device_reporting_an_image_python_never_saw():
    doc = _eval_doc()
    doc["images"][2]["file"] = "images/other.png"
    with pytest.raises(DeviceError, match="does not list: the APK was built from another evaluation set"):
        compare_with_python(doc, parse_instrument_output(SUCCESS))


# ----------------------------------------------------------------------------- adb output


def test_parse_devices():
    text = ("* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
            "List of devices attached\nemulator-5554\tdevice\n0A1B2C3D\tunauthorized\n"
            "192.168.1.7:5555\toffline\n\n")
    assert parse_devices(text) == [("emulator-5554", "device"), ("0A1B2C3D", "unauthorized"),
                                   ("192.168.1.7:5555", "offline")]
    assert parse_devices("List of devices attached\n\n") == []


def test_pick_device():
    one = [("emulator-5554", "device")]
    assert pick_device(one, None) == "emulator-5554"
    with pytest.raises(DeviceError, match=r"^no Android device or emulator is connected"):
        pick_device([], None)
    two = one + [("0A1B2C3D", "device")]
    with pytest.raises(DeviceError) as exc:
        pick_device(two, None)
    assert exc.value.problem == "2 devices are connected: emulator-5554 (device), 0A1B2C3D (device)"
    assert exc.value.fix == "choose one with --serial <serial>"
    assert pick_device(two, "0A1B2C3D") == "0A1B2C3D"
    with pytest.raises(DeviceError, match=r"no device with serial 'emulator-5556' is connected"):
        pick_device(two, "emulator-5556")
    with pytest.raises(DeviceError) as exc:
        pick_device([("0A1B2C3D", "unauthorized")], None)
    assert exc.value.fix.startswith("accept the 'Allow USB debugging?' prompt")


@pytest.mark.parametrize("text, reason", [
    ("Performing Streamed Install\nadb: failed to install dist/digits-debug.apk: Failure "
     "[INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113]\n",
     "INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113"),
    ("Performing Streamed Install\nFailure [INSTALL_FAILED_OLDER_SDK: Requires newer sdk version #24 "
     "(current version is #23)]\n",
     "INSTALL_FAILED_OLDER_SDK: Requires newer sdk version #24 (current version is #23)"),
    ("adb: error: failed to get feature set: device offline\n",
     "adb: error: failed to get feature set: device offline"),
])
def test_install_failure_reason(text, reason):
    assert install_failure(text) == reason


def test_options_are_validated():
    with pytest.raises(ConfigError, match=r"max_changed must be a whole number >= 0, got -1"):
        DeviceOptions(model_dir=Path("models/digits"), max_changed=-1)
    assert DeviceOptions(model_dir=Path("models/digits")).apk_path == Path("dist/digits-debug.apk")


def test_java_and_python_agree_on_names():
    """The instrumentation's class, asset folder and status code are mirrored in Python."""
    from pipeline.android import device
    from pipeline.artifacts import EVAL_DIR, EVAL_JSON

    path = ROOT / "android_app/app/src/main/java" / (INSTRUMENTATION_CLASS.replace(".", "/") + ".java")
    java = path.read_text()
    assert f"package {INSTRUMENTATION_CLASS.rsplit('.', 1)[0]};" in java
    assert f'EVAL_DIR = "{EVAL_DIR}";' in java
    assert 'EVAL_JSON = EVAL_DIR + "/' + EVAL_JSON + '";' in java
    assert f"STATUS_IMAGE = {device.STATUS_IMAGE};" in java
    assert "extends Instrumentation" in java and "androidx" not in java


# ----------------------------------------------------------------------------- emulator-test


@pytest.fixture
def inputs(tmp_path):
    """A model folder with an evaluation set and an APK file (contents do not matter before adb)."""
    model_dir = tmp_path / "models" / "tiny"
    (model_dir / "eval").mkdir(parents=True)
    (model_dir / "model.tflite").write_bytes(MODEL)
    (model_dir / "eval" / "eval.json").write_text(json.dumps(_eval_doc()))
    write_report_json(model_dir, make_report(variants={
        "pruned_int8": {"latency_ms": {"1": {"mean": 0.05, "p90": 0.06}}}}))
    apk = tmp_path / "dist" / "tiny-debug.apk"
    apk.parent.mkdir()
    apk.write_bytes(b"PK\x03\x04 stand-in")
    return model_dir, apk


def _fake_adb(folder: Path, body: str) -> str:
    """An `adb` script on a PATH of its own; returns that PATH."""
    folder.mkdir(exist_ok=True)
    script = folder / "adb"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(folder)


def _options(inputs, path, **kw):
    model_dir, apk = inputs
    return DeviceOptions(model_dir=model_dir, apk=apk, app_dir=ROOT / "android_app", path=path, **kw)


def test_no_adb_on_path(inputs, tmp_path, monkeypatch):
    monkeypatch.delenv("ANDROID_HOME", raising=False)
    monkeypatch.delenv("ANDROID_SDK_ROOT", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DeviceError) as exc:
        run_emulator_test(_options(inputs, str(empty)), log=lambda m: None)
    assert exc.value.problem == "adb (the Android Debug Bridge) is not on PATH, so no device can be reached"
    assert exc.value.fix.startswith("install it: sudo apt-get install adb")


def test_no_device_connected(inputs, tmp_path):
    path = _fake_adb(tmp_path / "bin", 'if [ "$1" = devices ]; then printf "List of devices attached\\n\\n"; '
                                       'exit 0; fi\necho "adb: no devices/emulators found" >&2; exit 1\n')
    with pytest.raises(DeviceError) as exc:
        run_emulator_test(_options(inputs, path), log=lambda m: None)
    assert exc.value.problem == "no Android device or emulator is connected (`adb devices` lists none)"
    assert "system-images;android-34;google_apis;x86_64" in exc.value.fix and "emulator -avd" in exc.value.fix
    assert not (inputs[0] / DEVICE_REPORT).exists()


def _device_adb(tmp_path, install_reply: str, instrument_file: Path) -> str:
    """A stand-in for adb with one emulator attached: answers devices/install/shell am instrument."""
    return _fake_adb(tmp_path / "bin", f"""
[ "$1" = "-s" ] && shift 2
case "$1" in
  devices) printf 'List of devices attached\\nemulator-5554\\tdevice\\n\\n' ;;
  install) printf '{install_reply}' ; case '{install_reply}' in *Success*) exit 0 ;; *) exit 1 ;; esac ;;
  shell) cat '{instrument_file}' ;;
esac
""")


def test_install_refused(inputs, tmp_path):
    transcript = tmp_path / "out.txt"
    transcript.write_text(SUCCESS)
    path = _device_adb(tmp_path, "Performing Streamed Install\\nadb: failed to install x.apk: Failure "
                                 "[INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113]\\n",
                       transcript)
    with pytest.raises(DeviceError) as exc:
        run_emulator_test(_options(inputs, path), log=lambda m: None)
    assert exc.value.problem.startswith("emulator-5554 refused to install ")
    assert exc.value.problem.endswith(": INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113")
    assert "--abis x86_64" in exc.value.fix


def test_process_crash_on_the_device(inputs, tmp_path):
    transcript = tmp_path / "out.txt"
    transcript.write_text(PROCESS_CRASHED)
    path = _device_adb(tmp_path, "Performing Streamed Install\\nSuccess\\n", transcript)
    with pytest.raises(DeviceError, match="the app's process crashed on emulator-5554 during the evaluation"):
        run_emulator_test(_options(inputs, path), log=lambda m: None)


def test_replayed_run_writes_the_device_report(inputs, tmp_path):
    """The whole path with a stand-in device replaying the recorded successful run."""
    transcript = tmp_path / "out.txt"
    transcript.write_text(SUCCESS)
    path = _device_adb(tmp_path, "Performing Streamed Install\\nSuccess\\n", transcript)
    report = run_emulator_test(_options(inputs, path, max_changed=1), log=lambda m: None)
    assert report["passed"] and report["changed_count"] == 1 and report["serial"] == "emulator-5554"
    saved = json.loads((inputs[0] / DEVICE_REPORT).read_text())
    assert saved["changed"][0]["file"] == "images/002.png"
    assert saved["python"]["inference_ms"] == {"mean": 0.05, "p90": 0.06}
    assert report["component"] == COMPONENT
    failing = run_emulator_test(_options(inputs, path), log=lambda m: None)
    assert not failing["passed"]


def test_apk_with_another_model_is_refused(inputs, tmp_path):
    transcript = tmp_path / "out.txt"
    transcript.write_text(SUCCESS.replace(SHA, "0" * 64))
    path = _device_adb(tmp_path, "Success\\n", transcript)
    with pytest.raises(DeviceError, match=r"carries another model \(sha256 000000000000\)"):
        run_emulator_test(_options(inputs, path), log=lambda m: None)


def test_missing_apk_says_how_to_build_it(inputs, tmp_path):
    model_dir, apk = inputs
    apk.unlink()
    with pytest.raises(DeviceError, match=r"no APK at .*tiny-debug.apk - build it first: invoke build-apk --name tiny"):
        run_emulator_test(_options(inputs, os.defpath), log=lambda m: None)
