"""The app's Activity and instrumentation code on the real Android framework, on the host JVM.

Public entry point: `run_robolectric(options) -> RobolectricRun`; `fidelity_row(run)` turns a run
into a row of the fidelity table, and `fetch_robolectric()` (what `invoke setup-android` calls)
fetches the jars ahead of time.

No emulator or system image can be had on a build machine, and the LiteRT native library in the
APK is linked against Android's libc, so it cannot load on the host. Robolectric (Maven Central)
runs the app's own classes on the framework jars of a chosen API level. This module:

1. resolves Robolectric 4.17 with its dependencies and the framework jars of every requested
   API level (`toolchain.MAVEN_ARTIFACTS`, fetched by `invoke setup-android`; the tests run with
   `robolectric.offline=true`, so nothing is downloaded at test time);
2. takes a built debug APK apart: its compiled resources (`resources.arsc`, the APK itself is
   Robolectric's resource APK), its assets, and an `R.java` written from `aapt2 dump resources`,
   so resource ids are the APK's own;
3. writes the replay table: for every image the tests feed the app (the evaluation set, the
   bundled samples, a JPEG with EXIF orientation 6 served through a content:// URI) the exact
   input tensor bytes Python produces (`imageops.load_rgb` + `resize_rgb`, `validate.input_tensor`)
   and the LiteRT interpreter's output for them (eval.json's recorded `raw` for eval images).
   The app's `ClassifierFactory` in `app/src/robolectricTest/` hands out a classifier that
   answers only for those bytes, so one changed byte anywhere in the app's pixel path (decode,
   EXIF, resize, encoder) fails a test;
4. compiles `main` + `robolectricTest` sources (javac of a JDK 21+, which API 36 needs) and runs
   JUnit once, all API levels in one JVM;
5. parses the EvalInstrumentation output each API level wrote, with the parser and comparison
   `invoke emulator-test` uses (`pipeline.android.device`), and copies the screenshots to
   `models/<name>/screenshots/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.android.appfacts import read_app_facts
from pipeline.android.bundle import MODEL_ASSET, SAMPLES_DIR
from pipeline.android.device import check_instrumentation, compare_with_python, parse_instrument_output
from pipeline.android.toolchain import (MAVEN_ARTIFACTS, ROBOLECTRIC_SDKS, ToolchainOptions,
                                        resolve_artifact, resolve_toolchain, resolve_with_dependencies)
from pipeline.artifacts import EVAL_DIR, EVAL_JSON, ModelDir
from pipeline.errors import ConfigError, PipelineError, ToolchainError, ValidationError
from pipeline.fsutil import staged_dir
from pipeline.goldens import le_bytes, ranking
from pipeline.imageops import load_rgb, resize_rgb
from pipeline.metadata import read_metadata
from pipeline.validate import dequantize, input_tensor, invoke_each, io_details

SDKS = (24, 36)  # minSdk and targetSdk of app.properties
JAVA_FOR_SDK = {36: 21}  # API level -> oldest Java Robolectric runs it on (17 for API 35 and below)
SOURCES = Path("app/src/robolectricTest/java")
PICKED_IMAGE = "rotated.jpg"  # MainActivityTest.PICKED
TIMEOUT_S = 600
ROW_NAME = "framework (Robolectric API {levels})"
_JAVA_ENV = ("ROBOLECTRIC_JAVA_HOME", "JAVA_HOME")
_JAVA_DIRS = ("/usr/lib/jvm", "/usr/java", "/opt/java", "/opt", "/Library/Java/JavaVirtualMachines")
_OPENS = ("java.base/java.lang", "java.base/java.lang.reflect", "java.base/java.io", "java.base/java.nio",
          "java.base/java.util", "java.base/java.util.concurrent", "java.base/java.net",
          "java.base/java.security", "java.base/jdk.internal.misc", "java.base/sun.nio.ch",
          "java.desktop/java.awt.font")
_EXPORTS = ("java.base/jdk.internal.access", "java.base/jdk.internal.misc", "java.base/sun.security.util")


@dataclass(frozen=True)
class RobolectricOptions:
    """What to run.

    Attributes:
      apk: a debug APK built by `invoke build-apk` (its resources and assets are used).
      model_dir: `models/<name>/` the APK was built from (eval/eval.json; screenshots go there).
      app_dir: the app's sources (android_app/).
      sdks: API levels to run at.
      screenshots: write `models/<name>/screenshots/api<N>.png`.
      toolchain: where Maven artifacts are cached; nothing is installed.
      timeout_s: limit for the JUnit run.
    """

    apk: Path
    model_dir: Path
    app_dir: Path = Path("android_app")
    sdks: tuple[int, ...] = SDKS
    screenshots: bool = True
    toolchain: ToolchainOptions = field(default_factory=lambda: ToolchainOptions(install=False))
    timeout_s: int = TIMEOUT_S

    def __post_init__(self):
        unknown = [s for s in self.sdks if s not in ROBOLECTRIC_SDKS]
        if not self.sdks or unknown:
            raise ConfigError(f"no Robolectric framework jar is configured for API {unknown or 'none'}",
                              f"choose from {sorted(ROBOLECTRIC_SDKS)} (toolchain.ROBOLECTRIC_SDKS)")


@dataclass(frozen=True)
class RobolectricRun:
    """One JUnit run under Robolectric.

    Attributes:
      passed: JUnit reported success.
      tests / failures: JUnit's counts (every test runs once per API level).
      failed: the failed tests as JUnit names them, `method[API](class)` (no [API]: the newest).
      sdks: the API levels run; java: the JDK used.
      output: JUnit's console output.
      device_reports: API level -> the device report (`device.compare_with_python`) of the
        EvalInstrumentation run at that level, or the error that stopped it.
      screenshots: API level -> PNG path under models/<name>/screenshots/.
      seconds: compile and run wall times.
    """

    passed: bool
    tests: int
    failures: int
    failed: tuple[str, ...]
    sdks: tuple[int, ...]
    java: str
    output: str
    device_reports: dict
    screenshots: dict
    seconds: dict


def run_robolectric(options: RobolectricOptions) -> RobolectricRun:
    """Run the app's Robolectric tests at `options.sdks` with the APK's resources and assets."""
    java_home = _find_java(max(JAVA_FOR_SDK.get(s, 17) for s in options.sdks))
    runtime = _runtime_jars(options)
    with tempfile.TemporaryDirectory(prefix="robolectric-") as tmp:
        work = Path(tmp)
        apk = _unpack_apk(Path(options.apk), Path(options.app_dir), work)
        _write_replay_inputs(Path(options.model_dir), work)
        t0 = time.perf_counter()
        classes = _compile(java_home, Path(options.app_dir), work, runtime["compile"])
        t_compile = time.perf_counter() - t0
        config = _write_config(work, apk, options.sdks)
        t0 = time.perf_counter()
        output = _junit(java_home, [config, classes, *runtime["run"]], work, runtime["sdk_dir"], options)
        t_run = time.perf_counter() - t0
        passed, tests, failures = _junit_counts(output)
        reports = _device_reports(Path(options.model_dir), work / "out", options.sdks)
        shots = _keep_screenshots(Path(options.model_dir), work / "out", options) if options.screenshots else {}
    failed = tuple(re.findall(r"^\d+\) (\S+)$", output, re.M))
    return RobolectricRun(passed=passed, tests=tests, failures=failures, failed=failed, sdks=tuple(options.sdks),
                          java=str(java_home), output=output, device_reports=reports, screenshots=shots,
                          seconds={"compile": round(t_compile, 2), "run": round(t_run, 2)})


def fetch_robolectric(options: ToolchainOptions | None = None, sdks=SDKS) -> str:
    """Fetch Robolectric, its dependencies and the framework jars into the cache (setup-android).

    Returns one line saying what is there and which JDK runs them; ToolchainError when Maven or
    a JDK new enough for the newest API level is missing.
    """
    options = options or ToolchainOptions(install=False)
    jars = resolve_with_dependencies(MAVEN_ARTIFACTS["robolectric"], options)
    resolve_artifact(MAVEN_ARTIFACTS["android_all_compile"], options)
    for sdk in sdks:
        resolve_artifact(MAVEN_ARTIFACTS[ROBOLECTRIC_SDKS[sdk]], options)
    java = _find_java(max(JAVA_FOR_SDK.get(s, 17) for s in sdks))
    return (f"{MAVEN_ARTIFACTS['robolectric'].coordinate} ({len(jars)} jars), framework jars for API "
            f"{', '.join(map(str, sdks))}; Java {_java_version(java)} at {java}")


def fidelity_row(run: RobolectricRun) -> dict:
    """A fidelity-table row (the keys of pipeline.fidelity's rows) from the runs' device reports."""
    levels = "/".join(str(s) for s in run.sdks)
    runtime = ROW_NAME.format(levels=levels)
    good = {s: r for s, r in run.device_reports.items() if isinstance(r, dict) and "per_image" in r}
    if not good:
        why = "; ".join(f"API {s}: {r}" for s, r in run.device_reports.items()) or "no EvalInstrumentation output"
        return {"runtime": runtime, "status": "failed", "note": why}
    disagreements = sorted({c["file"] for r in good.values() for c in r["changed"]})
    diffs = [p["max_score_diff"] for r in good.values() for p in r["per_image"] if p["max_score_diff"] is not None]
    first = next(iter(good.values()))
    missing = [s for s in run.sdks if s not in good]
    note = (f"JUnit {'passed' if run.passed else 'FAILED'} ({run.tests} tests); app pixel path on the "
            "framework, interpreter outputs replayed by input bytes")
    if missing:
        note += f"; no report at API {', '.join(map(str, missing))}"
    return {
        "runtime": runtime, "status": "ok" if run.passed and not missing else "failed",
        "images": first["device"]["images"],
        "top1_agreement": min(r["top1_agreement"] for r in good.values()),
        "disagreements": disagreements,
        "max_score_diff": max(diffs) if diffs else None,
        "accuracy": first["device"]["accuracy"],
        "note": note,
        "sdks": sorted(good), "junit_passed": run.passed,
    }


# ----------------------------------------------------------------------------- Java


def _java_version(home: Path) -> int | None:
    """The feature version (17, 21, 25...) of the JDK at `home`, or None if it is not one."""
    if not (home / "bin" / "javac").is_file() or not (home / "bin" / "java").is_file():
        return None
    release = home / "release"
    text = release.read_text(errors="replace") if release.is_file() else ""
    match = re.search(r'^JAVA_VERSION="(1\.)?(\d+)', text, re.M)
    if match is None:
        res = subprocess.run([str(home / "bin" / "java"), "-version"], capture_output=True, text=True,
                             timeout=60, check=False)
        match = re.search(r'version "(1\.)?(\d+)', res.stderr + res.stdout)
    return int(match.group(2)) if match else None


def _find_java(minimum: int) -> Path:
    """The newest JDK >= `minimum` in $ROBOLECTRIC_JAVA_HOME, $JAVA_HOME, the usual JVM folders or PATH."""
    candidates = [Path(os.environ[v]) for v in _JAVA_ENV if os.environ.get(v)]
    for root in map(Path, _JAVA_DIRS):
        if root.is_dir():
            candidates += sorted(root.iterdir())
            candidates += [p / "Contents" / "Home" for p in sorted(root.iterdir())]
    javac = shutil.which("javac")
    if javac:
        candidates.append(Path(javac).resolve().parent.parent)
    found = {}
    for home in candidates:
        version = _java_version(home)
        if version is not None:
            found.setdefault(home.resolve(), version)
    good = sorted(((v, str(h)) for h, v in found.items() if v >= minimum), reverse=True)
    if not good:
        seen = ", ".join(f"{h} (Java {v})" for h, v in found.items()) or "none"
        raise ToolchainError(
            f"Robolectric needs Java {minimum} or newer for these API levels (API 36: Java 21); JDKs found: {seen}",
            "install one (e.g. sudo apt-get install openjdk-21-jdk-headless, or Temurin 21+) and/or set "
            "ROBOLECTRIC_JAVA_HOME to its folder",
        )
    return Path(good[0][1])


def _runtime_jars(options: RobolectricOptions) -> dict:
    """Compile and run classpaths, and the folder holding the framework jars (offline mode)."""
    tc_options = options.toolchain
    robo = resolve_with_dependencies(MAVEN_ARTIFACTS["robolectric"], tc_options)
    sdk_jars = {s: resolve_artifact(MAVEN_ARTIFACTS[ROBOLECTRIC_SDKS[s]], tc_options) for s in options.sdks}
    junit = [resolve_artifact(MAVEN_ARTIFACTS[k], tc_options) for k in ("junit", "hamcrest")]
    tflite = [lib.classes_jar for lib in resolve_toolchain(tc_options).libraries if lib.classes_jar]
    framework = resolve_artifact(MAVEN_ARTIFACTS["android_all_compile"], tc_options)
    dirs = {p.parent for p in sdk_jars.values()}
    if len(dirs) != 1:
        raise ToolchainError(f"the Robolectric framework jars lie in several folders: {sorted(dirs)}",
                             "keep them in one Maven cache (PIPELINE_CACHE_DIR)")
    run = [*robo, *junit, *tflite]
    # The framework classes are on the plain classpath too (as android.jar is in a Gradle unit
    # test): JUnit loads the test classes there before Robolectric's sandbox takes over.
    return {"compile": [framework, *run], "run": [*run, framework], "sdk_dir": dirs.pop()}


def _compile(java_home: Path, app_dir: Path, work: Path, classpath: list[Path]) -> Path:
    src = app_dir / "app" / "src"
    roots = [src / "main" / "java", app_dir / SOURCES, work / "gen"]
    files = sorted(str(p) for r in roots for p in r.rglob("*.java"))
    if not (app_dir / SOURCES).is_dir():
        raise ConfigError(f"no Robolectric tests under {app_dir / SOURCES}", "pass the repository's android_app/")
    classes = work / "classes"
    classes.mkdir()
    argfile = work / "sources.txt"
    argfile.write_text("\n".join(f'"{f}"' for f in files) + "\n", encoding="utf-8")
    res = subprocess.run([str(java_home / "bin" / "javac"), "--release", "17", "-encoding", "UTF-8", "-nowarn",
                          "-proc:none", "-cp", os.pathsep.join(map(str, classpath)), "-d", str(classes),
                          f"@{argfile}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=TIMEOUT_S, check=False)
    if res.returncode != 0:
        raise ValidationError("javac failed on the app and its Robolectric tests:\n"
                              + "\n".join(res.stdout.strip().splitlines()[-25:]),
                              f"fix the Java error above ({SOURCES} and app/src/main/java)")
    return classes


def _write_config(work: Path, apk: dict, sdks) -> Path:
    """robolectric.properties and the test config Robolectric reads the app's resources from."""
    config = work / "config"
    (config / "com" / "android" / "tools").mkdir(parents=True)
    (config / "robolectric.properties").write_text(f"sdk={','.join(map(str, sdks))}\n")
    (config / "com" / "android" / "tools" / "test_config.properties").write_text(
        f"android_merged_manifest={apk['manifest']}\nandroid_merged_assets={apk['assets']}\n"
        f"android_resource_apk={apk['apk']}\nandroid_custom_package={apk['package']}\n")
    return config


def _test_classes(app_dir: Path) -> list[str]:
    root = app_dir / SOURCES
    return [".".join(p.relative_to(root).with_suffix("").parts) for p in sorted(root.rglob("*Test.java"))]


def _junit(java_home: Path, classpath: list[Path], work: Path, sdk_dir: Path, options: RobolectricOptions) -> str:
    out = work / "out"
    out.mkdir()
    props = {
        "robolectric.offline": "true", "robolectric.dependency.dir": sdk_dir,
        "robolectric.logging.enabled": "false", "replay.table": work / "replay.tsv",
        "robo.out": out, "robo.images": work / "images", "expect.model": work / "expect.txt",
        "file.encoding": "UTF-8", "java.awt.headless": "true",
    }
    cmd = [str(java_home / "bin" / "java"), "-Xmx2g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
           *(f"--add-opens={m}=ALL-UNNAMED" for m in _OPENS),
           *(f"--add-exports={m}=ALL-UNNAMED" for m in _EXPORTS), *(f"-D{k}={v}" for k, v in props.items()),
           "-cp", os.pathsep.join(map(str, classpath)), "org.junit.runner.JUnitCore",
           *_test_classes(Path(options.app_dir))]
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=options.timeout_s, check=False, cwd=work)
    except subprocess.TimeoutExpired:
        raise ValidationError(f"the Robolectric tests did not finish within {options.timeout_s} s",
                              "run pytest tests/test_robolectric.py -s to see where they hang") from None
    return res.stdout


