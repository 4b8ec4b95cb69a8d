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
 6. `zipalign -p 4`, `apksigner sign` (debug keystore created on first use, or a release
    keystore from environment variables);
 7. verify: signature, alignment, the model entry stored + 4-byte aligned + identical to
    `models/<name>/model.tflite`, manifest package/sdk levels/launchable activity, dex and
    native libraries. Every check prints a ✓/✗ line; any ✗ fails the build.

Only the `litert` flavor is built here: the `mlkit` flavor needs ML Kit from Google's Maven
repository and is built by Gradle (android_app/).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Mapping

from pipeline.android.appfacts import AppFacts, read_app_facts
from pipeline.android.bundle import MODEL_ASSET, build_command, bundle_assets, check_model
from pipeline.android.toolchain import Toolchain, ToolchainOptions, resolve_toolchain
from pipeline.artifacts import ModelDir
from pipeline.errors import ApkError, ConfigError, ModelFileError, PipelineError
from pipeline.evalset import ensure_eval_set
from pipeline.fsutil import atomic_write_bytes
from pipeline.metadata import read_metadata

log = logging.getLogger(__name__)

VALID_ABIS = ("arm64-v8a", "armeabi-v7a", "x86", "x86_64")
DEFAULT_ABIS = ("arm64-v8a", "x86_64")
HERMETIC_FLAVOR = "litert"
EVAL_PACKAGE = "eval"  # com.example.imageclassifier.eval: EvalInstrumentation, debug builds only
EVAL_CLASS = "Lcom/example/imageclassifier/eval/EvalInstrumentation;"
ANDROID_NS = "http://schemas.android.com/apk/res/android"
DESCRIBE_MODEL_CLASS = "com.example.imageclassifier.core.DescribeModel"

DEBUG_KEYSTORE = Path("~/.android/debug.keystore")  # where Android Studio keeps it too
DEBUG_ALIAS = "androiddebugkey"
DEBUG_PASSWORD = "android"  # the well-known debug keystore password (not a secret)
# Release signing is configured through these environment variables (never files in the repo).
RELEASE_ENV = {
    "keystore": "APK_KEYSTORE",
    "store_password": "APK_KEYSTORE_PASSWORD",
    "alias": "APK_KEY_ALIAS",
    "key_password": "APK_KEY_PASSWORD",  # optional: defaults to the keystore password
}
# Names under which the passwords reach keytool/apksigner (`env:` arguments), never argv.
_STORE_PASS_VAR = "PIPELINE_APK_STORE_PASS"
_KEY_PASS_VAR = "PIPELINE_APK_KEY_PASS"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DEX_TIMEOUT_S = 600
_TOOL_TIMEOUT_S = 300


