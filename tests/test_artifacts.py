"""pipeline.artifacts: the model folder's names, and its report read back checked."""

from __future__ import annotations

import json

import pytest

from _reports import make_report, write_report_json
from pipeline.artifacts import REPORT_VERSION, ModelDir
from pipeline.errors import ModelMissingError


def test_paths_are_named_once(tmp_path):
    d = ModelDir(tmp_path / "flowers")
    assert d.name == "flowers"
    assert d.model_path == tmp_path / "flowers" / "model.tflite"
    assert d.variant_path("float32") == tmp_path / "flowers" / "variants" / "float32.tflite"
    assert d.eval_json == tmp_path / "flowers" / "eval" / "eval.json"
    assert d.eval_images_dir == tmp_path / "flowers" / "eval" / "images"
    assert d.device_report_path == tmp_path / "flowers" / "device-report.json"


def test_write_models_and_list_them(tmp_path):
    d = ModelDir(tmp_path / "m")
    d.write_models(b"TFL3-deployable", {"float32": b"f", "int8": b"i"}, ["a", "b c"])
    assert d.model_bytes() == b"TFL3-deployable" and d.variant_bytes("int8") == b"i"
    assert d.labels_path.read_text() == "a\nb c\n"
    assert list(d.model_files("pruned_int8")) == ["pruned_int8", "float32", "int8"]


def test_report_round_trip_stamps_the_version(tmp_path):
    d = ModelDir(tmp_path / "m")
    report = make_report("m")
    del report["report_version"]
    d.write_report(report)
    back = d.read_report()
    assert back["report_version"] == REPORT_VERSION and back["name"] == "m"
    assert d.update_report(sweep={"chosen": 0.8})["sweep"] == {"chosen": 0.8}
    assert d.read_report()["sweep"] == {"chosen": 0.8}


@pytest.mark.parametrize("content, message", [
    (None, r"no model report at .*report.json - build the model first: invoke model --name m$"),
    ("{not json", r"report.json is not valid JSON .* - rebuild the model: invoke model --name m --force"),
    ("[1, 2]", r"report.json is not a report written by this pipeline - rebuild"),
    (json.dumps({"name": "m"}), r"is not a report written by this pipeline"),
    (json.dumps({"report_version": 1}), r"has report version 1; this pipeline reads 3, 4 - rebuild"),
    (json.dumps({"report_version": 99}), r"has report version 99; this pipeline reads 3, 4 \(it was "
                                         r"written by a newer version\) - update the pipeline, or "
                                         r"rebuild the model"),
    (json.dumps({"report_version": REPORT_VERSION, "name": "m"}),
     r"report.json lacks deployable, variants, options - rebuild the model"),
])
def test_bad_reports_say_how_to_rebuild(tmp_path, content, message):
    d = ModelDir(tmp_path / "m")
    d.path.mkdir()
    if content is not None:
        d.report_json.write_text(content)
    with pytest.raises(ModelMissingError, match=message):
        d.read_report()


def test_missing_model_says_how_to_build(tmp_path):
    with pytest.raises(ModelMissingError, match=r"no model at .*model.tflite - build it first: invoke model --name m"):
        ModelDir(tmp_path / "m").model_bytes()


def test_optional_documents_read_as_none(tmp_path):
    d = ModelDir(tmp_path / "m")
    assert d.read_eval_doc() is None and d.read_device_report() is None
    write_report_json(d.path, make_report("m"))
    d.write_device_report({"device": {"abi": "x86_64"}})
    assert d.read_device_report() == {"device": {"abi": "x86_64"}}
    d.device_report_path.write_text("{broken")
    assert d.read_device_report() is None
