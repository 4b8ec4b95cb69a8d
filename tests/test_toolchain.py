"""Tool resolution for the hermetic APK build: SDK first, else Debian + Maven; clear errors."""

from __future__ import annotations

import re
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.android.toolchain import (  # noqa: E402
    MAVEN_ARTIFACTS,
    RUNTIME_LIBRARIES,
    MavenArtifact,
    ToolchainOptions,
    install_command,
    resolve_artifact,
    resolve_toolchain,
)
from pipeline.errors import ConfigError, ToolchainError  # noqa: E402

ALL_PACKAGES = "aapt android-framework-res apksigner default-jdk-headless zipalign"


def _no_sdk(**kw) -> ToolchainOptions:
    return ToolchainOptions(android_home="", **kw)


def test_missing_tools_not_root_names_the_exact_install_command(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    options = _no_sdk(path=str(empty), euid=1000, framework_res=tmp_path / "framework-res.apk",
                      cache_dir=fake_artifact_cache(tmp_path / "cache"))
    with pytest.raises(ToolchainError) as err:
        resolve_toolchain(options)
    assert err.value.fix == f"install them with: sudo apt-get install -y {ALL_PACKAGES}"
    assert "not running as root" in err.value.problem
    for tool in ("aapt2", "zipalign", "apksigner", "javac", "keytool", "framework-res.apk"):
        assert tool in err.value.problem


def test_fresh_machine_command_includes_maven_when_artifacts_are_not_cached(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    options = _no_sdk(path=str(empty), euid=1000, framework_res=tmp_path / "framework-res.apk",
                      cache_dir=tmp_path / "cache")
    with pytest.raises(ToolchainError) as err:
        resolve_toolchain(options)
    assert err.value.fix == ("install them with: sudo apt-get install -y "
                             "aapt android-framework-res apksigner default-jdk-headless maven zipalign")


def test_only_the_missing_packages_are_named(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("java", "javac", "keytool", "apksigner"):  # JDK and apksigner present
        _script(bin_dir / tool, "exit 0")
    options = _no_sdk(path=str(bin_dir), euid=1000, cache_dir=fake_artifact_cache(tmp_path / "cache"))
    with pytest.raises(ToolchainError) as err:
        resolve_toolchain(options)
    assert err.value.fix == "install them with: sudo apt-get install -y aapt zipalign"


def test_root_with_install_off_still_explains(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(ToolchainError) as err:
        resolve_toolchain(_no_sdk(path=str(empty), euid=0, install=False))
    assert "installing is turned off" in err.value.problem
    assert err.value.fix.startswith("install them with: sudo apt-get install -y ")


def test_root_installs_missing_packages_with_apt_get(tmp_path):
    """A fake apt-get on PATH records its arguments and 'installs' stub tools beside itself."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    framework = tmp_path / "framework-res.apk"
    calls = tmp_path / "apt-calls.txt"
    provides = {"aapt": ["aapt2"], "zipalign": ["zipalign"], "apksigner": ["apksigner"],
                "default-jdk-headless": ["java", "javac", "keytool"]}
    _script(bin_dir / "apt-get", f"""#!{sys.executable}
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
open({str(calls)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")
provides = {provides!r}
for pkg in sys.argv[1:]:
    for tool in provides.get(pkg, []):
        path = os.path.join(here, tool)
        open(path, "w").write("#!/bin/sh\\nexit 0\\n")
        os.chmod(path, 0o755)
    if pkg == "android-framework-res":
        open({str(framework)!r}, "wb").write(b"PK")
""", raw=True)
    tc = resolve_toolchain(_no_sdk(path=str(bin_dir), euid=0, framework_res=framework,
                                   cache_dir=fake_artifact_cache(tmp_path / "cache")))
    assert calls.read_text().splitlines() == [f"install -y --no-install-recommends {ALL_PACKAGES}"]
    assert tc.aapt2 == bin_dir / "aapt2" and tc.javac == bin_dir / "javac"
    assert tc.platform == framework and tc.platform_api == 29
    assert tc.dexer_kind == "dx"


def test_debian_toolchain_resolves_every_artifact():
    tc = resolve_toolchain(_no_sdk())
    assert tc.dexer_kind == "dx" and tc.platform_api == 29
    for path in (tc.aapt2, tc.zipalign, tc.apksigner, tc.javac, tc.platform, tc.android_jar):
        assert Path(path).exists(), path
    runtime = {lib.artifact.artifact: lib for lib in tc.libraries}
    assert set(runtime) == {"tensorflow-lite", "tensorflow-lite-api"}
    assert runtime["tensorflow-lite"].classes_jar.is_file()
    assert set(runtime["tensorflow-lite"].native) == {"arm64-v8a", "armeabi-v7a", "x86", "x86_64"}
    assert "Debian" in tc.describe()[0]


def test_maven_failure_names_the_artifact(tmp_path):
    bogus = MavenArtifact("org.example.nonexistent", "no-such-artifact", "0.0.0-bogus")
    with pytest.raises(ToolchainError) as err:
        resolve_artifact(bogus, ToolchainOptions(cache_dir=tmp_path))
    assert "org.example.nonexistent:no-such-artifact:0.0.0-bogus:jar" in err.value.problem
    assert "MAVEN_ARTIFACTS" in err.value.fix
    assert not list((tmp_path / "maven").rglob("*.jar"))


def test_a_cached_artifact_needs_no_maven(tmp_path):
    artifact = MavenArtifact("org.example", "cached", "1.0")
    cached = tmp_path / "maven" / "org.example" / "cached-1.0.jar"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"PK")
    empty = tmp_path / "bin"
    empty.mkdir()
    assert resolve_artifact(artifact, ToolchainOptions(cache_dir=tmp_path, path=str(empty))) == cached


def test_sdk_is_preferred_when_android_home_is_set(tmp_path):
    sdk = tmp_path / "sdk"
    for version in ("33.0.2", "35.0.0"):
        for tool in ("aapt2", "d8", "zipalign", "apksigner"):
            _script(sdk / "build-tools" / version / tool, "exit 0")
    for level in (34, 36):
        jar = sdk / "platforms" / f"android-{level}" / "android.jar"
        jar.parent.mkdir(parents=True)
        jar.write_bytes(b"PK")
    cache = fake_artifact_cache(tmp_path / "cache")
    tc = resolve_toolchain(ToolchainOptions(android_home=str(sdk), compile_sdk=34, cache_dir=cache))
    assert tc.aapt2 == sdk / "build-tools" / "35.0.0" / "aapt2"
    assert tc.dexer == (str(sdk / "build-tools" / "35.0.0" / "d8"),) and tc.dexer_kind == "d8"
    assert tc.platform == tc.android_jar == sdk / "platforms" / "android-34" / "android.jar"
    assert tc.platform_api == 34
    newest = resolve_toolchain(ToolchainOptions(android_home=str(sdk), compile_sdk=99, cache_dir=cache))
    assert newest.platform_api == 36


def test_sdk_without_build_tools_says_what_to_install(tmp_path):
    (tmp_path / "sdk" / "platforms").mkdir(parents=True)
    with pytest.raises(ToolchainError) as err:
        resolve_toolchain(ToolchainOptions(android_home=str(tmp_path / "sdk")))
    assert "has no build-tools" in err.value.problem
    assert "sdkmanager" in err.value.fix


def test_artifacts_must_cover_every_role():
    with pytest.raises(ConfigError, match="lacks dexer"):
        ToolchainOptions(artifacts={k: v for k, v in MAVEN_ARTIFACTS.items() if k != "dexer"})


def test_gradle_uses_litert_from_its_new_group():
    """Gradle builds with com.google.ai.edge.litert (16 KB-aligned libraries), the version kept in
    toolchain.GRADLE_LITERT; the hermetic build keeps Maven Central's org.tensorflow runtime."""
    from pipeline.android.toolchain import GRADLE_LITERT

    gradle = (ROOT / "android_app" / "app" / "build.gradle").read_text()
    declared = re.findall(r"implementation ['\"](com\.google\.ai\.edge\.litert:[^'\"]+)['\"]", gradle)
    assert declared == [GRADLE_LITERT]
    assert "org.tensorflow:tensorflow-lite" not in gradle
    assert MAVEN_ARTIFACTS["tflite"].group == "org.tensorflow"
    assert set(RUNTIME_LIBRARIES) <= set(MAVEN_ARTIFACTS)


def test_install_command_is_sorted_and_copyable():
    assert install_command(["zipalign", "aapt"]) == "sudo apt-get install -y aapt zipalign"


def fake_artifact_cache(root: Path) -> Path:
    """A cache holding stand-ins for every artifact, so a test needs neither Maven nor the network."""
    import zipfile

    for role, artifact in MAVEN_ARTIFACTS.items():
        path = root / "maven" / artifact.group / artifact.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("classes.jar", b"PK")
            if role == "tflite":
                z.writestr("jni/x86_64/libtensorflowlite_jni.so", b"\x7fELF")
    return root


def _script(path: Path, body: str, raw: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if raw else f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
