"""The hermetic APK build: end to end on a tiny real model, checked with independent tools,
and one clear error (and nothing in dist/) for each bad input."""

from __future__ import annotations

import re
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.android import apk as apk_module  # noqa: E402
from pipeline.android.apk import DEFAULT_ABIS, VALID_ABIS, ApkOptions, build_apk  # noqa: E402
from pipeline.android.signing import RELEASE_ENV, SigningOptions  # noqa: E402
from pipeline.android.verify import elf_load_alignment  # noqa: E402
from pipeline.android.appfacts import read_app_facts  # noqa: E402
from pipeline.android.bundle import MODEL_ASSET, SAMPLES_DIR, bundle_assets  # noqa: E402
from pipeline.android.toolchain import MAVEN_ARTIFACTS, MavenArtifact, ToolchainOptions  # noqa: E402
from pipeline.errors import (  # noqa: E402
    ApkError,
    ConfigError,
    DataError,
    ModelFileError,
    ModelMissingError,
    ToolchainError,
)

APP = ROOT / "android_app"
JAVA = APP / "app" / "src" / "main" / "java" / "com" / "example" / "imageclassifier"
LABELS = ("red", "green", "blue")
SIZE = 16
FACTS = read_app_facts(APP)


# ----------------------------------------------------------------------------- fixtures