def _junit_counts(output: str) -> tuple[bool, int, int]:
    ok = re.search(r"^OK \((\d+) tests?\)", output, re.M)
    bad = re.search(r"^Tests run: (\d+),\s+Failures: (\d+)", output, re.M)
    if ok:
        return True, int(ok.group(1)), 0
    return False, int(bad.group(1)) if bad else 0, int(bad.group(2)) if bad else 1


# ----------------------------------------------------------------------------- the APK


def _unpack_apk(apk: Path, app_dir: Path, work: Path) -> dict:
    """The APK's assets in a folder, its manifest as text, and R.java with its resource ids."""
    if not apk.is_file():
        raise ConfigError(f"no APK at {apk}", "build it first: invoke build-apk")
    assets = work / "assets"
    with zipfile.ZipFile(apk) as z:
        for name in z.namelist():
            if name.startswith("assets/") and not name.endswith("/"):
                dest = assets / name[len("assets/"):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
    facts = read_app_facts(app_dir)
    manifest = work / "AndroidManifest.xml"
    _text_manifest(app_dir / "app" / "src" / "main" / "AndroidManifest.xml", manifest, facts)
    _write_r_java(apk, facts.namespace, work / "gen")
    return {"apk": apk.resolve(), "assets": assets, "manifest": manifest, "package": facts.namespace}


def _text_manifest(src: Path, dest: Path, facts) -> None:
    """The shared manifest with the package and sdk levels the build injects (targetSdk decides
    edge-to-edge enforcement at API 35+)."""
    ns = "http://schemas.android.com/apk/res/android"
    ET.register_namespace("android", ns)
    root = ET.fromstring(src.read_text(encoding="utf-8").replace("${applicationId}", facts.application_id))
    root.set("package", facts.application_id)
    sdk = ET.Element("uses-sdk", {f"{{{ns}}}minSdkVersion": str(facts.min_sdk),
                                  f"{{{ns}}}targetSdkVersion": str(facts.target_sdk)})
    root.insert(0, sdk)
    dest.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _write_r_java(apk: Path, package: str, gen: Path) -> None:
    aapt2 = shutil.which("aapt2")
    if aapt2 is None:
        raise ToolchainError("aapt2 is not on PATH (needed to read the APK's resource ids)",
                             "run invoke setup-android (as root), or sudo apt-get install aapt")
    res = subprocess.run([aapt2, "dump", "resources", str(apk)], capture_output=True, text=True, timeout=120,
                         check=False)
    types: dict[str, list[str]] = {}
    for m in re.finditer(r"^\s*resource (0x[0-9a-f]{8}) ([A-Za-z0-9_]+)/([A-Za-z0-9_.]+)", res.stdout, re.M):
        types.setdefault(m.group(2), []).append(
            f"        public static final int {m.group(3).replace('.', '_')} = {m.group(1)};")
    if res.returncode != 0 or not types:
        raise ValidationError(f"aapt2 dump resources {apk} listed no resources: {res.stdout[-300:]}{res.stderr[-300:]}",
                              "rebuild the APK: invoke build-apk")
    body = "\n".join(f"    public static final class {t} {{\n" + "\n".join(lines) + "\n    }"
                     for t, lines in sorted(types.items()))
    folder = gen / Path(*package.split("."))
    folder.mkdir(parents=True)
    (folder / "R.java").write_text(f"package {package};\n\npublic final class R {{\n{body}\n}}\n", encoding="utf-8")


# ----------------------------------------------------------------------------- the replay table


def _picked_image() -> np.ndarray:
    """The image served through content://: 56x40 stored, EXIF orientation 6 (upright 40x56).

    Flat 8x8 blocks at JPEG quality 100 without chroma subsampling: every decoder gets the same
    pixels back (no IDCT or upsampling rounding differences), so the test checks the app's EXIF
    and resize, not the platform's JPEG decoder. 40x56 is no whole multiple of a model's input
    size, so the resize interpolates (and rounds) on both axes.
    """
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)


