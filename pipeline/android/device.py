"""Accuracy on a device or emulator, compared with Python image by image (`invoke emulator-test`).

Public entry point: `run_emulator_test(options) -> dict`. Steps:
 1. check the local inputs: the APK (`dist/<name>-debug.apk`), the model and its evaluation set
    (`models/<name>/eval/`, which the APK carries as `assets/eval/`);
 2. find `adb` and one device or running emulator (`adb devices`; `serial` picks one);
 3. `adb install -r` the APK;
 4. `adb shell am instrument -w -r <package>/<EvalInstrumentation>`: the app's own classifier runs
    over the evaluation set on the device (android_app/.../eval/EvalInstrumentation.java);
 5. parse the raw instrumentation output (`parse_instrument_output`, a pure function), compare
    with Python's results from the evaluation set, write the device report atomically
    (`ModelDir.write_device_report`; `tasks.py` then refreshes the fidelity table's device row).
The result has `passed`: false when more than `max_changed` images changed their top-1 from
Python's. `format_device_report(report)` gives the side-by-side table. Every failure on the way
(no adb, no device, install refused, instrumentation missing or crashed) is one DeviceError
saying what happened and what to do.

The raw format (`am instrument -r`) is line based: `INSTRUMENTATION_STATUS: key=value` lines
and one `INSTRUMENTATION_STATUS_CODE: n` per status bundle, then `INSTRUMENTATION_RESULT:
key=value` lines and `INSTRUMENTATION_CODE: n` (-1 = Activity.RESULT_OK) at the end. A value may
span lines (a stack trace): lines without a prefix continue the previous value.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.android.appfacts import read_app_facts
from pipeline.artifacts import DEVICE_REPORT, ModelDir
from pipeline.errors import ConfigError, DeviceError, PipelineError
from pipeline.runlog import first_line, log as default_log, output_tail

INSTRUMENTATION_CLASS = "com.example.imageclassifier.eval.EvalInstrumentation"
STATUS_IMAGE = 1  # EvalInstrumentation.STATUS_IMAGE
RESULT_OK = -1  # android.app.Activity.RESULT_OK
ADB_INSTALL = ("sudo apt-get install adb (Debian/Ubuntu), or install the Android SDK platform-tools "
               "(sdkmanager \"platform-tools\") and set ANDROID_HOME")
EMULATOR_HELP = (
    "start an x86_64 emulator (README, \"Accuracy on an emulator\": sdkmanager \"emulator\" "
    "\"platform-tools\" \"system-images;android-34;google_apis;x86_64\", avdmanager create avd -n pixel "
    "-k \"system-images;android-34;google_apis;x86_64\", then emulator -avd pixel) or connect a phone "
    "with USB debugging on; `adb devices` must list it as 'device'"
)
# Why `adb install` refuses an APK, and what to do about it.
_INSTALL_FIXES = {
    "INSTALL_FAILED_NO_MATCHING_ABIS": "the APK has no native library for this device's CPU: "
                                       "rebuild it with its ABI (invoke build-apk --abis x86_64,arm64-v8a)",
    "INSTALL_FAILED_UPDATE_INCOMPATIBLE": "an app with this id but another signing key is installed: "
                                          "adb uninstall {package}, then run this again",
    "INSTALL_FAILED_OLDER_SDK": "the device's Android is older than the app's minSdk "
                                "(android_app/app.properties): use a newer emulator image",
    "INSTALL_FAILED_VERSION_DOWNGRADE": "a newer versionCode is installed: adb uninstall {package}",
    "INSTALL_FAILED_INSUFFICIENT_STORAGE": "free space on the device (or wipe the emulator's data)",
    "INSTALL_PARSE_FAILED_NO_CERTIFICATES": "the APK is not signed: rebuild it with invoke build-apk",
    "INSTALL_FAILED_INVALID_APK": "the APK is damaged: rebuild it with invoke build-apk",
}


@dataclass(frozen=True)
class DeviceOptions:
    """What to run where.

    Attributes:
      model_dir: the model's folder (`models/<name>/`): model.tflite, eval/, report.json; the
        device report is written there.
      apk: the APK to install; None = `dist/<name>-debug.apk`.
      serial: the adb serial of the device to use (`adb devices`); None = the only one connected.
      max_changed: how many evaluation images may change their top-1 from Python's before the
        run fails (default 0: none may).
      app_dir: the Android project (for the application id in app.properties).
      adb: the adb executable; None = search `path`, then $ANDROID_HOME/platform-tools.
      path: the PATH to search for adb; None = this process's PATH.
      threads: interpreter threads on the device (Python's latency is measured with 1).
      timeout_s: seconds the on-device evaluation (`am instrument`) may take.
      install_timeout_s: seconds `adb install` may take.
      adb_timeout_s: seconds a short adb call (`adb devices`) may take.
    A call that runs out of time is killed with its whole process group (adb forks helpers),
    so no adb child outlives it.
    """

    model_dir: Path
    apk: Path | None = None
    serial: str | None = None
    max_changed: int = 0
    app_dir: Path = Path("android_app")
    adb: Path | None = None
    path: str | None = None
    threads: int = 1
    timeout_s: int = 900
    install_timeout_s: int = 300
    adb_timeout_s: int = 60

    def __post_init__(self):
        if not _is_int(self.max_changed) or self.max_changed < 0:
            raise ConfigError(f"max_changed must be a whole number >= 0, got {self.max_changed!r}",
                              "pass --max-changed 0 (no image may change its top-1) or more")
        if not _is_int(self.threads) or not 1 <= self.threads <= 16:
            raise ConfigError(f"threads must be in [1, 16], got {self.threads!r}", "pass --threads 1")
        for name, flag, default in (("timeout_s", "--timeout", 900),
                                    ("install_timeout_s", "--install-timeout", 300),
                                    ("adb_timeout_s", "--adb-timeout", 60)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 1 <= value < 1e6:
                raise ConfigError(f"{name} must be a number of seconds in [1, 1e6), got {value!r}",
                                  f"pass {flag} {default} (the default) or another positive number")

    @property
    def apk_path(self) -> Path:
        if self.apk:
            return Path(self.apk)
        return Path("dist") / f"{Path(self.model_dir).resolve().name}-debug.apk"


def run_emulator_test(options: DeviceOptions, log: Callable[[str], None] | None = None) -> dict:
    """Install, run the on-device evaluation, compare with Python; write device-report.json."""
    log = log or default_log
    folder = ModelDir(options.model_dir)
    apk = options.apk_path
    name = folder.path.resolve().name
    model = folder.model_path
    if not model.is_file():
        raise DeviceError(f"no model at {model}", f"build it and the APK: invoke build-apk --name {name}")
    if folder.has_report():
        folder.verify()  # the model and its evaluation set as they were written
    eval_doc = folder.read_eval_doc()
    if eval_doc is None:
        raise DeviceError(f"no evaluation set at {folder.eval_json}",
                          f"build the APK, which writes it: invoke build-apk --name {name}")
    if not apk.is_file():
        raise DeviceError(f"no APK at {apk}", f"build it first: invoke build-apk --name {name}")
    package = read_app_facts(Path(options.app_dir)).application_id
    component = f"{package}/{INSTRUMENTATION_CLASS}"

    adb = find_adb(options)
    serial = pick_device(list_devices(adb, options.adb_timeout_s), options.serial)
    log(f"==> {serial}: installing {apk}")
    install(adb, serial, apk, package, options.install_timeout_s)
    log(f"==> {serial}: am instrument -w -r {component} ({eval_doc.get('count', '?')} images)")
    cmd = ["shell", "am", "instrument", "-w", "-r", "-e", "threads", str(options.threads), component]
    res = _adb(adb, serial, cmd, options.timeout_s, "the on-device evaluation")
    parsed = parse_instrument_output(res.stdout)
    check_instrumentation(parsed, component, serial)

    report = compare_with_python(eval_doc, parsed, _python_latency(folder), options.max_changed)
    report.update(serial=serial, apk=str(apk), component=component)
    local_sha = hashlib.sha256(folder.model_bytes()).hexdigest()
    device_sha = report["device"].get("model_sha256")
    if device_sha and device_sha != local_sha:
        raise DeviceError(
            f"the APK on {serial} carries another model (sha256 {device_sha[:12]}) than {model} "
            f"({local_sha[:12]})",
            f"rebuild the APK from this model: invoke build-apk --name {name}, then run this again",
        )
    folder.write_device_report(report)
    return report


# ----------------------------------------------------------------------------- adb


def find_adb(options: DeviceOptions) -> Path:
    """The adb executable, or DeviceError with the install command."""
    if options.adb is not None:
        if Path(options.adb).is_file() and os.access(options.adb, os.X_OK):
            return Path(options.adb)
        raise DeviceError(f"adb at {options.adb} does not exist or is not executable", ADB_INSTALL)
    found = shutil.which("adb", path=options.path)
    if found:
        return Path(found)
    for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        sdk = os.environ.get(var)
        if sdk and (Path(sdk) / "platform-tools" / "adb").is_file():
            return Path(sdk) / "platform-tools" / "adb"
    raise DeviceError("adb (the Android Debug Bridge) is not on PATH, so no device can be reached",
                      f"install it: {ADB_INSTALL}")


def _adb(adb: Path, serial: str | None, args: list[str], timeout: float,
         what: str) -> subprocess.CompletedProcess:
    """Run adb; past `timeout` the whole process group is killed (no orphaned child)."""
    cmd = [str(adb), *(["-s", serial] if serial else []), *args]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", start_new_session=True)
    except OSError as exc:
        raise DeviceError(f"cannot run {adb} ({exc.strerror or exc})", f"reinstall adb: {ADB_INSTALL}") from None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise DeviceError(f"{what} did not finish within {timeout:g} s ({' '.join(cmd)})",
                          "check the device is responsive (adb devices; restart the emulator), "
                          "or allow more time (--timeout, --install-timeout, --adb-timeout)") from None
    except BaseException:  # Ctrl-C: leave nothing running either
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group `proc` leads (it was started in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
    try:  # drain what was written; a helper that left the group must not keep us waiting
        proc.communicate(timeout=1)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass
    if proc.stdout is not None:
        proc.stdout.close()


def parse_devices(text: str) -> list[tuple[str, str]]:
    """(serial, state) pairs from `adb devices` output."""
    out = []
    started = False
    for line in text.splitlines():
        if line.startswith("List of devices attached"):
            started = True
            continue
        if not started or not line.strip() or line.startswith("*"):
            continue
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


def list_devices(adb: Path, timeout: float = 60) -> list[tuple[str, str]]:
    res = _adb(adb, None, ["devices"], timeout, "adb devices")
    if res.returncode != 0 or "List of devices attached" not in res.stdout:
        raise DeviceError(f"`adb devices` failed (exit {res.returncode}): {output_tail(res.stdout, 3)}",
                          "restart the adb server (adb kill-server; adb start-server) and run this again")
    return parse_devices(res.stdout)


def pick_device(devices: list[tuple[str, str]], serial: str | None) -> str:
    """The serial to use, or DeviceError explaining what is (not) connected."""
    if not devices:
        raise DeviceError("no Android device or emulator is connected (`adb devices` lists none)",
                          EMULATOR_HELP)
    listed = ", ".join(f"{s} ({st})" for s, st in devices)
    if serial is None:
        if len(devices) > 1:
            raise DeviceError(f"{len(devices)} devices are connected: {listed}",
                              "choose one with --serial <serial>")
        serial, state = devices[0]
    else:
        match = [st for s, st in devices if s == serial]
        if not match:
            raise DeviceError(f"no device with serial {serial!r} is connected (connected: {listed})",
                              "pass a serial that `adb devices` lists, or start that emulator")
        state = match[0]
    if state != "device":
        fixes = {
            "unauthorized": "accept the 'Allow USB debugging?' prompt on the device, then run this again",
            "offline": "restart the emulator or reconnect the device (adb kill-server; adb start-server)",
        }
        raise DeviceError(f"device {serial} is {state}, not ready",
                          fixes.get(state, "wait until `adb devices` shows it as 'device'"))
    return serial


def install(adb: Path, serial: str, apk: Path, package: str, timeout: int) -> None:
    """`adb install -r`; a refusal raises DeviceError with adb's reason and the fix for it."""
    res = _adb(adb, serial, ["install", "-r", str(apk)], timeout, "adb install")
    if res.returncode == 0 and re.search(r"^Success\s*$", res.stdout, re.M):
        return
    reason = install_failure(res.stdout)
    code = re.match(r"(INSTALL_[A-Z_]+)", reason or "")
    fix = _INSTALL_FIXES.get(code.group(1) if code else "", "see adb's message; `adb logcat -d` has more")
    raise DeviceError(f"{serial} refused to install {apk}: {reason or output_tail(res.stdout, 3)}",
                      fix.format(package=package))


def install_failure(text: str) -> str | None:
    """The reason inside `Failure [...]` of `adb install` output, or its last error line."""
    match = re.search(r"Failure \[(.+?)\]\s*$", text or "", re.M)
    if match:
        return match.group(1).strip()
    for line in reversed((text or "").splitlines()):
        if "error" in line.lower() or "failed" in line.lower():
            return line.strip()
    return None


# ----------------------------------------------------------------------------- am instrument -r


def parse_instrument_output(text: str) -> dict:
    """Parse `am instrument -w -r` raw output.

    Returns {"statuses": [{"code": int, "values": {...}}, ...], "result": {...}, "code": int or
    None, "failed": the INSTRUMENTATION_FAILED / INSTRUMENTATION_ABORTED text or None,
    "other": lines outside the protocol}. Values that span lines keep their line breaks.
    """
    statuses: list[dict] = []
    pending: dict[str, str] = {}
    result: dict[str, str] = {}
    code = None
    failed = None
    other: list[str] = []
    last: tuple[dict, str] | None = None  # where a continuation line goes
    for raw in (text or "").replace("\r\n", "\n").split("\n"):
        line = raw.rstrip("\r")
        if line.startswith("INSTRUMENTATION_STATUS: "):
            key, _, value = line[len("INSTRUMENTATION_STATUS: "):].partition("=")
            pending[key] = value
            last = (pending, key)
        elif line.startswith("INSTRUMENTATION_STATUS_CODE: "):
            statuses.append({"code": _int_prefix(line[len("INSTRUMENTATION_STATUS_CODE: "):]),
                             "values": pending})
            pending, last = {}, None
        elif line.startswith("INSTRUMENTATION_RESULT: "):
            key, _, value = line[len("INSTRUMENTATION_RESULT: "):].partition("=")
            result[key] = value
            last = (result, key)
        elif line.startswith("INSTRUMENTATION_CODE: "):
            code = _int_prefix(line[len("INSTRUMENTATION_CODE: "):])
            last = None
        elif "INSTRUMENTATION_FAILED" in line or "INSTRUMENTATION_ABORTED" in line:
            failed = line.strip()
            last = None
        elif last is not None:
            target, key = last
            target[key] += "\n" + line
        elif line.strip():
            other.append(line)
    if pending:  # a status bundle the run never closed (the process died mid-report)
        statuses.append({"code": None, "values": pending})
    for bundle in [*(s["values"] for s in statuses), result]:
        for key, value in bundle.items():
            bundle[key] = value.rstrip("\n")
    return {"statuses": statuses, "result": result, "code": code, "failed": failed, "other": other}


def _int_prefix(text: str) -> int | None:
    match = re.match(r"\s*(-?\d+)", text)
    return int(match.group(1)) if match else None


def check_instrumentation(parsed: dict, component: str, serial: str = "the device") -> None:
    """Raise DeviceError unless the run finished with RESULT_OK and no error."""
    result = parsed["result"]
    logcat = f"adb -s {serial} logcat -d -b crash (or: adb -s {serial} logcat -d AndroidRuntime:E *:S)"
    status_error = next((s["values"]["Error"] for s in parsed["statuses"] if "Error" in s["values"]), None)
    if parsed["failed"] or status_error:
        raise DeviceError(
            f"the instrumentation {component} could not start: "
            f"{status_error or parsed['failed']}",
            "install an APK that declares it (rebuild with invoke build-apk; the manifest needs "
            f"<instrumentation android:name=\"{INSTRUMENTATION_CLASS}\" .../>)",
        )
    short = result.get("shortMsg")
    if short:
        detail = result.get("longMsg") or short
        if short.strip().rstrip(".") == "Process crashed":
            raise DeviceError(f"the app's process crashed on {serial} during the evaluation",
                              f"see why: {logcat}")
        raise DeviceError(f"the evaluation crashed on {serial}: {first_line(detail)}",
                          f"see the stack trace: {logcat}")
    if "error" in result:
        where = f" (at {result['error_at']})" if result.get("error_at") else ""
        raise DeviceError(f"the on-device evaluation failed: {result['error']}{where}",
                          f"fix what the message says; more in {logcat}")
    if parsed["code"] is None:
        tail = "; ".join(parsed["other"][-3:]) or "no output"
        raise DeviceError(f"`am instrument` ended without a result on {serial} ({tail})",
                          "the device may have disconnected or killed the app: check adb devices "
                          f"and {logcat}")
    if parsed["code"] != RESULT_OK:
        raise DeviceError(f"the evaluation ended with code {parsed['code']} (expected {RESULT_OK}): "
                          f"{first_line(result.get('stream', '')) or 'no message'}", f"see {logcat}")
    if "images" not in result:
        raise DeviceError(f"the instrumentation on {serial} reported no evaluation result "
                          f"(keys: {', '.join(sorted(result)) or 'none'})",
                          f"is {component} the app's EvalInstrumentation? rebuild with invoke build-apk")


# ----------------------------------------------------------------------------- comparison


def compare_with_python(eval_doc: dict, parsed: dict, python_latency: dict | None = None,
                        max_changed: int = 0) -> dict:
    """The device report: Python's and the device's results side by side, image by image."""
    labels = eval_doc["labels"]
    result = parsed["result"]
    per_image = _per_image(eval_doc, parsed)
    n = int(result["images"])
    if len(per_image) != n:
        raise DeviceError(f"the device reported {len(per_image)} per-image results for {n} images",
                          "the output was cut short: run this again")
    changed = [p for p in per_image if p["device_top1"] != p["python_top1"]]
    evaluated = {p["file"] for p in per_image}
    py_subset = [e for e in eval_doc["images"] if e["file"] in evaluated]
    py_correct = sum(e["top1"] == e["label"] for e in py_subset)
    device = _device_side(result, n)
    python = {
        "runtime": eval_doc["python"].get("runtime"), "images": len(py_subset), "correct": py_correct,
        "accuracy": py_correct / len(py_subset) if py_subset else float("nan"),
        "per_class_correct": [sum(e["label"] == c and e["top1"] == c for e in py_subset)
                              for c in range(len(labels))],
        "per_class_total": [sum(e["label"] == c for e in py_subset) for c in range(len(labels))],
        "inference_ms": python_latency,
    }
    return {
        "format": 1, "labels": labels, "python": python, "device": device,
        "changed": changed, "changed_count": len(changed), "max_changed": max_changed,
        "top1_agreement": 1.0 - len(changed) / n if n else 1.0,
        "accuracy_delta": device["accuracy"] - python["accuracy"],
        "passed": len(changed) <= max_changed,
        "per_image": per_image,
    }


def _per_image(eval_doc: dict, parsed: dict) -> list[dict]:
    """One entry per image status of the instrumentation, beside Python's result for it."""
    py_images = {e["file"]: e for e in eval_doc["images"]}
    per_image = []
    for status in parsed["statuses"]:
        v = status["values"]
        if status["code"] != STATUS_IMAGE or "device_top1" not in v:
            continue
        entry = py_images.get(v.get("file"))
        if entry is None:
            raise DeviceError(f"the device evaluated {v.get('file')!r}, which the local evaluation set "
                              "does not list: the APK was built from another evaluation set",
                              "rebuild the APK (invoke build-apk) and run this again")
        per_image.append({
            "file": v["file"], "label": entry["label"], "python_top1": entry["top1"],
            "device_top1": int(v["device_top1"]),
            "python_score": float(entry["scores"][entry["top1"]]),
            "device_score": _float(v.get("device_score")),
            "max_score_diff": _float(v.get("max_score_diff")),
            "total_ms": _float(v.get("total_ms")), "inference_ms": _float(v.get("inference_ms")),
        })
    return per_image


def _device_side(result: dict, n: int) -> dict:
    return {
        "runtime": result.get("runtime"), "device": result.get("device"), "abi": result.get("abi"),
        "sdk": result.get("sdk"), "threads": _int(result.get("threads")),
        "images": n, "correct": int(result["correct"]), "accuracy": float(result["accuracy"]),
        "per_class_correct": _ints(result.get("per_class_correct")),
        "per_class_total": _ints(result.get("per_class_total")),
        "max_score_diff": _float(result.get("max_score_diff")),
        "latency_ms": {"mean": _float(result.get("latency_mean_ms")),
                       "p90": _float(result.get("latency_p90_ms"))},
        "inference_ms": {"mean": _float(result.get("inference_mean_ms")),
                         "p90": _float(result.get("inference_p90_ms"))},
        "model_sha256": result.get("model_sha256"),
    }


def format_device_report(report: dict) -> str:
    """The side-by-side table: Python vs device, accuracy per class, latency, changed images."""
    py, dev, labels = report["python"], report["device"], report["labels"]

    def acc(side):
        return f"{side['accuracy']:.4f} ({side['correct']}/{side['images']})"

    def ms(d):
        if not d or d.get("mean") is None:
            return "-"
        return f"{d['mean']:.3f} / {d['p90']:.3f}"

    where = ", ".join(str(x) for x in (dev.get("device"), dev.get("abi"),
                                       f"API {dev['sdk']}" if dev.get("sdk") else None) if x)
    rows = [
        ("", f"Python ({py.get('runtime') or 'interpreter'})", f"device ({dev.get('runtime')}: {where})"),
        ("accuracy", acc(py), acc(dev)),
    ]
    for c, label in enumerate(labels):
        pc = f"{py['per_class_correct'][c]}/{py['per_class_total'][c]}"
        dc = (f"{dev['per_class_correct'][c]}/{dev['per_class_total'][c]}"
              if c < len(dev["per_class_correct"]) and c < len(dev["per_class_total"]) else "-")
        rows.append((f"  class {label}", pc, dc + ("" if pc == dc else "   <- differs")))
    rows += [
        ("inference ms mean/p90", ms(py.get("inference_ms")), ms(dev.get("inference_ms"))),
        ("classify ms mean/p90", "-", ms(dev.get("latency_ms"))),
        ("top-1 agreement", "", f"{report['top1_agreement']:.4f} ({report['changed_count']} changed)"),
        ("max score difference", "",
         "-" if dev.get("max_score_diff") is None else f"{dev['max_score_diff']:.6f}"),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows]
    def name(c):
        return labels[c] if 0 <= c < len(labels) else str(c)

    for p in report["changed"][:50]:
        device_score = "-" if p["device_score"] is None else f"{p['device_score']:.4f}"
        lines.append(f"  changed: {p['file']}: true {name(p['label'])}, Python {name(p['python_top1'])} "
                     f"({p['python_score']:.4f}) -> device {name(p['device_top1'])} ({device_score})")
    if len(report["changed"]) > 50:
        lines.append(f"  ... and {len(report['changed']) - 50} more ({DEVICE_REPORT} lists all)")
    mark = "✓" if report["passed"] else "✗"
    lines.append(f"{mark} {report['changed_count']} of {dev['images']} image(s) changed top-1 on the device "
                 f"(allowed: {report['max_changed']})")
    return "\n".join(lines)


def _python_latency(folder: ModelDir) -> dict | None:
    """Python's single-thread invoke latency of the deployable model, from its report."""
    try:
        report = folder.read_report()
        lat = report["variants"][report["deployable"]]["latency_ms"]["1"]
        return {"mean": float(lat["mean"]), "p90": float(lat["p90"])}
    except (PipelineError, KeyError, TypeError, ValueError):
        return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ints(text: str | None) -> list[int]:
    return [int(x) for x in text.split(",")] if text else []