def _tiny_models() -> tuple[bytes, bytes]:
    """A real int8 classifier (uint8 in/out, 16x16x3 -> 3 classes): without and with metadata."""
    from pipeline._tf import keras, tf
    from pipeline.metadata import ModelMetadata, write_metadata

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Softmax()(keras.layers.Dense(len(LABELS))(x))
    model = keras.Model(inputs, outputs)

    def representative():
        rng = np.random.default_rng(0)
        for _ in range(8):
            yield [rng.integers(0, 256, (1, SIZE, SIZE, 3)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    raw = converter.convert()
    meta = ModelMetadata(
        name="tiny", description="tiny colour classifier for the APK tests", version="1",
        author="tests", license="Apache-2.0", labels=LABELS, mean=(0.0,), std=(1.0,),
        input_min=0.0, input_max=255.0,
    )
    return raw, write_metadata(raw, meta)


@pytest.fixture(scope="module")
def models() -> tuple[bytes, bytes]:
    return _tiny_models()


@pytest.fixture(scope="module")
def model_dir(models, tmp_path_factory) -> Path:
    """models/tiny/ as the pipeline leaves it, plus three sample images."""
    from PIL import Image

    d = tmp_path_factory.mktemp("models") / "tiny"
    (d / SAMPLES_DIR).mkdir(parents=True)
    (d / "model.tflite").write_bytes(models[1])
    for i, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        Image.fromarray(np.full((40, 30, 3), colour, np.uint8)).save(d / SAMPLES_DIR / f"{LABELS[i]}.png")
    return d


@pytest.fixture(scope="module")
def keystore(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("keys") / "debug.keystore"  # created by the first build


@pytest.fixture(scope="module")
def built(model_dir, keystore, tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    return build_apk(ApkOptions(model_dir=model_dir, app_dir=APP, out_dir=out,
                                signing=SigningOptions.debug(keystore)))


def _dist_is_empty(dist: Path) -> bool:
    return not dist.exists() or not any(dist.iterdir())


def _options(model_dir: Path, dist: Path, keystore: Path, **kw) -> ApkOptions:
    kw.setdefault("signing", SigningOptions.debug(keystore))
    return ApkOptions(model_dir=model_dir, app_dir=APP, out_dir=dist, **kw)


def _androguard(path: Path):
    from loguru import logger

    logger.remove()  # androguard logs every parsed chunk at DEBUG
    from androguard.core.apk import APK

    return APK(str(path))


def _local_data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    """Start of an entry's data, read from its LOCAL header (zipalign pads the local extra field)."""
    assert struct.unpack_from("<I", data, info.header_offset)[0] == 0x04034B50
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_apk_is_signed_and_verifies_with_apksigner(built):
    assert built.apk.name == "tiny-debug.apk" and built.apk.is_file()
    out = subprocess.run(["apksigner", "verify", "--verbose", str(built.apk)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"Verified using v2 scheme \(APK Signature Scheme v2\): true", out.stdout)
    aligned = subprocess.run(["zipalign", "-c", "-p", "4", str(built.apk)], capture_output=True, text=True)
    assert aligned.returncode == 0, aligned.stdout


@pytest.mark.slow
def test_manifest_as_configured_per_aapt2_badging(built):
    out = subprocess.run(["aapt2", "dump", "badging", str(built.apk)], capture_output=True, text=True).stdout
    assert (f"package: name='{FACTS.application_id}' versionCode='{FACTS.version_code}' "
            f"versionName='{FACTS.version_name}'") in out
    assert f"sdkVersion:'{FACTS.min_sdk}'" in out
    assert f"targetSdkVersion:'{FACTS.target_sdk}'" in out
    assert "launchable-activity: name='com.example.imageclassifier.ui.MainActivity'" in out
    assert "application-debuggable" in out


@pytest.mark.slow
def test_androguard_sees_package_sdks_activity_dex_and_native_libs(built):
    apk = _androguard(built.apk)
    assert apk.get_package() == FACTS.application_id
    assert int(apk.get_min_sdk_version()) == FACTS.min_sdk == 24
    assert int(apk.get_target_sdk_version()) == FACTS.target_sdk
    assert apk.get_main_activity() == "com.example.imageclassifier.ui.MainActivity"
    assert apk.is_signed_v2()
    assert apk.get_attribute_value("application", "extractNativeLibs") == "false"

    from androguard.core.dex import DEX

    classes = {c.get_name() for c in DEX(apk.get_dex()).get_classes()}
    for name in ("ui/MainActivity", "core/ModelInfo", "core/Resize", "core/InputEncoder",
                 "core/OutputDecoder", "litert/LiteRtClassifier", "ClassifierFactory", "R$layout"):
        assert f"Lcom/example/imageclassifier/{name};" in classes
    assert "Lorg/tensorflow/lite/Interpreter;" in classes
    assert not any("mlkit" in c for c in classes)  # the hermetic build is the litert flavor

    files = apk.get_files()
    libs = sorted(f for f in files if f.startswith("lib/"))
    assert libs == [f"lib/{abi}/libtensorflowlite_jni.so" for abi in sorted(DEFAULT_ABIS)]
    assert sorted(f for f in files if f.startswith("assets/")) == [
        "assets/model.tflite", *(f"assets/samples/{label}.png" for label in sorted(LABELS))]


@pytest.mark.slow
def test_model_is_stored_aligned_and_identical(built, model_dir):
    data = built.apk.read_bytes()
    with zipfile.ZipFile(built.apk) as z:
        info = z.getinfo(f"assets/{MODEL_ASSET}")
        assert info.compress_type == zipfile.ZIP_STORED
        offset = _local_data_offset(data, info)
        assert offset % 4 == 0
        assert data[offset:offset + info.file_size] == (model_dir / "model.tflite").read_bytes()
        for name in z.namelist():  # native libraries: stored, page-aligned (mapped in place)
            if name.endswith(".so"):
                so = z.getinfo(name)
                assert so.compress_type == zipfile.ZIP_STORED
                assert _local_data_offset(data, so) % 4096 == 0


@pytest.mark.slow
def test_result_reports_sizes_timings_and_checks(built, models):
    assert built.apk_bytes == built.apk.stat().st_size
    assert built.model_bytes == len(models[1])
    assert set(built.native_bytes) == set(DEFAULT_ABIS) and min(built.native_bytes.values()) > 1_000_000
    assert built.dex_bytes > 10_000 and built.samples == 3
    assert all(line.startswith(("✓", "!")) for line in built.checks)  # "!": the 16 KB page notes
    assert any("the app reads the model as pipeline.metadata does: 3 labels, input 16x16x3 UINT8" in line
               for line in built.checks)
    for step in ("toolchain", "bundle", "resources", "javac", "dex", "sign", "verify", "total"):
        assert step in built.timings
    assert built.timings["total"] < 120
    assert "\n".join(built.summary()).startswith(str(built.apk))


@pytest.mark.slow
def test_16k_page_report_per_native_library(built):
    """LiteRT 2.16.1's libraries have 4 KB LOAD segments: said plainly, without failing the build."""
    with zipfile.ZipFile(built.apk) as z:
        sos = [n for n in z.namelist() if n.endswith(".so")]
        aligns = {n: elf_load_alignment(z.read(n)) for n in sos}
    assert sos and set(aligns.values()) == {4096}
    for name in sos:
        line = next(c for c in built.checks if c.startswith(f"! {name}: ELF LOAD alignment 4 KB, zip offset "))
        offset = int(re.search(r"zip offset (\d+)", line).group(1))
        assert offset % 4096 == 0
    assert ("! 16 KB pages: NOT 16 KB-aligned - fine for emulators, phones with 4 KB pages and sideloading, "
            "but not for a Google Play upload targeting Android 15+") in "\n".join(built.checks)
    assert elf_load_alignment(b"not an elf file at all, no header here......." * 2) is None


def test_one_abi_only_ships_that_abi(model_dir, keystore, tmp_path, built):
    result = build_apk(_options(model_dir, tmp_path / "dist", keystore, abis=("x86_64",)))
    with zipfile.ZipFile(result.apk) as z:
        assert sorted(n for n in z.namelist() if n.startswith("lib/")) == ["lib/x86_64/libtensorflowlite_jni.so"]
    assert result.apk_bytes < built.apk_bytes


@pytest.mark.slow
def test_release_build_signs_with_the_keystore_from_env(model_dir, tmp_path):
    ks = _make_keystore(tmp_path / "release.p12", "release-pass", "upload")
    env = {RELEASE_ENV["keystore"]: str(ks), RELEASE_ENV["store_password"]: "release-pass",
           RELEASE_ENV["alias"]: "upload"}
    result = build_apk(_options(model_dir, tmp_path / "dist", ks, signing=SigningOptions.release_from_env(env)))
    assert result.apk.name == "tiny-release.apk" and result.build_type == "release"
    certs = subprocess.run(["apksigner", "verify", "--print-certs", str(result.apk)], capture_output=True, text=True)
    assert certs.returncode == 0 and "CN=Release Test" in certs.stdout
    assert "✓ not debuggable (release build)" in result.checks


def test_evaluation_set_and_instrumentation_only_in_debug_builds(model_dir, keystore, tmp_path):
    import shutil

    d = tmp_path / "tiny"
    shutil.copytree(model_dir, d)
    (d / "eval" / "images").mkdir(parents=True)
    shutil.copyfile(next((d / SAMPLES_DIR).iterdir()), d / "eval" / "images" / "000.png")
    (d / "eval" / "eval.json").write_text('{"format": 1, "images": []}')
    debug = build_apk(_options(d, tmp_path / "debug", keystore))
    ks = _make_keystore(tmp_path / "release.p12", "release-pass", "upload")
    env = {RELEASE_ENV["keystore"]: str(ks), RELEASE_ENV["store_password"]: "release-pass",
           RELEASE_ENV["alias"]: "upload"}
    release = build_apk(_options(d, tmp_path / "release", ks, signing=SigningOptions.release_from_env(env)))
    eval_class = b"Lcom/example/imageclassifier/eval/EvalInstrumentation;"
    with zipfile.ZipFile(debug.apk) as z:
        assert "assets/eval/eval.json" in z.namelist() and eval_class in z.read("classes.dex")
    with zipfile.ZipFile(release.apk) as z:
        assert not [n for n in z.namelist() if n.startswith("assets/eval/")]
        assert eval_class not in z.read("classes.dex")
        assert "EvalInstrumentation".encode("utf-16-le") not in z.read("AndroidManifest.xml")
    assert release.eval_files == 0 and debug.eval_files == 2
    assert "✓ no evaluation set in a release build (assets/eval/ absent)" in release.checks
    assert "✓ no EvalInstrumentation in a release build (dex and manifest)" in release.checks
    assert not any("release build" in c and "evaluation" in c for c in debug.checks)
    xml = _androguard(release.apk).get_android_manifest_xml()
    assert xml.findall("instrumentation") == []


@pytest.mark.slow
def test_apk_from_the_pipeline_default_dataset(digits_run, keystore, tmp_path):
    """The real deployable model from `run_model` on the embedded digits."""
    _, result = digits_run
    built = build_apk(ApkOptions(model_dir=result.model_dir, app_dir=APP, out_dir=tmp_path / "dist",
                                 signing=SigningOptions.debug(keystore)))
    data = built.apk.read_bytes()
    with zipfile.ZipFile(built.apk) as z:
        info = z.getinfo(f"assets/{MODEL_ASSET}")
        offset = _local_data_offset(data, info)
        assert info.compress_type == zipfile.ZIP_STORED and offset % 4 == 0
        assert data[offset:offset + info.file_size] == result.model_path.read_bytes()
        names = set(z.namelist())
        eval_doc = json.loads(z.read("assets/eval/eval.json"))
    assert any("10 labels" in line for line in built.checks)
    # the evaluation set and the instrumentation that runs it on a device (issue 5)
    assert len(eval_doc["images"]) == 100
    assert all(f"assets/eval/{e['file']}" in names for e in eval_doc["images"])
    apk = _androguard(built.apk)
    xml = apk.get_android_manifest_xml()
    ns = "{http://schemas.android.com/apk/res/android}"
    inst = xml.findall("instrumentation")
    assert [i.get(ns + "name") for i in inst] == [
        "com.example.imageclassifier.eval.EvalInstrumentation"]
    assert inst[0].get(ns + "targetPackage") == apk.get_package()
    assert "Lcom/example/imageclassifier/eval/EvalInstrumentation;" in {
        c.get_name() for d in apk.get_all_dex() for c in _dex_classes(d)}


def _dex_classes(dex_bytes):
    from androguard.core.dex import DEX

    return DEX(dex_bytes).get_classes()


# ----------------------------------------------------------------------------- bad input


def test_no_model_says_how_to_build_it(tmp_path, keystore):
    dist = tmp_path / "dist"
    with pytest.raises(ModelMissingError) as err:
        build_apk(_options(tmp_path / "models" / "flowers", dist, keystore))
    assert err.value.problem == f"no model at {tmp_path / 'models' / 'flowers' / 'model.tflite'}"
    assert err.value.fix == f"build it first: invoke model --name flowers --out {tmp_path / 'models'}"
    assert _dist_is_empty(dist)


def test_a_file_that_is_not_tflite_is_refused(tmp_path, keystore):
    d = tmp_path / "models" / "junk"
    d.mkdir(parents=True)
    (d / "model.tflite").write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelFileError, match="is not a TFLite model"):
        build_apk(_options(d, tmp_path / "dist", keystore))
    assert _dist_is_empty(tmp_path / "dist")


@pytest.mark.slow
def test_model_without_metadata_is_refused_by_the_apps_reader(models, tmp_path, keystore):
    d = tmp_path / "models" / "bare"
    d.mkdir(parents=True)
    (d / "model.tflite").write_bytes(models[0])
    with pytest.raises(ModelFileError) as err:
        build_apk(_options(d, tmp_path / "dist", keystore))
    assert "has no TFLite metadata" in err.value.problem
    assert "invoke model --name bare" in err.value.fix
    assert _dist_is_empty(tmp_path / "dist")


def test_missing_tools_and_not_root_prints_the_install_command(model_dir, tmp_path, keystore):
    empty = tmp_path / "bin"
    empty.mkdir()
    toolchain = ToolchainOptions(path=str(empty), euid=1000, android_home="",
                                 framework_res=tmp_path / "framework-res.apk", cache_dir=tmp_path / "cache")
    with pytest.raises(ToolchainError) as err:
        build_apk(_options(model_dir, tmp_path / "dist", keystore, toolchain=toolchain))
    assert err.value.fix == ("install them with: sudo apt-get install -y "
                             "aapt android-framework-res apksigner default-jdk-headless maven zipalign")
    assert _dist_is_empty(tmp_path / "dist")


def test_maven_resolution_failure_names_the_artifact(model_dir, tmp_path, keystore):
    bogus = MavenArtifact("org.tensorflow", "tensorflow-lite", "0.0.0-no-such-version", "aar")
    toolchain = ToolchainOptions(android_home="", artifacts={**MAVEN_ARTIFACTS, "tflite": bogus})
    with pytest.raises(ToolchainError) as err:
        build_apk(_options(model_dir, tmp_path / "dist", keystore, toolchain=toolchain))
    assert "org.tensorflow:tensorflow-lite:0.0.0-no-such-version:aar" in err.value.problem
    assert _dist_is_empty(tmp_path / "dist")


def test_wrong_keystore_password_is_one_clear_error(model_dir, tmp_path):
    ks = _make_keystore(tmp_path / "release.p12", "right-password", "upload")
    signing = SigningOptions(build_type="release", keystore=ks, alias="upload", store_password="wrong-password")
    with pytest.raises(ApkError) as err:
        build_apk(_options(model_dir, tmp_path / "dist", ks, signing=signing))
    assert err.value.problem == f"the keystore password for {ks} is wrong"
    assert RELEASE_ENV["store_password"] in err.value.fix
    assert "wrong-password" not in str(err.value) and "right-password" not in str(err.value)
    assert _dist_is_empty(tmp_path / "dist")


def test_wrong_key_alias_is_named(model_dir, tmp_path):
    ks = _make_keystore(tmp_path / "release.p12", "right-password", "upload")
    signing = SigningOptions(build_type="release", keystore=ks, alias="nope", store_password="right-password")
    with pytest.raises(ApkError, match="has no key with alias 'nope'"):
        build_apk(_options(model_dir, tmp_path / "dist", ks, signing=signing))
    assert _dist_is_empty(tmp_path / "dist")


def test_unknown_abi_lists_the_valid_ones(model_dir, tmp_path, keystore):
    with pytest.raises(ConfigError) as err:
        _options(model_dir, tmp_path / "dist", keystore, abis=("arm64", "x86_64"))
    assert err.value.problem == "unknown ABI 'arm64'"
    assert err.value.fix == f"use one or more of: {', '.join(VALID_ABIS)}"
    with pytest.raises(ConfigError, match="no ABI given"):
        _options(model_dir, tmp_path / "dist", keystore, abis=())
    assert _dist_is_empty(tmp_path / "dist")


def test_release_signing_without_env_names_the_variables():
    with pytest.raises(ConfigError) as err:
        SigningOptions.release_from_env({RELEASE_ENV["alias"]: "upload"})
    assert err.value.problem == ("release signing is not configured: "
                                 "APK_KEYSTORE, APK_KEYSTORE_PASSWORD not set")


def test_passwords_stay_out_of_repr():
    signing = SigningOptions(build_type="release", keystore=Path("k.p12"), alias="a", store_password="s3cret",
                             key_password="k3y")
    assert "s3cret" not in repr(signing) and "k3y" not in repr(signing)


@pytest.mark.slow
def test_a_failed_verification_leaves_nothing_in_dist(model_dir, tmp_path, keystore, monkeypatch):
    real = apk_module.verify_apk

    def failing(*args, **kwargs):
        real(*args, **kwargs)
        raise ApkError("simulated failed check", "none")

    monkeypatch.setattr(apk_module, "verify_apk", failing)
    with pytest.raises(ApkError, match="simulated"):
        build_apk(_options(model_dir, tmp_path / "dist", keystore))
    assert _dist_is_empty(tmp_path / "dist")


# ----------------------------------------------------------------------------- bundle


def test_bundle_copies_model_and_samples(model_dir, tmp_path):
    result = bundle_assets(model_dir, tmp_path / "assets")
    assert (tmp_path / "assets" / MODEL_ASSET).read_bytes() == (model_dir / "model.tflite").read_bytes()
    assert result.samples == tuple(f"samples/{label}.png" for label in sorted(LABELS))
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == [MODEL_ASSET, SAMPLES_DIR]


def test_bundle_refuses_a_missing_samples_folder(model_dir, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        bundle_assets(model_dir, tmp_path / "assets", samples_dir=tmp_path / "nope")
    assert not (tmp_path / "assets").exists()


# ----------------------------------------------------------------------------- the app's sources


def test_core_has_no_android_imports():
    sources = sorted((JAVA / "core").glob("*.java"))
    assert len(sources) >= 8
    for path in sources:
        assert not re.search(r"^import\s+android\.", path.read_text(), re.M), path


def test_litert_classifier_has_no_android_imports():
    text = (JAVA / "litert" / "LiteRtClassifier.java").read_text()
    assert not re.search(r"^import\s+android\.", text, re.M)


def test_asset_names_agree_between_python_and_java():
    java = (JAVA / "ModelAssets.java").read_text()
    assert f'MODEL_ASSET = "{MODEL_ASSET}"' in java
    assert f'SAMPLES_DIR = "{SAMPLES_DIR}"' in java


def test_gradle_reads_every_android_fact_from_app_properties():
    gradle = (APP / "app" / "build.gradle").read_text()
    for key in ("applicationId", "namespace", "minSdk", "targetSdk", "compileSdk", "versionCode", "versionName"):
        assert f"facts.getProperty('{key}')" in gradle
    assert "noCompress 'tflite'" in gradle
    assert re.search(r"litert\s*\{", gradle) and re.search(r"mlkit\s*\{", gradle)
    assert "mlkitImplementation 'com.google.mlkit:image-labeling-custom:" in gradle
    assert FACTS.min_sdk == 24 and FACTS.target_sdk >= 35


def test_shared_manifest_leaves_package_and_sdk_to_app_properties():
    import xml.etree.ElementTree as ET

    root = ET.parse(APP / "app" / "src" / "main" / "AndroidManifest.xml").getroot()
    assert "package" not in root.attrib and root.find("uses-sdk") is None
    activity = root.find("application/activity")
    assert activity.get("{http://schemas.android.com/apk/res/android}exported") == "true"


def test_app_sources_avoid_lambdas_for_dx():
    """dx (the Maven-Central dexer) rejects invokedynamic at minSdk 24: no lambdas or method refs."""
    for path in (APP / "app" / "src").rglob("*.java"):
        if "/test/" in path.as_posix():
            continue
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", path.read_text(), flags=re.S)  # comments
        text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)  # and string literals
        assert not re.search(r"\)\s*->|\w\s*->\s*[{\w]|\w::\w", text), path


def _make_keystore(path: Path, password: str, alias: str) -> Path:
    subprocess.run(
        ["keytool", "-genkeypair", "-keystore", str(path), "-storetype", "PKCS12", "-storepass", password,
         "-keypass", password, "-alias", alias, "-keyalg", "RSA", "-keysize", "2048", "-validity", "365",
         "-dname", "CN=Release Test,O=Tests,C=US"],
        check=True, capture_output=True,
    )
    return path


def test_write_samples_round_robin_png(tmp_path):
    from PIL import Image

    from pipeline.evalset import write_samples

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 8, 8, 3), dtype=np.uint8)
    labels = np.array([0, 1, 0, 2, 1, 0, 2, 1, 2])
    written = write_samples(images, labels, ("zero", "one/1", "two"), tmp_path / "samples", per_class=2)
    assert [p.name for p in written] == ["00_zero.png", "01_one_1.png", "02_two.png",
                                         "03_zero.png", "04_one_1.png", "05_two.png"]
    assert np.array_equal(np.asarray(Image.open(written[1])), images[1])  # PNG: exact pixels
    with pytest.raises(DataError, match="uint8"):
        write_samples(images.astype(np.float32), labels, ("a", "b", "c"), tmp_path / "x")


def test_generated_manifest_gets_package_placeholders_and_packaging(tmp_path):
    src = tmp_path / "AndroidManifest.xml"
    src.write_text(
        '<manifest xmlns:android="http://schemas.android.com/apk/res/android">\n'
        '  <application android:label="x"/>\n'
        '  <instrumentation android:name="com.example.imageclassifier.eval.Eval"\n'
        '      android:targetPackage="${applicationId}"/>\n'
        "</manifest>\n"
    )
    apk_module._manifest(src, tmp_path / "out.xml", FACTS)
    out = (tmp_path / "out.xml").read_text()
    assert f'package="{FACTS.application_id}"' in out
    assert f'android:targetPackage="{FACTS.application_id}"' in out
    assert 'android:extractNativeLibs="false"' in out
    src.write_text(src.read_text().replace("<manifest ", '<manifest package="org.other.app" '))
    with pytest.raises(ConfigError, match="app.properties is the one place"):
        apk_module._manifest(src, tmp_path / "out.xml", FACTS)


def test_bundle_ships_the_evaluation_set_and_uses_it_for_samples(models, tmp_path):
    from PIL import Image

    d = tmp_path / "models" / "withevals"
    (d / "eval" / "images").mkdir(parents=True)
    (d / "model.tflite").write_bytes(models[1])
    (d / "eval" / "eval.json").write_text('{"images": []}\n')
    for i in range(3):
        Image.fromarray(np.full((SIZE, SIZE, 3), 40 * i, np.uint8)).save(d / "eval" / "images" / f"{i:04d}.png")
    result = bundle_assets(d, tmp_path / "assets")
    assert result.eval_files == 4
    assert (tmp_path / "assets" / "eval" / "eval.json").is_file()
    assert result.samples == ("samples/0000.png", "samples/0001.png", "samples/0002.png")


def test_build_apk_wants_options():
    with pytest.raises(TypeError, match="ApkOptions"):
        build_apk(Path("models/digits"))


def test_eval_assets_keep_the_model_folder_layout():
    """assets/eval/ is models/<name>/eval/ copied whole: the instrumentation reads the same names."""
    from pipeline import artifacts
    from pipeline.android import bundle

    assert bundle.EVAL_ASSETS == artifacts.EVAL_DIR