@dataclass(frozen=True)
class SigningOptions:
    """Which key signs the APK. Build with `SigningOptions.debug()` or `.release_from_env()`.

    Attributes:
      build_type: "debug" (debuggable, debug key) or "release"; names the APK `<name>-<type>.apk`.
      keystore: the keystore file; for debug None = ~/.android/debug.keystore, created on first use.
      alias: the key's alias in the keystore.
      store_password: the keystore password (kept out of repr, logs and command lines).
      key_password: the key's password; None = the keystore password.
    """

    build_type: str = "debug"
    keystore: Path | None = None
    alias: str = DEBUG_ALIAS
    store_password: str = field(default=DEBUG_PASSWORD, repr=False)
    key_password: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.build_type not in ("debug", "release"):
            raise ConfigError(
                f"signing build_type = {self.build_type!r} is unknown", "use 'debug' or 'release'"
            )
        if self.build_type == "release" and self.keystore is None:
            raise ConfigError("a release build needs a keystore", f"set {RELEASE_ENV['keystore']}")

    @classmethod
    def debug(cls, keystore: Path | None = None) -> "SigningOptions":
        """The debug key (alias androiddebugkey, password android), created on first use."""
        return cls(build_type="debug", keystore=Path(keystore) if keystore else None)

    @classmethod
    def release_from_env(cls, environ: Mapping[str, str] | None = None) -> "SigningOptions":
        """A release key from APK_KEYSTORE, APK_KEYSTORE_PASSWORD, APK_KEY_ALIAS (+ APK_KEY_PASSWORD)."""
        env = os.environ if environ is None else environ
        required = ("keystore", "store_password", "alias")
        missing = [RELEASE_ENV[k] for k in required if not env.get(RELEASE_ENV[k])]
        if missing:
            raise ConfigError(
                f"release signing is not configured: {', '.join(missing)} not set",
                "export " + ", ".join(RELEASE_ENV[k] for k in required)
                + f" (and {RELEASE_ENV['key_password']} if the key has its own password)",
            )
        return cls(
            build_type="release",
            keystore=Path(env[RELEASE_ENV["keystore"]]).expanduser(),
            alias=env[RELEASE_ENV["alias"]],
            store_password=env[RELEASE_ENV["store_password"]],
            key_password=env.get(RELEASE_ENV["key_password"]) or None,
        )


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
    timer = _Timer()
    app_dir = Path(options.app_dir)
    facts = read_app_facts(app_dir)
    sources = _source_sets(app_dir)
    model = check_model(Path(options.model_dir))  # before the (slower) toolchain resolution
    debuggable = options.signing.build_type == "debug"
    if debuggable and ModelDir(options.model_dir).has_report():  # a pipeline-built model folder
        with timer("eval_set"):
            ensure_eval_set(Path(options.model_dir))  # assets/eval/ for the instrumentation
    with timer("toolchain"):
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
    signer = _Signer(options.signing, tc)
    with timer("keystore"):
        signer.prepare()
    with tempfile.TemporaryDirectory(prefix="pipeline-apk-") as tmp:
        work = Path(tmp)
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
            dex_bytes = dex.stat().st_size
        with timer("package"):
            native = _package(base, dex, tc, options.abis, work / "unaligned.apk")
        with timer("zipalign"):
            _run([str(tc.zipalign), "-p", "-f", "4", str(work / "unaligned.apk"), str(work / "aligned.apk")],
                 "zipalign")
        with timer("sign"):
            signer.sign(work / "aligned.apk", work / "signed.apk")
        with timer("verify"):
            checks = _verify(work / "signed.apk", tc, facts, options, model.read_bytes(), described,
                             debuggable)
        with timer("write"):
            out = options.apk_path
            atomic_write_bytes(out, (work / "signed.apk").read_bytes())
            out.chmod(0o644)  # a build artifact, not a secret (the temporary file was 0600)
    timer.timings["total"] = time.perf_counter() - timer.start
    return ApkResult(
        apk=out,
        build_type=options.signing.build_type,
        application_id=facts.application_id,
        version_name=facts.version_name,
        version_code=facts.version_code,
        min_sdk=facts.min_sdk,
        target_sdk=facts.target_sdk,
        abis=options.abis,
        apk_bytes=out.stat().st_size,
        model_bytes=bundle.model_bytes,
        dex_bytes=dex_bytes,
        native_bytes=native,
        samples=len(bundle.samples),
        eval_files=bundle.eval_files,
        checks=tuple(checks),
        timings=dict(timer.timings),
        toolchain=tc.source,
    )


# ----------------------------------------------------------------------------- helpers


class _Timer:
    def __init__(self):
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        log.info("build-apk: %s", step)
        try:
            yield
        finally:
            self.timings[step] = round(time.perf_counter() - t0, 3)