def _write_picked(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_picked_image(), "RGB").save(folder / PICKED_IMAGE, format="JPEG", quality=100,
                                                 subsampling=0, exif=exif.tobytes())


def _write_replay_inputs(model_dir: Path, work: Path) -> None:
    """replay.tsv (name, input hex, output hex, ranking), expect.txt and the content:// image."""
    _write_picked(work / "images")
    assets = work / "assets"
    model = (assets / MODEL_ASSET).read_bytes()
    meta, (inp, out) = read_metadata(model), io_details(model)
    h, w = (int(n) for n in inp["shape"][1:3])
    files = {f"{SAMPLES_DIR}/{p.name}": p for p in sorted((assets / SAMPLES_DIR).glob("*")) if p.is_file()}
    files.update({f"content/{PICKED_IMAGE}": work / "images" / PICKED_IMAGE})
    doc = _eval_doc(assets, model_dir)
    recorded = {e["file"]: np.asarray(e["raw"], out["dtype"]) for e in doc["images"]}
    files.update({name: assets / name for name in recorded})
    names = sorted(files)
    resized = np.stack([resize_rgb(load_rgb(files[n]), h, w) for n in names])
    tensors = input_tensor(resized, inp, meta.mean, meta.std)
    raw = invoke_each(model, tensors)
    lines = []
    for i, name in enumerate(names):
        if name in recorded and not np.array_equal(recorded[name], raw[i]):
            raise ValidationError(f"the evaluation set's recorded output for {name} is not what the interpreter gives now",
                                  "rebuild the APK (invoke build-apk), which rewrites the evaluation set")
        output = recorded.get(name, raw[i])
        order = ranking(dequantize(output[None], out)[0])
        lines.append("\t".join([name, le_bytes(tensors[i]).hex(), le_bytes(output).hex(),
                                ",".join(str(int(c)) for c in order)]))
    (work / "replay.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shape = f"{h}x{w}x3 {np.dtype(inp['dtype']).name.upper()}"
    (work / "expect.txt").write_text("\n".join([meta.name, shape, *meta.labels]) + "\n", encoding="utf-8")


def _eval_doc(assets: Path, model_dir: Path) -> dict:
    path = assets / EVAL_DIR / EVAL_JSON
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"the APK carries no evaluation set ({EVAL_DIR}/{EVAL_JSON} in its assets)",
                          f"build a debug APK from a pipeline model folder: invoke build-apk --name {model_dir.name}") from None
    local = ModelDir(model_dir).read_eval_doc()
    if local is not None and local.get("model_sha256") != doc.get("model_sha256"):
        raise ConfigError(f"the APK's evaluation set is for another model than {model_dir}",
                          f"rebuild the APK: invoke build-apk --name {model_dir.name}")
    return {**doc, "images": [{**e, "file": f"{EVAL_DIR}/{e['file']}"} for e in doc["images"]]}


