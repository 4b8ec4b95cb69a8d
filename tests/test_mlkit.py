"""pipeline.mlkit: every ML Kit requirement, exact ✗ lines, untrusted files, a mutation run."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

import _broken_models as broken
from pipeline.errors import ModelFileError, ValidationError
from pipeline.mlkit import (
    R_FLATBUFFER, R_INPUT_SHAPE, R_LABELS, R_LOADS, R_NORMALIZATION, R_OUTPUT_SHAPE,
    REQUIREMENT_NAMES, InterpreterProbe, check_mlkit, format_report, require_mlkit_compatible,
    to_json,
)

LABELS_FIX = "write the labels (one per line, in output order) with pipeline.metadata.write_metadata"
NOT_TFLITE_FIX = ("pass the .tflite file written by tf.lite.TFLiteConverter (convert() output), "
                  "not a renamed or partly copied file")


@pytest.fixture(scope="module")
def probe():
    """One child interpreter for the whole module (a crash in it starts a fresh one)."""
    with InterpreterProbe(timeout_s=10, memory_limit_mb=1024) as p:
        yield p


def checked_failures(report) -> list[str]:
    """The ✗ lines of requirements that were checked (not the "not checked" follow-ups)."""
    return [r.line() for r in report.failures if r.checked]


# ------------------------------------------------------------------------------ good models


@pytest.mark.parametrize("build", [broken.good_uint8, broken.good_float32, broken.output_4d],
                         ids=["uint8", "float32", "output-1x1x1xN"])
def test_good_models_pass(build, probe):
    report = check_mlkit(build(), probe=probe)
    assert report.passed, format_report(report)
    assert format_report(report).splitlines() == [f"✓ {name}" for name in REQUIREMENT_NAMES]


def test_good_model_from_a_path_with_its_own_child(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(broken.good_uint8())
    report = check_mlkit(path)  # no probe: starts and stops its own child
    assert report.passed and report.source == str(path)
    assert report.requirement(R_LOADS).detail == "allocated and invoked (1 input(s), 1 output(s))"
    assert report.requirement(R_OUTPUT_SHAPE).detail == "1x3, N = 3"
    assert report.requirement(R_NORMALIZATION).detail == "not needed: uint8 input"


def test_require_mlkit_compatible_passes_a_good_model():
    assert require_mlkit_compatible(broken.good_float32()).passed


# ------------------------------------------------------------------------------ one broken requirement each


BROKEN = {
    "int8-input": (broken.int8_input,
                   "✗ input dtype uint8 or float32: the input tensor is int8; ML Kit accepts uint8 or "
                   "float32 - convert with converter.inference_input_type = tf.uint8 (quantized model), "
                   "or keep a float32 input with NormalizationOptions metadata"),
    "int8-output": (broken.int8_output,
                    "✗ output dtype uint8 or float32: the output tensor is int8; ML Kit reads uint8 or "
                    "float32 scores - convert with converter.inference_output_type = tf.uint8 "
                    "(quantized model) or keep a float32 output"),
    "float-without-normalization": (
        broken.float_without_normalization,
        "✗ NormalizationOptions for float32 input: the input is float32 but its metadata has no "
        "NormalizationOptions, so ML Kit cannot scale the pixels - write the training mean/std into "
        "the input tensor metadata (pipeline.metadata.write_metadata), or convert with a uint8 input"),
    "nchw-input": (broken.nchw_input,
                   "✗ input shape 1xHxWx3 (NHWC, RGB): the input shape is 1x3x8x8: channels first "
                   "(NCHW), ML Kit feeds NHWC - build the Keras model with a channels-last RGB input "
                   "keras.Input((H, W, 3)) and batch size 1"),
    "3d-output": (broken.output_3d,
                  "✗ output shape 1xN or 1x1x1xN: the output shape is 1x1x3 (3-D); ML Kit expects 1xN "
                  "or 1x1x1xN - reshape the scores to (1, N) in the model (e.g. Flatten or "
                  "Reshape((N,)) before the softmax)"),
    "no-metadata": (broken.no_metadata,
                    "✗ metadata present and parseable: the model has no TFLite metadata (no "
                    "TFLITE_METADATA buffer), so ML Kit finds no labels - add image-classifier metadata "
                    "with labels and normalization (pipeline.metadata.write_metadata, or the "
                    "pipeline's metadata stage)"),
    "label-count": (broken.wrong_label_count,
                    "✗ labels file (TENSOR_AXIS_LABELS) with N lines: labels.txt has 4 lines but the "
                    f"output has N = 3 classes - {LABELS_FIX}"),
    "label-type": (broken.labels_of_wrong_type,
                   "✗ labels file (TENSOR_AXIS_LABELS) with N lines: the output tensor metadata has no "
                   f"TENSOR_AXIS_LABELS file (it has labels.txt, of other types) - {LABELS_FIX}"),
    "two-inputs": (broken.two_inputs,
                   "✗ single input tensor: the model has 2 input tensors, ML Kit feeds exactly one "
                   "image - export a model with a single 1xHxWx3 image input"),
    "no-softmax": (broken.no_softmax,
                   "✗ output scores are probabilities (softmax): the output comes from FULLY_CONNECTED, "
                   "not SOFTMAX: the scores are not probabilities - end the model with a softmax, e.g. "
                   "Dense(N, activation=\"softmax\"), before converting: ML Kit reports the scores as "
                   "probabilities"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_requirement_gives_its_exact_line(case, probe):
    build, expected = BROKEN[case]
    report = check_mlkit(build(), probe=probe)
    assert not report.passed
    assert checked_failures(report) == [expected]
    assert expected in format_report(report).splitlines()


def test_dependent_checks_say_not_checked(probe):
    two = check_mlkit(broken.two_inputs(), probe=probe)
    assert two.requirement(R_INPUT_SHAPE).line() == (
        "✗ input shape 1xHxWx3 (NHWC, RGB): not checked: the model has 2 inputs")
    flat = check_mlkit(broken.output_3d(), probe=probe)
    assert flat.requirement(R_LABELS).line() == (
        "✗ labels file (TENSOR_AXIS_LABELS) with N lines: not checked: the output shape is not 1xN "
        "or 1x1x1xN (labels.txt has 3 lines)")
    bare = check_mlkit(broken.no_metadata(), probe=probe)
    assert bare.requirement(R_LABELS).line() == (
        "✗ labels file (TENSOR_AXIS_LABELS) with N lines: not checked: no usable metadata")
    int8 = check_mlkit(broken.int8_input(), probe=probe)
    assert int8.requirement(R_NORMALIZATION).line() == (
        "✗ NormalizationOptions for float32 input: not checked: the input dtype int8 is not supported")


def test_require_mlkit_compatible_lists_every_failure():
    with pytest.raises(ValidationError) as err:
        require_mlkit_compatible(broken.two_inputs(), what="the deployable model")
    message = str(err.value)
    assert message.startswith("the deployable model does not meet ML Kit's custom-model requirements")
    assert "  " + BROKEN["two-inputs"][1] in message
    assert "✗ input shape 1xHxWx3 (NHWC, RGB): not checked: the model has 2 inputs" in message
    assert "✓" not in message


def test_json_report(probe):
    doc = json.loads(to_json(check_mlkit(broken.no_softmax(), probe=probe)))
    assert doc["passed"] is False and doc["source"] == "<bytes>"
    assert [r["name"] for r in doc["requirements"]] == list(REQUIREMENT_NAMES)
    softmax = doc["requirements"][-1]
    assert softmax["ok"] is False and softmax["line"] == BROKEN["no-softmax"][1]
    assert softmax["fix"].startswith("end the model with a softmax")


# ------------------------------------------------------------------------------ untrusted files


UNTRUSTED = {
    "empty": (lambda: b"", R_FLATBUFFER,
              "the data is too short to be a TFLite model (0 bytes; a TFLite flatbuffer starts with "
              "a 4-byte root offset and the identifier 'TFL3')"),
    "seven-bytes": (lambda: broken.good_uint8()[:7], R_FLATBUFFER, None),
    "truncated-half": (lambda: broken.good_uint8()[:len(broken.good_uint8()) // 2], R_FLATBUFFER, None),
    "random": (broken.random_bytes, R_FLATBUFFER, None),
    "random-with-TFL3": (broken.random_with_identifier, R_FLATBUFFER, None),
    "png-renamed": (broken.png_renamed, R_FLATBUFFER,
                    "the data is not a TFLite model: the file identifier 'TFL3' is missing (it looks "
                    "like a PNG image)"),
    "zip-renamed": (broken.zip_renamed, R_FLATBUFFER,
                    "the data is not a TFLite model: the file identifier 'TFL3' is missing (it looks "
                    "like a zip archive (a Keras .keras file, an .aar/.apk or a zipped model?))"),
    "corrupt-labels-entry": (broken.corrupt_labels_entry, R_LABELS,
                             "associated file 'labels.txt' is corrupt in the model's zip (BadZipFile: "
                             "Bad CRC-32 for file 'labels.txt')"),
    "zip-cut-short": (broken.truncated_zip, R_LABELS, None),
}


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_untrusted_files_give_a_clear_verdict(case, probe, tmp_path):
    build, failing, detail = UNTRUSTED[case]
    path = tmp_path / f"{case}.tflite"
    path.write_bytes(build())
    report = check_mlkit(path, probe=probe)
    assert not report.passed
    first = report.failures[0]
    assert first.name == failing and first.checked and first.fix
    if detail is not None:
        assert first.detail == detail
    if failing == R_FLATBUFFER:
        assert first.fix == NOT_TFLITE_FIX
        assert all(r.detail == "not checked: the file is not a valid TFLite flatbuffer"
                   for r in report.requirements[1:])
    else:  # the flatbuffer is intact: only the packed labels are broken
        assert checked_failures(report) == [first.line()]


def test_unreadable_path_is_a_pipeline_error(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read .*missing.tflite"):
        check_mlkit(tmp_path / "missing.tflite")


# ------------------------------------------------------------------------------ the child process


class _FakeChild(InterpreterProbe):
    def __init__(self, script: str, **kw):
        super().__init__(**kw)
        self.script = script

    def _command(self):
        return [sys.executable, "-c", self.script]


def test_a_crashing_interpreter_becomes_a_failed_load():
    script = ("import os, sys; sys.stdin.buffer.read(8); "
              "print('Check failed: boom', file=sys.stderr, flush=True); os.abort()")
    with _FakeChild(script, timeout_s=10) as crashing:
        result = crashing.load(broken.good_uint8())
        assert not result.ok
        assert result.detail == "the interpreter crashed (SIGABRT) (Check failed: boom)"
        assert crashing.load(b"again").detail.startswith("the interpreter crashed (SIGABRT)")
        assert crashing.restarts == 2


def test_a_hanging_interpreter_times_out():
    with _FakeChild("import time; time.sleep(60)", timeout_s=0.5) as hanging:
        start = time.monotonic()
        result = hanging.load(broken.good_uint8())
        assert (result.ok, result.detail) == (False, "the interpreter did not finish within 0.5 s")
        assert time.monotonic() - start < 5


def test_probe_recovers_after_a_failure(probe):
    assert not probe.load(b"not a model").ok
    assert probe.load(broken.good_uint8()).ok


# ------------------------------------------------------------------------------ mutation run


MUTATIONS_PER_MODEL = 500


@pytest.mark.parametrize("build", [broken.good_uint8, broken.good_float32], ids=["uint8", "float32"])
def test_mutated_models_always_get_a_verdict(build, probe, record_property, capsys):
    """Flip 1-3 bytes of a valid model at seeded random positions; every run must end in a report."""
    good = build()
    rng = np.random.default_rng(20240601)
    verdicts = {"passed": 0, "failed": 0, "interpreter crashed": 0, "interpreter timed out": 0}
    first_failures: dict[str, int] = {}
    start = time.monotonic()
    for _ in range(MUTATIONS_PER_MODEL):
        data = bytearray(good)
        for pos in rng.integers(0, len(data), int(rng.integers(1, 4))):
            data[pos] ^= int(rng.integers(1, 256))
        report = check_mlkit(bytes(data), probe=probe)
        assert [r.name for r in report.requirements] == list(REQUIREMENT_NAMES)
        assert not any("bug in pipeline.mlkit" in r.fix for r in report.requirements), format_report(report)
        verdicts["passed" if report.passed else "failed"] += 1
        if report.failures:
            name = report.failures[0].name
            first_failures[name] = first_failures.get(name, 0) + 1
        loads = report.requirement(R_LOADS).detail
        verdicts["interpreter crashed"] += "crashed" in loads
        verdicts["interpreter timed out"] += "did not finish" in loads
    elapsed = time.monotonic() - start
    assert verdicts["passed"] + verdicts["failed"] == MUTATIONS_PER_MODEL
    record_property("mutation_verdicts", verdicts)
    with capsys.disabled():
        print(f"\nmutation run ({len(good)}-byte model): {MUTATIONS_PER_MODEL} mutated files, "
              f"{verdicts} in {elapsed:.1f} s; first failing requirement: {first_failures}")
    assert elapsed < 60


# ------------------------------------------------------------------------------ the real pipeline


@pytest.mark.slow
def test_pipeline_models_pass(digits_run):
    _, result = digits_run
    for path in (result.model_path, result.model_dir / "variants" / "float32.tflite"):
        report = check_mlkit(path)
        assert report.passed, format_report(report)