def _run(cmd: list[str], step: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
         timeout: int = _TOOL_TIMEOUT_S, fix: str = "") -> str:
    """Run a build tool; a failure raises ApkError with the tool's last lines of output."""
    try:
        result = subprocess.run(cmd, env=dict(env) if env is not None else None, cwd=cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ApkError(f"{step} did not finish within {timeout} s", fix or "run it again; if it hangs, report it") from None
    except OSError as exc:
        raise ApkError(f"{step}: cannot run {cmd[0]} ({exc.strerror or exc})", fix or "check the toolchain") from None
    if result.returncode != 0:
        tail = "\n".join(result.stdout.strip().splitlines()[-15:])
        raise ApkError(f"{step} failed (exit {result.returncode}):\n{tail}",
                       fix or "this is a build bug if the sources are unchanged; report it with this output")
    return result.stdout


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
    _run([str(tc.aapt2), "compile", "--dir", str(sources.res), "-o", str(compiled)], "aapt2 compile")
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
    _run(cmd, "aapt2 link", fix=(
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
    _run([str(tc.javac), "--release", "8", "-encoding", "UTF-8", "-g", "-nowarn", "-Xlint:-options",
          "-cp", classpath, "-d", str(classes), f"@{argfile}"], "javac",
         fix="fix the Java error above (sources must compile as Java 8 against API 16 stubs)")
    return classes


def _describe_model(tc: Toolchain, classes: Path, model: Path, options: ApkOptions) -> dict:
    """Run the app's ModelInfo on the host JVM; refuse a model the app cannot read."""
    cmd = [str(tc.java), "-cp", str(classes), DESCRIBE_MODEL_CLASS, str(model)]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=_TOOL_TIMEOUT_S,
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
    _run(cmd, f"dex ({tc.dexer_kind})", timeout=_DEX_TIMEOUT_S,
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


class _Signer:
    """Signs with the configured key; passwords reach the tools through the environment only."""

    def __init__(self, options: SigningOptions, tc: Toolchain):
        self.options = options
        self.tc = tc
        self.keystore = Path(options.keystore or DEBUG_KEYSTORE).expanduser()
        self.env = {**os.environ, _STORE_PASS_VAR: options.store_password,
                    _KEY_PASS_VAR: options.key_password or options.store_password}

    def prepare(self) -> None:
        """Create the debug keystore on first use; check the keystore opens with its password."""
        if not self.keystore.is_file():
            if self.options.build_type != "debug":
                raise ApkError(
                    f"the release keystore {self.keystore} does not exist",
                    f"point {RELEASE_ENV['keystore']} at your keystore file",
                )
            self._create_debug_keystore()
        result = subprocess.run(
            [str(self.tc.keytool), "-list", "-keystore", str(self.keystore),
             "-storepass:env", _STORE_PASS_VAR, "-alias", self.options.alias],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
            timeout=_TOOL_TIMEOUT_S,
        )
        if result.returncode != 0:
            self._raise_keystore_error(result.stdout)

    def _password_fix(self) -> str:
        if self.options.build_type == "release":
            return f"set {RELEASE_ENV['store_password']} to the keystore's password"
        return (f"the debug keystore's password must be '{DEBUG_PASSWORD}': move {self.keystore} aside "
                "and build again to create a new one")

    def _raise_keystore_error(self, output: str) -> None:
        text = output.lower()
        if "password" in text:
            raise ApkError(f"the keystore password for {self.keystore} is wrong", self._password_fix())
        if "does not exist" in text:
            raise ApkError(
                f"the keystore {self.keystore} has no key with alias {self.options.alias!r}",
                f"set {RELEASE_ENV['alias']} to one of the aliases `keytool -list -keystore {self.keystore}` shows"
                if self.options.build_type == "release" else f"move {self.keystore} aside to create a new debug key",
            )
        raise ApkError(
            f"the keystore {self.keystore} cannot be read: {_last(output)}",
            "check that it is a JKS or PKCS12 keystore",
        )

    def _create_debug_keystore(self) -> None:
        self.keystore.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.keystore.parent, prefix=".keystore-") as tmp:
            fresh = Path(tmp) / "debug.keystore"
            _run([str(self.tc.keytool), "-genkeypair", "-keystore", str(fresh), "-storetype", "PKCS12",
                  "-storepass:env", _STORE_PASS_VAR, "-keypass:env", _STORE_PASS_VAR,
                  "-alias", self.options.alias, "-keyalg", "RSA", "-keysize", "2048", "-validity", "10950",
                  "-dname", "CN=Android Debug,O=Android,C=US"], "keytool -genkeypair", env=self.env)
            try:
                os.link(fresh, self.keystore)  # never replaces a keystore another build just made
            except FileExistsError:
                pass
        log.info("created the debug keystore %s", self.keystore)

    def sign(self, src: Path, dest: Path) -> None:
        cmd = [str(self.tc.apksigner), "sign", "--ks", str(self.keystore), "--ks-key-alias", self.options.alias,
               "--ks-pass", f"env:{_STORE_PASS_VAR}", "--key-pass", f"env:{_KEY_PASS_VAR}",
               "--out", str(dest), str(src)]
        result = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                check=False, timeout=_TOOL_TIMEOUT_S)
        if result.returncode == 0:
            return
        text = result.stdout.lower()
        if "cannot recover key" in text or "unrecoverablekey" in text or "key password" in text:
            raise ApkError(
                f"the key password for alias {self.options.alias!r} in {self.keystore} is wrong",
                f"set {RELEASE_ENV['key_password']} to the key's password",
            )
        if "password" in text:
            raise ApkError(f"the keystore password for {self.keystore} is wrong", self._password_fix())
        raise ApkError(f"apksigner could not sign the APK: {_last(result.stdout)}", "check the keystore and alias")


def _last(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


# ----------------------------------------------------------------------------- verification


def _local_data_offset(apk_bytes: bytes, info: zipfile.ZipInfo) -> int:
    """Where an entry's data starts, from its LOCAL header (its extra field holds zipalign's padding)."""
    at = info.header_offset
    signature, = struct.unpack_from("<I", apk_bytes, at)
    if signature != 0x04034B50:
        raise ApkError(f"{info.filename}: no local file header at offset {at}", "the APK is corrupt")
    name_len, extra_len = struct.unpack_from("<HH", apk_bytes, at + 26)
    return at + 30 + name_len + extra_len


def _check_model_reading(check, model: bytes, described: dict) -> None:
    """The app's Java reader (run on the host JVM) and the pipeline's Python reader must agree."""
    summary = (f"{described.get('classes')} labels, input {described.get('input_height')}x"
               f"{described.get('input_width')}x3 {described.get('input_type')}")
    try:
        meta = read_metadata(model)
    except PipelineError as exc:
        check(False, f"the app reads the model ({summary}) but pipeline.metadata does not: {exc}")
        return
    java = (tuple(described.get("label", ())), _floats3(described.get("mean", "")), _floats3(described.get("std", "")))
    python = (tuple(meta.labels), _floats3(meta.mean), _floats3(meta.std))
    norm = f"mean {_fmt(java[1])}, std {_fmt(java[2])}"
    check(java == python, f"the app reads the model as pipeline.metadata does: {summary}, {norm}" if java == python
          else f"the app and pipeline.metadata disagree: (labels, mean, std) {java} vs {python}")


def _floats3(values) -> tuple[float, ...]:
    """1 or 3 values (or a comma-separated string of them) as 3 float32-rounded floats; () if none."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v]
    as32 = [struct.unpack("<f", struct.pack("<f", float(v)))[0] for v in values]
    return tuple(as32 * 3) if len(as32) == 1 else tuple(as32)


def _fmt(values: tuple[float, ...]) -> str:
    if not values:
        return "none"
    return f"{values[0]:g}" if len(set(values)) == 1 else "(" + ", ".join(f"{v:g}" for v in values) + ")"


PAGE_16K = 16384


def elf_load_alignment(so: bytes) -> int | None:
    """The smallest p_align of the PT_LOAD segments of an ELF file (None if it is not ELF)."""
    if so[:4] != b"\x7fELF" or len(so) < 52:
        return None
    is64, order = so[4] == 2, "<" if so[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(order + "Q", so, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", so, 54)
    else:
        phoff, = struct.unpack_from(order + "I", so, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", so, 42)
    aligns = []
    for i in range(phnum):
        at = phoff + i * phentsize
        p_type, = struct.unpack_from(order + "I", so, at)
        if p_type == 1:  # PT_LOAD
            aligns.append(struct.unpack_from(order + ("Q" if is64 else "I"), so, at + (48 if is64 else 28))[0])
    return min(aligns) if aligns else None


def _check_page_sizes(check, z: zipfile.ZipFile, data: bytes, abis) -> None:
    """Per native library: ELF LOAD alignment and zip offset, and what that means for 16 KB pages.

    Informational (never fails the build): 4 KB-aligned libraries load on emulators and phones
    with 4 KB pages and sideloaded installs, but Google Play refuses apps targeting Android 15+
    whose libraries are not 16 KB-aligned.
    """
    ready = True
    for abi in abis:
        for name in sorted(n for n in z.namelist() if n.startswith(f"lib/{abi}/") and n.endswith(".so")):
            info = z.getinfo(name)
            offset = _local_data_offset(data, info)
            align = elf_load_alignment(data[offset:offset + info.file_size]) or 0
            ok16 = align >= PAGE_16K and offset % PAGE_16K == 0
            ready = ready and ok16
            check(True if ok16 else None, f"{name}: ELF LOAD alignment {align // 1024 if align >= 1024 else align} "
                        f"{'KB' if align >= 1024 else 'B'}, zip offset {offset} "
                        f"({'16 KB' if offset % PAGE_16K == 0 else '4 KB' if offset % 4096 == 0 else 'not page'}-aligned)")
    check(True if ready else None,
          "16 KB pages: native libraries are 16 KB-aligned (fine for Google Play's Android 15+ rule)" if ready
          else "16 KB pages: NOT 16 KB-aligned - fine for emulators, phones with 4 KB pages and sideloading, "
               "but not for a Google Play upload targeting Android 15+ (use the Gradle build with "
               "com.google.ai.edge.litert for that)")


def _mark(ok: bool | None) -> str:
    return "!" if ok is None else "✓" if ok else "✗"


def _check_no_evaluation(check, apk: Path) -> None:
    """A release APK carries neither the evaluation set nor the instrumentation that runs it."""
    with zipfile.ZipFile(apk) as z:
        eval_assets = [n for n in z.namelist() if n.startswith("assets/eval/")]
        dex = z.read("classes.dex") if "classes.dex" in z.namelist() else b""
        manifest = z.read("AndroidManifest.xml")
    name = "EvalInstrumentation"
    in_manifest = name.encode("utf-16-le") in manifest or name.encode() in manifest
    check(not eval_assets, "no evaluation set in a release build (assets/eval/ absent)" if not eval_assets
          else f"a release build carries {len(eval_assets)} evaluation files under assets/eval/")
    check(EVAL_CLASS.encode() not in dex and not in_manifest,
          "no EvalInstrumentation in a release build (dex and manifest)" if EVAL_CLASS.encode() not in dex
          and not in_manifest else "a release build carries EvalInstrumentation")


def _verify(apk: Path, tc: Toolchain, facts: AppFacts, options: ApkOptions, model: bytes, described: dict,
            debuggable: bool) -> list[str]:
    """Check the built APK with independent readers; return ✓ lines or raise listing every ✗."""
    results: list[tuple[bool, str]] = []

    def check(ok: bool | None, text: str) -> None:  # None: a warning (shown with "!", never fails)
        results.append((None if ok is None else bool(ok), text))
        log.info("%s %s", _mark(ok), text)

    signed = subprocess.run([str(tc.apksigner), "verify", "--verbose", str(apk)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, check=False, timeout=_TOOL_TIMEOUT_S)
    schemes = [m.group(1) for m in re.finditer(r"Verified using (v\S+) scheme[^:]*: true", signed.stdout)]
    check(signed.returncode == 0, f"apksigner verify: signature verifies ({', '.join(schemes) or _last(signed.stdout)})")

    aligned = subprocess.run([str(tc.zipalign), "-c", "-p", "4", str(apk)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, check=False, timeout=_TOOL_TIMEOUT_S)
    check(aligned.returncode == 0, "zipalign -c -p 4: aligned (4-byte entries, page-aligned .so)"
          if aligned.returncode == 0 else f"zipalign -c -p 4 failed: {_last(aligned.stdout)}")

    data = apk.read_bytes()
    with zipfile.ZipFile(apk) as z:
        names = set(z.namelist())
        entry = f"assets/{MODEL_ASSET}"
        if entry in names:
            info = z.getinfo(entry)
            offset = _local_data_offset(data, info)
            stored = info.compress_type == zipfile.ZIP_STORED
            check(stored, f"{entry} is stored (uncompressed)" if stored else f"{entry} is compressed")
            check(offset % 4 == 0, f"{entry} data starts at offset {offset} ({'4-byte aligned' if offset % 4 == 0 else 'NOT 4-byte aligned'})")
            same = stored and data[offset:offset + info.file_size] == model and info.file_size == len(model)
            check(same, f"{entry} is byte-identical to {Path(options.model_dir) / 'model.tflite'} ({len(model):,} B)"
                  if same else f"{entry} differs from {Path(options.model_dir) / 'model.tflite'}")
        else:
            check(False, f"{entry} is missing")
        dex = z.read("classes.dex") if "classes.dex" in names else b""
        wanted = [f"L{facts.namespace.replace('.', '/')}/ui/MainActivity;", "Lorg/tensorflow/lite/Interpreter;",
                  f"L{facts.namespace.replace('.', '/')}/core/ModelInfo;"]
        missing = [c for c in wanted if c.encode() not in dex]
        check(dex.startswith(b"dex\n") and not missing,
              f"classes.dex ({len(dex):,} B) holds the app and LiteRT classes" if not missing
              else f"classes.dex lacks {', '.join(missing)}")
        present = {n.split("/")[1] for n in names if n.startswith("lib/") and n.count("/") == 2}
        for abi in options.abis:
            libs = [n for n in names if n.startswith(f"lib/{abi}/") and n.endswith(".so")]
            ok = bool(libs) and all(z.getinfo(n).compress_type == zipfile.ZIP_STORED for n in libs)
            check(ok, f"lib/{abi}/: {', '.join(n.split('/')[-1] for n in libs) or 'no native library'} (stored)")
        _check_page_sizes(check, z, data, options.abis)
        extra = sorted(present - set(options.abis))
        check(not extra, "no native libraries for unrequested ABIs" if not extra
              else f"unrequested ABIs present: {', '.join(extra)}")

    badging = subprocess.run([str(tc.aapt2), "dump", "badging", str(apk)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, check=False, timeout=_TOOL_TIMEOUT_S)
    out = badging.stdout
    pkg = re.search(r"package: name='([^']*)' versionCode='([^']*)' versionName='([^']*)'", out)
    got = (pkg.group(1), pkg.group(2), pkg.group(3)) if pkg else None
    want = (facts.application_id, str(facts.version_code), facts.version_name)
    check(got == want, f"manifest package {want[0]} version {want[2]} ({want[1]})" if got == want
          else f"manifest package/version {got} != {want} (aapt2 dump badging)")
    sdk = re.search(r"^sdkVersion:'(\d+)'", out, re.M)
    target = re.search(r"^targetSdkVersion:'(\d+)'", out, re.M)
    levels = (sdk.group(1) if sdk else None, target.group(1) if target else None)
    check(levels == (str(facts.min_sdk), str(facts.target_sdk)),
          f"minSdk {levels[0]}, targetSdk {levels[1]} (want {facts.min_sdk}, {facts.target_sdk})")
    activity = re.search(r"^launchable-activity: name='([^']*)'", out, re.M)
    check(bool(activity), f"launchable activity {activity.group(1)}" if activity else "no launchable activity")
    check(("application-debuggable" in out) == debuggable,
          "debuggable (debug build)" if debuggable else "not debuggable (release build)")
    if not debuggable:
        _check_no_evaluation(check, apk)
    _check_model_reading(check, model, described)

    failed = [text for ok, text in results if ok is False]
    lines = [f"{_mark(ok)} {text}" for ok, text in results]
    if failed:
        raise ApkError(
            f"the built APK failed {len(failed)} of {len(results)} checks:\n" + "\n".join(lines),
            "nothing was written to " + str(options.out_dir) + "; this is a build bug, report it with this output",
        )
    return lines