# ----------------------------------------------------------------------------- results


def _device_reports(model_dir: Path, out: Path, sdks) -> dict:
    """API level -> device report from EvalInstrumentation's output, parsed as on a device."""
    doc = ModelDir(model_dir).read_eval_doc()
    if doc is None:
        raise ConfigError(f"no evaluation set in {model_dir}",
                          f"build the model and a debug APK: invoke build-apk --name {Path(model_dir).name}")
    reports = {}
    for sdk in sdks:
        path = out / f"instrument-api{sdk}.txt"
        if not path.is_file():
            reports[sdk] = f"EvalInstrumentation wrote no output at API {sdk}"
            continue
        parsed = parse_instrument_output(path.read_text(encoding="utf-8"))
        try:
            check_instrumentation(parsed, "EvalInstrumentation (Robolectric)", f"Robolectric API {sdk}")
            reports[sdk] = compare_with_python(doc, parsed)
        except PipelineError as exc:
            reports[sdk] = str(exc)
    return reports


def _keep_screenshots(model_dir: Path, out: Path, options: RobolectricOptions) -> dict:
    shots = {s: out / f"screenshot-api{s}.png" for s in options.sdks if (out / f"screenshot-api{s}.png").is_file()}
    if not shots:
        return {}
    dest = ModelDir(model_dir).screenshots_dir
    with staged_dir(dest) as stage:
        for sdk, png in shots.items():
            shutil.copyfile(png, stage / f"api{sdk}.png")
    return {sdk: dest / f"api{sdk}.png" for sdk in shots}
