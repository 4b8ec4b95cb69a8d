"""Verify a built APK with independent readers, before it may reach `dist/`.

Public entry point: `verify_apk(apk, toolchain, facts, options, model, described, debuggable)`:
signature (apksigner), alignment (zipalign -c), the model entry stored + 4-byte aligned +
byte-identical to `models/<name>/model.tflite`, dex and native libraries of the requested ABIs
only, the 16 KB page report per native library, the manifest (aapt2 dump badging), a release
build without the evaluation set, and the app's Java reading the model as Python does. Every
check is a ✓/✗ line (! for a warning); any ✗ raises ApkError listing them all.
"""

from __future__ import annotations

import logging
import re
import struct
import subprocess
import zipfile
from pathlib import Path

from pipeline.android.appfacts import AppFacts
from pipeline.android.bundle import MODEL_ASSET
from pipeline.android.buildtool import TOOL_TIMEOUT_S, last_line
from pipeline.android.toolchain import Toolchain
from pipeline.artifacts import ModelDir
from pipeline.errors import ApkError, PipelineError
from pipeline.metadata import read_metadata

log = logging.getLogger(__name__)
EVAL_CLASS = "Lcom/example/imageclassifier/eval/EvalInstrumentation;"

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


def verify_apk(apk: Path, tc: Toolchain, facts: AppFacts, options, model: bytes, described: dict,
               debuggable: bool) -> list[str]:
    """Check the built APK with independent readers; return ✓ lines or raise listing every ✗."""
    results: list[tuple[bool | None, str]] = []

    def check(ok: bool | None, text: str) -> None:  # None: a warning (shown with "!", never fails)
        results.append((None if ok is None else bool(ok), text))
        log.info("%s %s", _mark(ok), text)

    _check_signature(check, apk, tc)
    with zipfile.ZipFile(apk) as z:
        data = apk.read_bytes()
        _check_model_entry(check, z, data, model, options)
        _check_code(check, z, data, facts, options)
    _check_manifest(check, apk, tc, facts, debuggable)
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


def _tool(cmd: list) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, timeout=TOOL_TIMEOUT_S)


def _check_signature(check, apk: Path, tc: Toolchain) -> None:
    signed = _tool([tc.apksigner, "verify", "--verbose", apk])
    schemes = [m.group(1) for m in re.finditer(r"Verified using (v\S+) scheme[^:]*: true", signed.stdout)]
    check(signed.returncode == 0, f"apksigner verify: signature verifies ({', '.join(schemes) or last_line(signed.stdout)})")
    aligned = _tool([tc.zipalign, "-c", "-p", "4", apk])
    check(aligned.returncode == 0, "zipalign -c -p 4: aligned (4-byte entries, page-aligned .so)"
          if aligned.returncode == 0 else f"zipalign -c -p 4 failed: {last_line(aligned.stdout)}")


def _check_model_entry(check, z: zipfile.ZipFile, data: bytes, model: bytes, options) -> None:
    """The model asset: stored, 4-byte aligned (it is memory-mapped), the model's exact bytes."""
    entry = f"assets/{MODEL_ASSET}"
    source = ModelDir(options.model_dir).model_path
    if entry not in z.namelist():
        check(False, f"{entry} is missing")
        return
    info = z.getinfo(entry)
    offset = _local_data_offset(data, info)
    stored = info.compress_type == zipfile.ZIP_STORED
    check(stored, f"{entry} is stored (uncompressed)" if stored else f"{entry} is compressed")
    check(offset % 4 == 0, f"{entry} data starts at offset {offset} ({'4-byte aligned' if offset % 4 == 0 else 'NOT 4-byte aligned'})")
    same = stored and data[offset:offset + info.file_size] == model and info.file_size == len(model)
    check(same, f"{entry} is byte-identical to {source} ({len(model):,} B)"
          if same else f"{entry} differs from {source}")


def _check_code(check, z: zipfile.ZipFile, data: bytes, facts: AppFacts, options) -> None:
    """classes.dex holds the app and LiteRT; native libraries for exactly the requested ABIs."""
    names = set(z.namelist())
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


def _check_manifest(check, apk: Path, tc: Toolchain, facts: AppFacts, debuggable: bool) -> None:
    """Package, version, SDK levels, launchable activity and debuggability (aapt2 dump badging)."""
    out = _tool([tc.aapt2, "dump", "badging", apk]).stdout
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
