"""Build the sample app's signed APK without Gradle, then verify what was built.

Public entry point: `build_apk(options: ApkOptions) -> ApkResult`.

Steps (all inside a temporary folder; only a verified APK reaches `dist/`, in one rename):
 1. bundle the model and sample images as assets (`pipeline.android.bundle`);
 2. `aapt2 compile` the resources, `aapt2 link` them with the manifest (application id, sdk
    levels and version from `android_app/app.properties`) and the assets, `.tflite` stored;
 3. `javac --release 8` the `main` + `litert` sources against the Android API and the LiteRT
    classes; run the app's own `ModelInfo` on the host JVM over the bundled model, so an APK is
    never built around a model the app cannot read;
 4. dex the app and library classes (d8 from an SDK, else dx from Maven);
 5. add `classes.dex` and the native libraries of the requested ABIs (stored, page-aligned);
 6. `zipalign -p 4`, `apksigner sign` (`pipeline.android.signing`: the debug keystore created
    on first use, or a release keystore from environment variables);
 7. verify (`pipeline.android.verify`): signature, alignment, the model entry stored + 4-byte
    aligned + identical to `models/<name>/model.tflite`, manifest package/sdk levels/launchable
    activity, dex and native libraries. Every check prints a ✓/✗ line; any ✗ fails the build.

Only the `litert` flavor is built here: the `mlkit` flavor needs ML Kit from Google's Maven
repository and is built by Gradle (android_app/).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from pipeline.android.appfacts import AppFacts, read_app_facts
from pipeline.android.buildtool import TOOL_TIMEOUT_S, run_tool
from pipeline.android.bundle import MODEL_ASSET, build_command, bundle_assets, check_model
from pipeline.android.signing import Signer, SigningOptions
from pipeline.android.toolchain import Toolchain, ToolchainOptions, resolve_toolchain
from pipeline.android.verify import verify_apk
from pipeline.artifacts import ModelDir
from pipeline.errors import ApkError, ConfigError, ModelFileError
from pipeline.evalset import ensure_eval_set
from pipeline.fsutil import atomic_write_bytes
from pipeline.runlog import Timer

log = logging.getLogger(__name__)

VALID_ABIS = ("arm64-v8a", "armeabi-v7a", "x86", "x86_64")
DEFAULT_ABIS = ("arm64-v8a", "x86_64")
HERMETIC_FLAVOR = "litert"
EVAL_PACKAGE = "eval"  # com.example.imageclassifier.eval: EvalInstrumentation, debug builds only
ANDROID_NS = "http://schemas.android.com/apk/res/android"
DESCRIBE_MODEL_CLASS = "com.example.imageclassifier.core.DescribeModel"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DEX_TIMEOUT_S = 600


@dataclass(frozen=True)
class ApkOptions:
    """What to build.

    Attributes:
      model_dir: the pipeline's output folder for one model (`models/<name>/`), holding
        `model.tflite` and optionally `samples/` (images for the app's sample strip).
      app_dir: the Android project (`android_app/`).
      out_dir: where the APK goes (`dist/`).
      name: names the APK `<name>-<build type>.apk`; None = the model folder's name.
      abis: native-library ABIs to ship (any of VALID_ABIS); each adds the LiteRT runtime
        for that ABI (~3.4-4.5 MB uncompressed).
      samples_dir: sample images; None = `<model_dir>/samples/` when it exists.
      signing: the signing key (debug by default).
      toolchain: where the build tools come from.
    """

    model_dir: Path
    app_dir: Path = Path("android_app")
    out_dir: Path = Path("dist")
    name: str | None = None
    abis: tuple[str, ...] = DEFAULT_ABIS
    samples_dir: Path | None = None
    signing: SigningOptions = field(default_factory=SigningOptions.debug)
    toolchain: ToolchainOptions = field(default_factory=ToolchainOptions)

    def __post_init__(self):
        abis = (self.abis,) if isinstance(self.abis, str) else tuple(self.abis)
        unknown = [a for a in abis if a not in VALID_ABIS]
        if unknown:
            raise ConfigError(
                f"unknown ABI {', '.join(repr(a) for a in unknown)}",
                f"use one or more of: {', '.join(VALID_ABIS)}",
            )
        if not abis:
            raise ConfigError("no ABI given", f"use one or more of: {', '.join(VALID_ABIS)}")
        object.__setattr__(self, "abis", tuple(dict.fromkeys(abis)))
        name = self.apk_name
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"APK name {name!r} cannot name a file",
                "use letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit)",
            )

    @property
    def apk_name(self) -> str:
        return self.name or Path(self.model_dir).resolve().name

    @property
    def apk_path(self) -> Path:
        return Path(self.out_dir) / f"{self.apk_name}-{self.signing.build_type}.apk"


@dataclass(frozen=True)
class ApkResult:
    """The verified APK and what it took.

    Attributes:
      apk: the APK in out_dir.
      apk_bytes / model_bytes / dex_bytes: sizes in bytes; native_bytes: per ABI, uncompressed.
      samples: how many sample images were bundled; eval_files: files of the evaluation set.
      checks: the verification's ✓ lines.
      timings: seconds per step (toolchain, keystore, bundle, resources, javac, model_check, dex,
        package, zipalign, sign, verify, write) and total.
      toolchain: where the tools came from.
    """

    apk: Path
    build_type: str
    application_id: str
    version_name: str
    version_code: int
    min_sdk: int
    target_sdk: int
    abis: tuple[str, ...]
    apk_bytes: int
    model_bytes: int
    dex_bytes: int
    native_bytes: Mapping[str, int]
    samples: int
    eval_files: int
    checks: tuple[str, ...]
    timings: Mapping[str, float]
    toolchain: str

    def summary(self) -> list[str]:
        mb = 1024 * 1024
        return [
            f"{self.apk} ({self.apk_bytes / mb:.2f} MB, {self.build_type}, ABIs {', '.join(self.abis)})",
            f"  {self.application_id} {self.version_name} ({self.version_code}), "
            f"minSdk {self.min_sdk}, targetSdk {self.target_sdk}",
            f"  model {self.model_bytes:,} B, dex {self.dex_bytes:,} B, native "
            + ", ".join(f"{abi} {n:,} B" for abi, n in self.native_bytes.items())
            + f", {self.samples} sample images, {self.eval_files} evaluation-set files",
            *(f"  {line}" for line in self.checks),
            f"  built in {self.timings['total']:.1f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items() if k != "total")
            + ")",
        ]


def build_apk(options: ApkOptions) -> ApkResult:
    """Build, sign and verify the APK; write it to `options.apk_path` only when every check passes."""
    if not isinstance(options, ApkOptions):
        raise TypeError(f"build_apk takes ApkOptions(model_dir=...), not {type(options).__name__}")
    started = time.perf_counter()
    timer = Timer(log.info, prefix="build-apk: ")
    app_dir = Path(options.app_dir)
    facts = read_app_facts(app_dir)
    sources = _source_sets(app_dir)
    model = check_model(Path(options.model_dir))  # before the (slower) toolchain resolution
    debuggable = options.signing.build_type == "debug"
    if debuggable and ModelDir(options.model_dir).has_report():  # a pipeline-built model folder
        with timer("eval_set"):
            ensure_eval_set(Path(options.model_dir))  # assets/eval/ for the instrumentation
    with timer("toolchain"):
        tc = _toolchain(options, facts)
    signer = Signer(options.signing, tc)
    with timer("keystore"):
        signer.prepare()
    with tempfile.TemporaryDirectory(prefix="pipeline-apk-") as tmp:
        work = Path(tmp)
        built = _build(work, tc, facts, sources, options, timer)
        with timer("sign"):
            signer.sign(work / "aligned.apk", work / "signed.apk")
        with timer("verify"):
            checks = verify_apk(work / "signed.apk", tc, facts, options, model.read_bytes(),
                                built["described"], debuggable)
        with timer("write"):
            out = options.apk_path
            atomic_write_bytes(out, (work / "signed.apk").read_bytes())
            out.chmod(0o644)  # a build artifact, not a secret (the temporary file was 0600)
    timer.times["total"] = time.perf_counter() - started
    bundle = built["bundle"]
    return ApkResult(
        apk=out, build_type=options.signing.build_type, application_id=facts.application_id,
        version_name=facts.version_name, version_code=facts.version_code,
        min_sdk=facts.min_sdk, target_sdk=facts.target_sdk, abis=options.abis,
        apk_bytes=out.stat().st_size, model_bytes=bundle.model_bytes, dex_bytes=built["dex_bytes"],
        native_bytes=built["native"], samples=len(bundle.samples), eval_files=bundle.eval_files,
        checks=tuple(checks), timings=dict(timer.times), toolchain=tc.source,
    )


def _toolchain(options: ApkOptions, facts: AppFacts) -> Toolchain:
    """The build tools, with a LiteRT runtime that ships every requested ABI."""
    tc_options = options.toolchain
    if tc_options.compile_sdk is None:
        tc_options = replace(tc_options, compile_sdk=facts.compile_sdk)
    tc = resolve_toolchain(tc_options)
    shipped = set().union(*(lib.native for lib in tc.libraries))
    absent = [abi for abi in options.abis if abi not in shipped]
    if absent:
        raise ApkError(
            f"the LiteRT runtime ({', '.join(lib.artifact.coordinate for lib in tc.libraries)}) has no "
            f"native library for {', '.join(absent)}",
            f"choose from the ABIs it ships: {', '.join(sorted(shipped))}",
        )
    return tc


def _build(work: Path, tc: Toolchain, facts: AppFacts, sources, options: ApkOptions, timer) -> dict:
    """Assets, resources, classes, dex and native libraries into `work/aligned.apk` (unsigned)."""
    debuggable = options.signing.build_type == "debug"
    with timer("bundle"):
        bundle = bundle_assets(Path(options.model_dir), work / "assets", options.samples_dir,
                               eval_set=debuggable)
    with timer("resources"):
        base = _link_resources(tc, facts, sources, work, debuggable)
    with timer("javac"):
        classes = _compile_java(tc, sources, work, debuggable)
    with timer("model_check"):
        described = _describe_model(tc, classes, work / "assets" / MODEL_ASSET, options)
    with timer("dex"):
        dex = _dex(tc, classes, facts, work)
    with timer("package"):
        native = _package(base, dex, tc, options.abis, work / "unaligned.apk")
    with timer("zipalign"):
        run_tool([str(tc.zipalign), "-p", "-f", "4", str(work / "unaligned.apk"),
                  str(work / "aligned.apk")], "zipalign")
    return {"bundle": bundle, "described": described, "dex_bytes": dex.stat().st_size,
            "native": native}


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Sources:
    manifest: Path
    res: Path
    java: tuple[Path, ...]


def _source_sets(app_dir: Path) -> _Sources:
    src = app_dir / "app" / "src"
    main = src / "main"
    java = tuple(d for d in (main / "java", src / HERMETIC_FLAVOR / "java") if d.is_dir())
    if not (main / "AndroidManifest.xml").is_file() or not java:
        raise ConfigError(
            f"{app_dir} is not the sample app (no app/src/main/AndroidManifest.xml or java sources)",
            "pass the repository's android_app/ folder (ApkOptions.app_dir)",
        )
    return _Sources(main / "AndroidManifest.xml", main / "res", java)


def _manifest(src: Path, dest: Path, facts: AppFacts, debuggable: bool = True) -> None:
    """The shared manifest plus what Gradle would inject: package, placeholders, packaging.

    A release build drops the evaluation `<instrumentation>` (debug builds only, as its classes).
    """
    ET.register_namespace("android", ANDROID_NS)
    text = src.read_text(encoding="utf-8").replace("${applicationId}", facts.application_id)
    root = ET.fromstring(text)
    declared = root.get("package")
    if declared and declared != facts.application_id:
        raise ConfigError(
            f"{src} declares package {declared!r} but app.properties says applicationId "
            f"{facts.application_id!r}",
            "remove package= from the manifest: app.properties is the one place for it",
        )
    root.set("package", facts.application_id)
    app = root.find("application")
    if app is None:
        raise ConfigError(f"{src} has no <application>", "restore the manifest from the repository")
    # Native libraries stay stored and page-aligned in the APK and are mapped from there
    # (what AGP does for minSdk >= 23 with useLegacyPackaging false).
    app.set(f"{{{ANDROID_NS}}}extractNativeLibs", "false")
    if not debuggable:
        for inst in root.findall("instrumentation"):
            root.remove(inst)
    dest.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _link_resources(tc: Toolchain, facts: AppFacts, sources: _Sources, work: Path, debuggable: bool) -> Path:
    manifest = work / "AndroidManifest.xml"
    _manifest(sources.manifest, manifest, facts, debuggable)
    compiled = work / "res.zip"
    run_tool([str(tc.aapt2), "compile", "--dir", str(sources.res), "-o", str(compiled)], "aapt2 compile")
    gen = work / "gen"
    gen.mkdir()
    base = work / "base.apk"
    cmd = [
        str(tc.aapt2), "link", "-o", str(base),
        "-I", str(tc.platform),
        "--manifest", str(manifest),
        "--min-sdk-version", str(facts.min_sdk),
        "--target-sdk-version", str(facts.target_sdk),
        "--version-code", str(facts.version_code),
        "--version-name", facts.version_name,
        "--custom-package", facts.namespace,
        "--java", str(gen),
        "-A", str(work / "assets"),
        # The model is memory-mapped from the APK: it must be stored. The suffix needs its dot:
        # Debian's aapt2 (2.19) still compresses with `-0 tflite`; `.tflite` works everywhere.
        "-0", ".tflite",
        *(["--debug-mode"] if debuggable else []),
        str(compiled),
    ]
    run_tool(cmd, "aapt2 link", fix=(
        f"aapt2 links against API {tc.platform_api}: manifest attributes or resources newer than that "
        "fail here; keep them to that level (see android_app/app/src/main/AndroidManifest.xml)"
    ))
    return base


def _compile_java(tc: Toolchain, sources: _Sources, work: Path, debuggable: bool = True) -> Path:
    """javac the app; a release build leaves out the evaluation package (`.../eval/`)."""
    files = sorted(str(p) for d in (*sources.java, work / "gen") for p in d.rglob("*.java")
                   if debuggable or p.parent.name != EVAL_PACKAGE)
    classes = work / "classes"
    classes.mkdir()
    argfile = work / "javac-sources.txt"
    argfile.write_text("\n".join(f'"{f}"' for f in files) + "\n", encoding="utf-8")
    classpath = os.pathsep.join([str(tc.android_jar), *(str(lib.classes_jar) for lib in tc.libraries if lib.classes_jar)])
    run_tool([str(tc.javac), "--release", "8", "-encoding", "UTF-8", "-g", "-nowarn", "-Xlint:-options",
          "-cp", classpath, "-d", str(classes), f"@{argfile}"], "javac",
         fix="fix the Java error above (sources must compile as Java 8 against API 16 stubs)")
    return classes


def _describe_model(tc: Toolchain, classes: Path, model: Path, options: ApkOptions) -> dict:
    """Run the app's ModelInfo on the host JVM; refuse a model the app cannot read."""
    cmd = [str(tc.java), "-cp", str(classes), DESCRIBE_MODEL_CLASS, str(model)]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TOOL_TIMEOUT_S,
                            check=False)
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ModelFileError(
            f"the app cannot use {Path(options.model_dir) / 'model.tflite'}: "
            f"{reason[-1] if reason else 'exit ' + str(result.returncode)}",
            f"rebuild the model with its metadata: {build_command(Path(options.model_dir))} --force",
        )
    info: dict = {"label": []}
    for line in result.stdout.decode("utf-8").splitlines():
        key, _, value = line.partition("=")
        if key == "label":
            info["label"].append(value)
        else:
            info[key] = value
    return info


