"""The HTML comparison report: renders offline, one self-contained file, every variant in it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from _reports import make_report, write_report_json
from pipeline.config import PipelineConfig
from pipeline.errors import ModelMissingError
from pipeline.report import write_report
from pipeline.validate import confusion_matrix


class _Page(HTMLParser):
    """What the tests look at: headings, variant rows, images, every URL-bearing attribute."""

    def __init__(self, text: str):
        super().__init__()
        self.headings: list[str] = []
        self.variant_rows: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.check_items: list[str] = []
        self._heading = self._li = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag in ("h2", "h3"):
            self._heading = ""
        if tag == "li":
            self._li = ""
        if tag == "tr" and "data-variant" in a:
            self.variant_rows.append(a["data-variant"])
        if tag == "img":
            self.images.append(a.get("src", ""))
        for key in ("href", "src", "action", "data"):
            if key in a:
                self.urls.append(a[key])

    def handle_endtag(self, tag):
        if tag in ("h2", "h3") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None
        if tag == "li" and self._li is not None:
            self.check_items.append(self._li.strip())
            self._li = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._li is not None:
            self._li += data


def _assert_self_contained(page: _Page, text: str) -> None:
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    external = [u for u in page.urls if not u.startswith("data:")]
    assert not external
    assert "link" not in page.tags and "script" not in page.tags
    assert not re.search(r"https?://", text)
    assert "@import" not in text and "url(" not in text


def _variant(accuracy, gzip_bytes, nbytes, recipe, **extra):
    return {"bytes": nbytes, "gzip_bytes": gzip_bytes, "accuracy": accuracy,
            "agreement_with_keras": 1.0, "recipe": recipe, "description": f"{recipe} model",
            "latency_ms": {"1": {"mean": 0.2, "p90": 0.3, "runs": 3},
                           "2": {"mean": 0.15, "p90": 0.2, "runs": 3}},
            "sparsity": {"overall": 0.0}, **extra}


@pytest.fixture
def tiny_model_dir(tmp_path):
    """A model folder written by hand from the tiny test models (float32 + deployable int8)."""
    from _models import LABELS, float_model, int8_model

    d = tmp_path / "tiny"
    (d / "variants").mkdir(parents=True)
    (d / "model.tflite").write_bytes(int8_model())
    (d / "variants" / "float32.tflite").write_bytes(float_model())
    report = {
        "name": "tiny <b>&", "deployable": "int8", "created": "2025-01-01T00:00:00+00:00",
        "architecture": {"name": "tiny", "input_size": 8, "mean": [0, 0, 0], "std": [255] * 3},
        "dataset": {"source": "synthetic", "classes": list(LABELS),
                    "totals": {"train": 10, "val": 3, "test": 6}, "fingerprint": "x"},
        "keras": {"baseline": {"test_accuracy": 0.5}},
        "variants": {
            "float32": _variant(0.5, 9000, 10_000, "float32"),
            "int8": _variant(0.5, 3000, 4000, "int8", quantization_ok=True,
                             io={"input": {"dtype": "uint8"}, "output": {"dtype": "uint8"}},
                             confusion_matrix=[[2, 0, 0], [1, 1, 0], [0, 0, 2]]),
            "gone": _variant(0.25, 2000, 3000, "int8", quantization_ok=False),
        },
        "gates": [{"name": "accuracy", "ok": True, "detail": "0.5 vs 0.5"}],
        "timings_s": {"data": 0.1, "keras:baseline": 2.0},
        "environment": {"python": "3.11"},
    }
    write_report_json(d, make_report(config=PipelineConfig(), **report))
    return d


def test_report_renders_every_variant_self_contained(tiny_model_dir):
    path = write_report(tiny_model_dir)
    assert path == tiny_model_dir / "report.html"
    text = path.read_text(encoding="utf-8")
    page = _Page(text)
    assert page.variant_rows == ["float32", "int8", "gone"]
    _assert_self_contained(page, text)
    assert "tiny &lt;b&gt;&amp;: model report" in text  # names are escaped
    for heading in ("Variants", "Size vs accuracy", "Latency", "Per-layer weight sparsity",
                    "Op graph: float32 vs int8", "Stage wall times"):
        assert heading in page.headings, heading
    assert any(h.startswith("Confusion matrix of the deployable model") for h in page.headings)
    # the int8 file is checked against the spec; the missing one is reported, not fatal
    assert "int8" in [h.split()[0] for h in page.headings]
    assert any("input uint8" in item and "1/255" in item for item in page.check_items)
    assert "gone.tflite could not be read" in text
    assert "<li>added: QUANTIZE x2</li>" in text  # uint8 -> int8 in, int8 -> uint8 out
    assert "<td>3000</td>" not in text and "<td>3,000</td><td>3.0</td>" in text  # 9000 / 3000


def test_report_without_json_says_how_to_build(tmp_path):
    with pytest.raises(ModelMissingError, match="no model report at .*report.json - build the "
                                                "model first: invoke model --name nothing"):
        write_report(tmp_path / "nothing")


def test_confusion_matrix_counts():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


@pytest.mark.slow
def test_report_of_a_real_run(tmp_path_factory):
    from _presets import preset_run

    _, result = preset_run(tmp_path_factory.getbasetemp())
    text = write_report(result.model_dir).read_text(encoding="utf-8")
    page = _Page(text)
    assert page.variant_rows == list(result.report["variants"])
    _assert_self_contained(page, text)
    for name in result.report["variants"]:
        if result.report["variants"][name]["recipe"] == "int8":
            assert name in [h.split()[0] for h in page.headings]  # its quantization check block
    assert "Op graph: float32 vs pruned_int8" in page.headings
    matrix = result.report["variants"]["pruned_int8"]["confusion_matrix"]
    assert sum(map(sum, matrix)) == result.report["dataset"]["totals"]["test"]
    assert "recorded by validation in the interpreter" in text
    assert any(h.startswith("Fidelity on the 100-image evaluation set") for h in page.headings)
    acc = result.report["variants"]["pruned_int8"]["accuracy"]
    assert f"accuracy {acc:.4f}" in text


def test_wilson_interval_closed_forms():
    from pipeline.report import _wilson

    # 0 of n and n of n have the closed form z^2 / (n + z^2) for the open end.
    assert _wilson(0.0, 10) == pytest.approx((0.0, 1.96 ** 2 / (10 + 1.96 ** 2)))
    assert _wilson(1.0, 10) == pytest.approx((10 / (10 + 1.96 ** 2), 1.0))
    lo, hi = _wilson(0.95, 359)
    assert lo < 0.95 < hi and hi - lo < 0.05


def test_report_per_class_table_and_gate_margin(tiny_model_dir):
    path = tiny_model_dir / "report.json"
    report = json.loads(path.read_text())
    report["options"] = {"validate": {"max_accuracy_drop": 0.2}}
    path.write_text(json.dumps(report))
    text = write_report(tiny_model_dir).read_text(encoding="utf-8")
    page = _Page(text)
    assert "Per-class precision, recall and F1" in page.headings
    # class 1 of [[2,0,0],[1,1,0],[0,0,2]]: precision 1, recall 1/2, F1 2/3 (bold: below 0.95)
    assert "<td>dog</td><td>2</td><td>1.000</td><td>0.500</td><td><b>0.667</b></td>" in text
    # accuracy 0.5 on 6 images = 3 correct; the gate needs ceil((0.5 - 0.2) * 6) = 2
    assert "1 image(s): the gate needs 2 of 6 correct" in text
    assert "95% interval" in text
    assert "no evaluation set in eval/" in text  # the gallery says what is missing


def test_report_shows_the_framework_screenshots(tiny_model_dir):
    from PIL import Image

    from pipeline.artifacts import ModelDir

    shots = ModelDir(tiny_model_dir).screenshots_dir
    shots.mkdir()
    Image.new("RGB", (36, 64), (200, 220, 240)).save(shots / "api36.png")
    text = write_report(tiny_model_dir).read_text()
    page = _Page(text)
    _assert_self_contained(page, text)
    assert "The app on the Android framework" in text and "API 36, after classifying a sample" in text
    assert "alt='the app at api36'" in text
