"""pipeline.goldens: the evaluation set the APK carries and the golden vectors for the host JVM."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import _models  # noqa: I001  (puts the checkout on sys.path, builds the tiny models)
from _reports import make_report, write_report_json
from pipeline.data import Dataset
from pipeline.errors import DataError, ModelMissingError, ValidationError
from pipeline.artifacts import EVAL_DIR, EVAL_JSON
from pipeline.evalset import build_eval_set, load_test_split, read_eval_set, stratified_sample, write_eval_set
from pipeline.goldens import ranking, read_cases, synthetic_images, write_goldens
from pipeline.imageops import resize_rgb
from pipeline.metadata import ModelMetadata, write_metadata
from pipeline.validate import run_interpreter

LABELS = _models.LABELS


def _tiny_model() -> bytes:
    meta = ModelMetadata(name="tiny", description="", version="1", author="tests", license="Apache-2.0",
                         labels=LABELS, mean=(0.0,), std=(255.0,), input_min=0, input_max=255)
    return write_metadata(_models.int8_model(), meta)


def _dataset(n_test=30, seed=3) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n_test, _models.SIZE, _models.SIZE, 3), dtype=np.uint8)
    y = np.array([i % 3 for i in range(n_test)], dtype=np.int64)
    empty = np.zeros((0, _models.SIZE, _models.SIZE, 3), np.uint8)
    return Dataset(class_names=LABELS, x_train=empty, y_train=np.zeros(0, np.int64), x_val=empty,
                   y_val=np.zeros(0, np.int64), x_test=x, y_test=y, source="synthetic", fingerprint="f" * 64)


# ----------------------------------------------------------------------------- sampling


def test_stratified_sample_is_proportional_seeded_and_sorted():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    idx = stratified_sample(labels, 10, seed=1)
    assert list(np.bincount(labels[idx])) == [5, 3, 2]
    assert list(idx) == sorted(idx) and len(set(idx)) == 10
    assert np.array_equal(idx, stratified_sample(labels, 10, seed=1))
    assert not np.array_equal(idx, stratified_sample(labels, 10, seed=2))


def test_stratified_sample_remainder_goes_to_the_largest_fractions():
    labels = np.array([0] * 4 + [1] * 4 + [2] * 2)  # 5 of 10: exact shares 2, 2, 1
    assert list(np.bincount(labels[stratified_sample(labels, 5, 0)])) == [2, 2, 1]
    labels = np.array([0] * 3 + [1] * 3 + [2] * 3)  # 4 of 9: 1.33 each, the extra one to class 0
    assert list(np.bincount(labels[stratified_sample(labels, 4, 0)])) == [2, 1, 1]


def test_stratified_sample_takes_everything_when_asked_for_more():
    labels = np.array([1, 0, 1])
    assert list(stratified_sample(labels, 100, 0)) == [0, 1, 2]


def test_ranking_breaks_ties_by_class_index():
    assert list(ranking(np.array([0.0, 0.5, 0.0, 0.5], np.float32))) == [1, 3, 0, 2]


def test_synthetic_images_are_seeded():
    a, b = synthetic_images(((3, 4), (5, 2)), seed=9), synthetic_images(((3, 4), (5, 2)), seed=9)
    assert [x.shape for x in a] == [(3, 4, 3), (5, 2, 3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- eval set


def test_build_eval_set_holds_the_interpreters_results():
    model, ds = _tiny_model(), _dataset()
    ev = build_eval_set(model, ds, count=9, seed=5, variant="pruned_int8")
    expected = run_interpreter(model, ds.x_test[ev.test_indices])
    assert np.array_equal(ev.scores, expected.scores) and np.array_equal(ev.raw, expected.raw)
    doc = ev.doc
    assert doc["count"] == 9 and doc["labels"] == list(LABELS) and doc["variant"] == "pruned_int8"
    assert [e["file"] for e in doc["images"]][:2] == ["images/000.png", "images/001.png"]
    top1 = expected.scores.argmax(1)
    assert [e["top1"] for e in doc["images"]] == list(top1)
    assert doc["python"]["accuracy"] == pytest.approx(np.mean(top1 == ds.y_test[ev.test_indices]))
    assert sum(doc["python"]["per_class_total"]) == 9 and doc["python"]["per_class_total"] == [3, 3, 3]
    assert all(isinstance(r, int) for r in doc["images"][0]["raw"])  # uint8 output: integers


def test_build_eval_set_refuses_a_model_of_other_classes():
    ds = _dataset()
    other = Dataset(**{**ds.__dict__, "class_names": ("a", "b", "c")})
    with pytest.raises(ValidationError, match="the model's labels .* differ from the dataset's classes"):
        build_eval_set(_tiny_model(), other)


def test_eval_set_needs_a_report(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.tflite").write_bytes(_tiny_model())
    with pytest.raises(ModelMissingError, match=r"no model report at .*report.json - build the model first"):
        write_eval_set(tmp_path / "m", dataset=_dataset())


def test_write_eval_set_pngs_are_lossless(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.tflite").write_bytes(_tiny_model())
    write_report_json(d, make_report(options={"data": {"seed": 4}}))
    ds = _dataset()
    out = write_eval_set(d, dataset=ds, count=6)
    assert out == d / EVAL_DIR
    doc, pixels = read_eval_set(out)
    assert doc["seed"] == 4
    idx = [e["test_index"] for e in doc["images"]]
    assert np.array_equal(pixels, ds.x_test[idx])
    write_eval_set(d, dataset=ds, count=3)  # replaced as a whole, nothing left over
    assert len(list((out / "images").iterdir())) == 3
    assert not [p for p in d.iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------------------- golden vectors


def test_goldens_are_what_python_feeds_and_gets(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from pipeline.validate import input_tensor

    d = tmp_path / "m"
    (d / "variants").mkdir(parents=True)
    model = _tiny_model()
    (d / "model.tflite").write_bytes(model)
    summary = write_goldens(d, tmp_path / "g", variants=(), synthetic=((20, 3), (8, 8)), seed=1)
    assert summary["cases"] == 2 and summary["models"] == ["model"]
    cases = read_cases(tmp_path / "g")
    img = synthetic_images(((20, 3), (8, 8)), seed=1)[0]
    assert cases[0]["id"] == "syn0_3x20@model" and (cases[0]["width"], cases[0]["height"]) == (3, 20)
    assert (tmp_path / "g" / "data" / "syn0_3x20.rgb").read_bytes() == img.tobytes()
    interp = Interpreter(model_content=model)
    detail = interp.get_input_details()[0]
    expected = input_tensor(resize_rgb(img, 8, 8)[None], detail, (0.0,), (255.0,))[0]
    assert (tmp_path / "g" / "data" / "syn0_3x20@model.in").read_bytes() == expected.tobytes()
    run = run_interpreter(model, resize_rgb(img, 8, 8)[None])
    assert (tmp_path / "g" / "data" / "syn0_3x20@model.out").read_bytes() == run.raw[0].tobytes()
    assert np.array_equal(np.float32(cases[0]["scores"]), run.scores[0])
    assert cases[0]["ranking"] == list(ranking(run.scores[0]))


def test_goldens_need_the_variant(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.tflite").write_bytes(_tiny_model())
    with pytest.raises(ModelMissingError, match=r"no model at .*variants/float32.tflite"):
        write_goldens(d, tmp_path / "g")


# ----------------------------------------------------------------------------- on the digits model


@pytest.mark.slow
def test_eval_set_of_the_digits_model(digits_run, tmp_path):
    _, result = digits_run
    d = tmp_path / "digits"
    shutil.copytree(result.model_dir, d)
    dataset = load_test_split(result.model_dir)
    write_eval_set(d, dataset=dataset)
    doc, pixels = read_eval_set(d / EVAL_DIR)
    assert doc["count"] == 100 and len(list((d / EVAL_DIR / "images").glob("*.png"))) == 100
    assert doc["python"]["per_class_total"] == [10] * 10  # 359 test images, 10 classes
    idx = [e["test_index"] for e in doc["images"]]
    assert np.array_equal(pixels, dataset.x_test[idx])
    run = run_interpreter((d / "model.tflite").read_bytes(), pixels)
    assert np.array_equal(np.float32([e["scores"] for e in doc["images"]]), run.scores)
    assert doc["python"]["accuracy"] >= 0.95
    size = (d / EVAL_DIR / EVAL_JSON).stat().st_size + sum(p.stat().st_size for p in (d / EVAL_DIR).rglob("*.png"))
    assert size < 600_000  # what the APK carries


@pytest.mark.slow
def test_load_test_split_notices_changed_data(digits_run, tmp_path):
    _, result = digits_run
    d = tmp_path / "digits"
    d.mkdir()
    report = json.loads((result.model_dir / "report.json").read_text())
    report["dataset"]["fingerprint"] = "0" * 64
    (d / "report.json").write_text(json.dumps(report))
    with pytest.raises(DataError, match=r"the dataset of .* changed since the model was built"):
        load_test_split(d)


def test_ensure_eval_set_rewrites_only_when_stale(tmp_path):
    from pipeline.evalset import ensure_eval_set

    d = tmp_path / "m"
    d.mkdir()
    (d / "model.tflite").write_bytes(_tiny_model())
    write_report_json(d, make_report(options={"data": {"seed": 4}}))
    ds = _dataset()
    out = ensure_eval_set(d, dataset=ds)
    stamp = (out / EVAL_JSON).stat().st_mtime_ns
    assert ensure_eval_set(d, dataset=ds) == out and (out / EVAL_JSON).stat().st_mtime_ns == stamp
    meta = ModelMetadata(name="v2", description="", version="2", author="tests", license="Apache-2.0",
                         labels=LABELS, mean=(0.0,), std=(255.0,), input_min=0, input_max=255)
    (d / "model.tflite").write_bytes(write_metadata(_models.int8_model(), meta))  # a new model
    ensure_eval_set(d, dataset=ds)
    doc, _ = read_eval_set(out)
    from pipeline.fsutil import sha256_file

    assert doc["model_sha256"] == sha256_file(d / "model.tflite")