def _dex(tc: Toolchain, classes: Path, facts: AppFacts, work: Path) -> Path:
    app_jar = work / "app-classes.jar"
    with zipfile.ZipFile(app_jar, "w", zipfile.ZIP_STORED) as jar:
        for path in sorted(classes.rglob("*.class")):
            jar.write(path, path.relative_to(classes).as_posix())
    inputs = [str(app_jar), *(str(lib.classes_jar) for lib in tc.libraries if lib.classes_jar)]
    out = work / "dex"
    out.mkdir()
    if tc.dexer_kind == "d8":
        cmd = [*tc.dexer, "--release", "--min-api", str(facts.min_sdk), "--lib", str(tc.android_jar),
               "--output", str(out), *inputs]
    else:
        cmd = [*tc.dexer, f"--min-sdk-version={facts.min_sdk}", f"--output={out / 'classes.dex'}", *inputs]
    run_tool(cmd, f"dex ({tc.dexer_kind})", timeout=_DEX_TIMEOUT_S,
         fix="dx takes Java 8 bytecode without lambdas or invokedynamic: use anonymous classes in the app")
    dex = out / "classes.dex"
    if not dex.is_file() or (out / "classes2.dex").exists():
        raise ApkError(f"the dexer did not write exactly one {dex.name}", "the app outgrew one dex file; report it")
    return dex


def _package(base: Path, dex: Path, tc: Toolchain, abis: tuple[str, ...], out: Path) -> dict[str, int]:
    """base.apk + classes.dex + lib/<abi>/*.so (stored: extractNativeLibs=false maps them)."""
    shutil.copyfile(base, out)
    native: dict[str, int] = {}
    with zipfile.ZipFile(out, "a") as apk:
        _add(apk, "classes.dex", dex.read_bytes(), zipfile.ZIP_DEFLATED)
        for abi in abis:
            native[abi] = 0
            for lib in tc.libraries:
                for so in lib.native.get(abi, ()):
                    data = so.read_bytes()
                    _add(apk, f"lib/{abi}/{so.name}", data, zipfile.ZIP_STORED)
                    native[abi] += len(data)
    return native


def _add(apk: zipfile.ZipFile, name: str, data: bytes, method: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
    info.compress_type = method
    info.external_attr = 0o644 << 16
    apk.writestr(info, data)
