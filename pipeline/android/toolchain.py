"""Find (or install) the tools that build the APK without Gradle, and resolve its Java artifacts.

Public entry point: `resolve_toolchain(options) -> Toolchain`. Resolution order:

1. An Android SDK, when `ANDROID_HOME` or `ANDROID_SDK_ROOT` is set: the newest
   `build-tools/<v>/` holding aapt2, d8, zipalign and apksigner, and
   `platforms/android-<N>/android.jar` (N = compileSdk when installed, else the newest).
2. Otherwise Debian's packages: `aapt` (brings aapt2), `zipalign`, `apksigner`,
   `android-framework-res` (API 29 resources to link against), a JDK and Maven. Missing ones
   are installed with apt-get when running as root; otherwise ToolchainError gives the exact
   command. Debian has no dexer and no android.jar: those come from Maven (below).

Java artifacts (`MAVEN_ARTIFACTS`, the one place their coordinates and versions live) are
fetched with `mvn dependency:copy` into a cache outside the repository
(`$PIPELINE_CACHE_DIR` or `~/.cache/tflite-pipeline`, under `android/maven/`); a cached file is
used without running Maven. AARs are unpacked once next to it (classes.jar, jni/<abi>/*.so).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pipeline.errors import ConfigError, ToolchainError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MavenArtifact:
    """One Maven artifact: `group:artifact:version`, packaged as `packaging` (jar or aar)."""

    group: str
    artifact: str
    version: str
    packaging: str = "jar"

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}:{self.packaging}"

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.{self.packaging}"


# Every Java artifact the builds use, with its version: change versions here only
# (android_app/app/build.gradle repeats the runtime's version; tests/test_toolchain.py checks
# they agree). All resolve from Maven Central.
MAVEN_ARTIFACTS: dict[str, MavenArtifact] = {
    # Dexer (dx 1.16) for Java 8 bytecode; used when no Android SDK (d8) is installed.
    "dexer": MavenArtifact("com.jakewharton.android.repackaged", "dalvik-dx", "16.0.1"),
    # Android API stubs to compile against (API 16): the app only uses APIs that old.
    "android_api": MavenArtifact("com.google.android", "android", "4.1.1.4"),
    # LiteRT runtime: Interpreter classes and jni/<abi>/libtensorflowlite_jni.so. 2.16.1 is the
    # last release under this name on Maven Central (later ones moved to com.google.ai.edge.litert,
    # published on Google's Maven only).
    "tflite": MavenArtifact("org.tensorflow", "tensorflow-lite", "2.16.1", "aar"),
    # The runtime's API classes (InterpreterApi...), a dependency of the AAR above.
    "tflite_api": MavenArtifact("org.tensorflow", "tensorflow-lite-api", "2.16.1", "aar"),
    # Host-JVM unit tests of the app's pure Java classes (android_app/app/src/test).
    "junit": MavenArtifact("junit", "junit", "4.13.2"),
    "hamcrest": MavenArtifact("org.hamcrest", "hamcrest-core", "1.3"),
    # Robolectric (with its dependencies, resolve_with_dependencies): the app's Activity code on
    # the real Android framework on the host JVM (pipeline/android/robolectric.py).
    "robolectric": MavenArtifact("org.robolectric", "robolectric", "4.17"),
    # The framework jars Robolectric 4.17 runs per API level (its DefaultSdkProvider's names),
    # fetched here so that the tests never download at run time (robolectric.offline).
    "android_all_24": MavenArtifact("org.robolectric", "android-all-instrumented", "7.0.0_r1-robolectric-r1-i7"),
    "android_all_36": MavenArtifact("org.robolectric", "android-all-instrumented", "16-robolectric-13921718-i7"),
    # The same API 36 framework uninstrumented: what the Robolectric tests compile against.
    "android_all_compile": MavenArtifact("org.robolectric", "android-all", "16-robolectric-13921718"),
}
# API level -> the MAVEN_ARTIFACTS role of its Robolectric framework jar.
ROBOLECTRIC_SDKS = {24: "android_all_24", 36: "android_all_36"}
# What the Gradle build (android_app/app/build.gradle) uses instead of "tflite": LiteRT under its
# new name, on Google's Maven only (not reachable from the hermetic build), with 16 KB page-aligned
# native libraries (Google Play's rule for apps targeting Android 15+). Same Interpreter API.
GRADLE_LITERT = "com.google.ai.edge.litert:litert:1.4.0"
# The artifacts whose classes (and native libraries) go into the APK, in classpath order.
RUNTIME_LIBRARIES = ("tflite", "tflite_api")

# Debian: command -> package providing it.
DEBIAN_COMMANDS: dict[str, str] = {
    "aapt2": "aapt",
    "zipalign": "zipalign",
    "apksigner": "apksigner",
    "java": "default-jdk-headless",
    "javac": "default-jdk-headless",
    "keytool": "default-jdk-headless",
    "mvn": "maven",
}
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
FRAMEWORK_RES_PACKAGE = "android-framework-res"
FRAMEWORK_RES_API = 29  # Debian 12's android-framework-res is Android 10
JDK_COMMANDS = ("java", "javac", "keytool")

CACHE_ENV = "PIPELINE_CACHE_DIR"
MAVEN_TIMEOUT_S = 600
APT_TIMEOUT_S = 900


@dataclass(frozen=True)
class ToolchainOptions:
    """How to look for the tools.

    Attributes:
      path: the PATH to search for commands; None = this process's PATH.
      android_home: an Android SDK folder; None = $ANDROID_HOME or $ANDROID_SDK_ROOT; "" = never
        use an SDK (Debian's tools and Maven only).
      install: run apt-get for missing Debian packages when running as root.
      euid: effective user id to decide whether apt-get may run; None = os.geteuid().
      framework_res: the Debian platform resources to link against.
      cache_dir: where Maven artifacts are kept; None = $PIPELINE_CACHE_DIR or
        ~/.cache/tflite-pipeline, plus `android/`.
      artifacts: the Maven artifacts by role (default MAVEN_ARTIFACTS).
      compile_sdk: the platform to prefer inside an Android SDK.
    """

    path: str | None = None
    android_home: str | None = None
    install: bool = True
    euid: int | None = None
    framework_res: Path = FRAMEWORK_RES
    cache_dir: Path | None = None
    artifacts: Mapping[str, MavenArtifact] = field(default_factory=lambda: dict(MAVEN_ARTIFACTS))
    compile_sdk: int | None = None

    def __post_init__(self):
        missing = [k for k in ("dexer", "android_api", *RUNTIME_LIBRARIES) if k not in self.artifacts]
        if missing:
            raise ConfigError(
                f"ToolchainOptions.artifacts lacks {', '.join(missing)}",
                "start from pipeline.android.toolchain.MAVEN_ARTIFACTS and replace entries",
            )


@dataclass(frozen=True)
class Library:
    """An unpacked runtime library: its classes and its native libraries per ABI."""

    artifact: MavenArtifact
    classes_jar: Path | None
    native: Mapping[str, tuple[Path, ...]]  # abi -> .so files


@dataclass(frozen=True)
class Toolchain:
    """Everything the hermetic build runs, resolved to paths.

    `dexer` is a command prefix: `d8` from an SDK, or `java -cp dalvik-dx.jar ... --dex`.
    `platform` is what `aapt2 link -I` links against (android.jar or framework-res.apk) and
    `platform_api` its API level; `android_jar` is what javac compiles against.
    """

    source: str
    aapt2: Path
    zipalign: Path
    apksigner: Path
    java: Path
    javac: Path
    keytool: Path
    platform: Path
    platform_api: int
    android_jar: Path
    dexer: tuple[str, ...]
    dexer_kind: str
    libraries: tuple[Library, ...]

    def describe(self) -> list[str]:
        return [
            f"toolchain: {self.source}",
            f"  aapt2 {self.aapt2}, zipalign {self.zipalign}, apksigner {self.apksigner}",
            f"  link against {self.platform} (API {self.platform_api}); compile against {self.android_jar}",
            f"  dexer: {self.dexer_kind}; runtime: "
            + ", ".join(lib.artifact.coordinate for lib in self.libraries),
        ]


def resolve_toolchain(options: ToolchainOptions | None = None) -> Toolchain:
    """Find every tool and artifact the build needs, installing what is missing when allowed."""
    options = options or ToolchainOptions()
    sdk = _sdk_dir(options)
    if sdk is not None:
        return _from_sdk(sdk, options)
    return _from_debian(options)


def resolve_artifact(artifact: MavenArtifact, options: ToolchainOptions | None = None) -> Path:
    """The local path of one Maven artifact, fetched into the cache when not there yet."""
    options = options or ToolchainOptions()
    cached = _cached_path(artifact, options)
    if cached.is_file():
        return cached
    mvn = _which("mvn", options)
    if mvn is None:
        _install_or_raise(["maven"], options, f"Maven (to fetch {artifact.coordinate})")
        mvn = _which("mvn", options)
        if mvn is None:
            raise ToolchainError(
                "mvn is still not on PATH after installing Maven", "check PATH, or install Maven by hand"
            )
    _fetch(mvn, artifact, cached, options)
    return cached


def resolve_with_dependencies(artifact: MavenArtifact, options: ToolchainOptions | None = None) -> list[Path]:
    """The jars of `artifact` and its runtime dependencies, fetched once into the cache.

    Maven resolves the closure (`dependency:copy-dependencies` on a one-dependency pom in a
    temporary folder); an AAR among them contributes its classes.jar. The folder is written
    whole, then renamed into place, so a half-fetched set is never used.
    """
    options = options or ToolchainOptions()
    folder = _cache_dir(options) / "maven" / "closure" / f"{artifact.group}.{artifact.artifact}-{artifact.version}"
    if not (folder / ".complete").is_file():
        mvn = _which("mvn", options)
        if mvn is None:
            _install_or_raise(["maven"], options, f"Maven (to fetch {artifact.coordinate} and its dependencies)")
            mvn = _which("mvn", options) or Path("mvn")
        _fetch_closure(mvn, artifact, folder, options)
    return sorted(folder.glob("*.jar"))


def _fetch_closure(mvn: Path, artifact: MavenArtifact, folder: Path, options: ToolchainOptions) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(
            '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>local.fetch</groupId><artifactId>fetch</artifactId><version>1</version>"
            f"<dependencies><dependency><groupId>{artifact.group}</groupId><artifactId>{artifact.artifact}"
            f"</artifactId><version>{artifact.version}</version></dependency></dependencies></project>\n")
        out = work / "out"
        cmd = [str(mvn), "-B", "-q", "-U", "dependency:copy-dependencies", f"-DoutputDirectory={out}",
               "-DincludeScope=runtime"]
        log.info("resolving %s and its dependencies with Maven", artifact.coordinate)
        env = dict(os.environ)
        if options.path is not None:
            env["PATH"] = options.path
        result = _run_quiet(cmd, env, MAVEN_TIMEOUT_S, cwd=work)
        if result.returncode != 0 or not any(out.glob("*.jar")):
            raise ToolchainError(
                f"Maven could not resolve {artifact.coordinate} with its dependencies: {_maven_reason(result.stdout)}",
                "check that Maven Central is reachable (proxy settings go in ~/.m2/settings.xml)",
            )
        for aar in out.glob("*.aar"):  # e.g. androidx.test:monitor: its classes.jar is what runs
            with zipfile.ZipFile(aar) as z:
                (out / f"{aar.stem}.jar").write_bytes(z.read("classes.jar"))
            aar.unlink()
        (out / ".complete").write_text(artifact.coordinate + "\n")
        if folder.exists() and not (folder / ".complete").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # left half-done by an interrupted fetch
        try:
            os.rename(out, folder)
        except OSError:  # a fetch running at the same time won the rename: keep its copy
            if not (folder / ".complete").is_file():
                raise


# ----------------------------------------------------------------------------- Android SDK


def _sdk_dir(options: ToolchainOptions) -> Path | None:
    value = options.android_home
    if value is None:
        value = os.environ.get("ANDROID_HOME") or os.environ.get("ANDROID_SDK_ROOT") or ""
    return Path(value).expanduser() if value else None


def _version_key(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.\-]", name))


def _from_sdk(sdk: Path, options: ToolchainOptions) -> Toolchain:
    tools = ("aapt2", "d8", "zipalign", "apksigner")
    build_tools = sorted(
        (d for d in (sdk / "build-tools").glob("*") if all((d / t).exists() for t in tools)),
        key=lambda d: _version_key(d.name),
    )
    if not build_tools:
        raise ToolchainError(
            f"the Android SDK at {sdk} has no build-tools/<version>/ with {', '.join(tools)}",
            f'install them: sdkmanager "build-tools;35.0.0" (or unset ANDROID_HOME/ANDROID_SDK_ROOT '
            "to use Debian's tools)",
        )
    bt = build_tools[-1]
    platforms = {}
    for jar in (sdk / "platforms").glob("android-*/android.jar"):
        level = jar.parent.name.removeprefix("android-")
        if level.isdigit():
            platforms[int(level)] = jar
    if not platforms:
        raise ToolchainError(
            f"the Android SDK at {sdk} has no platforms/android-<N>/android.jar",
            f'install one: sdkmanager "platforms;android-{options.compile_sdk or 35}"',
        )
    api = options.compile_sdk if options.compile_sdk in platforms else max(platforms)
    jdk = _require(JDK_COMMANDS, options)
    return Toolchain(
        source=f"Android SDK at {sdk} (build-tools {bt.name}, platform android-{api})",
        aapt2=bt / "aapt2",
        zipalign=bt / "zipalign",
        apksigner=bt / "apksigner",
        java=jdk["java"],
        javac=jdk["javac"],
        keytool=jdk["keytool"],
        platform=platforms[api],
        platform_api=api,
        android_jar=platforms[api],
        dexer=(str(bt / "d8"),),
        dexer_kind="d8",
        libraries=tuple(_library(options.artifacts[k], options) for k in RUNTIME_LIBRARIES),
    )


# ----------------------------------------------------------------------------- Debian + Maven


def _from_debian(options: ToolchainOptions) -> Toolchain:
    needed = ("aapt2", "zipalign", "apksigner", *JDK_COMMANDS)
    roles = ("dexer", "android_api", *RUNTIME_LIBRARIES)
    if not all(_cached_path(options.artifacts[r], options).is_file() for r in roles):
        needed += ("mvn",)  # so one message (or one apt-get) covers Maven too
    found = _require(needed, options, extra_packages=_framework_missing(options))
    dx = resolve_artifact(options.artifacts["dexer"], options)
    android_api = resolve_artifact(options.artifacts["android_api"], options)
    libraries = tuple(_library(options.artifacts[k], options) for k in RUNTIME_LIBRARIES)
    return Toolchain(
        source="Debian packages (aapt2, zipalign, apksigner, android-framework-res) + Maven artifacts",
        aapt2=found["aapt2"],
        zipalign=found["zipalign"],
        apksigner=found["apksigner"],
        java=found["java"],
        javac=found["javac"],
        keytool=found["keytool"],
        platform=options.framework_res,
        platform_api=FRAMEWORK_RES_API,
        android_jar=android_api,
        dexer=(str(found["java"]), "-cp", str(dx), "com.android.dx.command.Main", "--dex"),
        dexer_kind="dx",
        libraries=libraries,
    )


def _framework_missing(options: ToolchainOptions) -> list[str]:
    return [] if Path(options.framework_res).is_file() else [FRAMEWORK_RES_PACKAGE]


def _which(command: str, options: ToolchainOptions) -> Path | None:
    found = shutil.which(command, path=options.path if options.path is not None else os.environ.get("PATH"))
    return Path(found) if found else None


def _require(commands, options: ToolchainOptions, extra_packages: list[str] | None = None) -> dict[str, Path]:
    """Paths of `commands`; missing Debian packages are installed (root) or reported."""
    found = {c: _which(c, options) for c in commands}
    missing = [c for c, p in found.items() if p is None]
    packages = sorted({DEBIAN_COMMANDS[c] for c in missing} | set(extra_packages or ()))
    if packages:
        what = ", ".join(missing + ([str(options.framework_res)] if extra_packages else []))
        _install_or_raise(packages, options, what)
        found = {c: _which(c, options) for c in commands}
        still = [c for c, p in found.items() if p is None]
        lacking = still + ([str(options.framework_res)] if extra_packages and _framework_missing(options) else [])
        if lacking:
            raise ToolchainError(
                f"after apt-get install {' '.join(packages)}, still missing: {', '.join(lacking)}",
                "check PATH (Debian installs the tools in /usr/bin)",
            )
    return found  # type: ignore[return-value]


def install_command(packages) -> str:
    """The exact command that installs Debian `packages` (what a non-root user must run)."""
    return "sudo apt-get install -y " + " ".join(sorted(packages))


def _install_or_raise(packages: list[str], options: ToolchainOptions, what: str) -> None:
    euid = os.geteuid() if options.euid is None else options.euid
    if euid != 0 or not options.install:
        why = "not running as root" if euid != 0 else "installing is turned off"
        raise ToolchainError(
            f"missing build tools: {what} (Debian packages: {' '.join(sorted(packages))}; {why})",
            f"install them with: {install_command(packages)}",
        )
    apt = _which("apt-get", options)
    if apt is None:
        raise ToolchainError(
            f"missing build tools: {what}, and apt-get is not available to install them",
            f"install the Debian/Ubuntu packages {' '.join(sorted(packages))}, or set ANDROID_HOME to an Android SDK",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [str(apt), "install", "-y", "--no-install-recommends", *sorted(packages)]
    log.info("installing %s with apt-get", " ".join(sorted(packages)))
    result = _run_quiet(cmd, env, APT_TIMEOUT_S)
    if result.returncode != 0:  # stale package lists are the usual cause: refresh once
        _run_quiet([str(apt), "update"], env, APT_TIMEOUT_S)
        result = _run_quiet(cmd, env, APT_TIMEOUT_S)
    if result.returncode != 0:
        raise ToolchainError(
            f"apt-get could not install {' '.join(sorted(packages))}: {_last_line(result.stdout)}",
            f"run it by hand to see why: apt-get update && apt-get install -y {' '.join(sorted(packages))}",
        )


def _run_quiet(cmd, env, timeout, cwd=None) -> subprocess.CompletedProcess:
    """Run a command, output captured (stdout and stderr together), never raising on failure."""
    try:
        return subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, stdout=f"[ERROR] timed out after {timeout} s")
    except OSError as exc:
        return subprocess.CompletedProcess(cmd, 127, stdout=f"[ERROR] cannot run {cmd[0]}: {exc}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or line.startswith(("E:", "error"))]
    return (errors or lines or ["no output"])[-1][:400]


# ----------------------------------------------------------------------------- Maven


def _cache_dir(options: ToolchainOptions) -> Path:
    if options.cache_dir is not None:
        return Path(options.cache_dir)
    root = os.environ.get(CACHE_ENV)
    if root:
        base = Path(root).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tflite-pipeline"
    return base / "android"


def _cached_path(artifact: MavenArtifact, options: ToolchainOptions) -> Path:
    return _cache_dir(options) / "maven" / artifact.group / artifact.filename


def _fetch(mvn: Path, artifact: MavenArtifact, dest: Path, options: ToolchainOptions) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        cmd = [
            # -U: retry an artifact whose earlier failure Maven cached (e.g. while offline).
            str(mvn), "-B", "-q", "-U", "dependency:copy",
            f"-Dartifact={artifact.coordinate}",
            f"-DoutputDirectory={tmp}",
            "-Dmdep.overWriteReleases=true",
        ]
        log.info("resolving %s with Maven", artifact.coordinate)
        env = dict(os.environ)
        if options.path is not None:
            env["PATH"] = options.path
        # Run outside any project folder so a stray pom.xml cannot change what is resolved.
        result = _run_quiet(cmd, env, MAVEN_TIMEOUT_S, cwd=tmp)
        got = Path(tmp) / artifact.filename
        if result.returncode != 0 or not got.is_file():
            raise ToolchainError(
                f"Maven could not resolve {artifact.coordinate}: {_maven_reason(result.stdout)}",
                "check that Maven Central is reachable (proxy settings go in ~/.m2/settings.xml) and that "
                "the coordinate in pipeline/android/toolchain.py MAVEN_ARTIFACTS exists",
            )
        os.replace(got, dest)


def _maven_reason(output: str) -> str:
    """The gist of Maven's first [ERROR] line (without the plugin/goal preamble)."""
    for line in (output or "").splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if line.startswith("[ERROR]") and len(line) > len("[ERROR] "):
            text = line.removeprefix("[ERROR]").strip()
            text = re.sub(r"^Failed to execute goal .*? on project [^:]*: ", "", text)
            return text[:300]
    return _last_line(output)


def _library(artifact: MavenArtifact, options: ToolchainOptions) -> Library:
    """Resolve an artifact and, for an AAR, unpack classes.jar and jni/ once into the cache."""
    path = resolve_artifact(artifact, options)
    if artifact.packaging != "aar":
        return Library(artifact, path, {})
    unpacked = path.parent / f"{path.stem}-aar"
    if not (unpacked / ".complete").is_file():
        _unpack_aar(artifact, path, unpacked)
    native: dict[str, list[Path]] = {}
    for so in sorted((unpacked / "jni").glob("*/*.so")):
        native.setdefault(so.parent.name, []).append(so)
    classes = unpacked / "classes.jar"
    return Library(artifact, classes if classes.is_file() else None, {k: tuple(v) for k, v in native.items()})


def _unpack_aar(artifact: MavenArtifact, aar_path: Path, unpacked: Path) -> None:
    """Extract classes.jar and jni/ into a fresh folder, then rename it into place.

    A build running at the same time may win the rename; its identical copy is kept and ours
    dropped, so a folder another build is reading is never replaced under it.
    """
    stage = Path(tempfile.mkdtemp(dir=aar_path.parent, prefix=f".{unpacked.name}-"))
    try:
        try:
            with zipfile.ZipFile(aar_path) as aar:
                for name in aar.namelist():
                    if name == "classes.jar" or (name.startswith("jni/") and name.endswith(".so")):
                        aar.extract(name, stage)
        except zipfile.BadZipFile:
            aar_path.unlink(missing_ok=True)
            raise ToolchainError(
                f"the cached {artifact.coordinate} at {aar_path} is not a valid AAR (zip)",
                "it was removed; run the build again to fetch it anew",
            ) from None
        (stage / ".complete").write_text(artifact.coordinate + "\n")
        if unpacked.exists() and not (unpacked / ".complete").is_file():
            shutil.rmtree(unpacked, ignore_errors=True)  # left half-done by an interrupted build
        try:
            os.rename(stage, unpacked)
        except OSError:
            if not (unpacked / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
