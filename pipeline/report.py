"""The comparison report: `models/<name>/report.html`, one self-contained page.

Public entry point: `write_report(model_dir) -> Path`. It reads `report.json` and the .tflite
files beside it (`model.tflite`, `variants/*.tflite`) and renders: a table of every variant
(size, gzip, ratio to float32, accuracy and its delta, latency), a scatter of gzip size vs
accuracy, latency bars, per-layer weight sparsity, the int8 quantization checks of every full-int8
model (read from the file), the op graph of float32 vs the deployable model side by side, the
deployable model's confusion matrix on the test split, what ML Kit's checker and MediaPipe said,
the sparsity sweep (if one was run) and the stage timings.

Plots are matplotlib PNGs (Agg, no pyplot state) embedded as base64; the CSS is inline; the
page names no external resource, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import difflib
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.artifacts import ModelDir
from pipeline.errors import ModelFileError, ModelMissingError
from pipeline.evalset import read_eval_set
from pipeline.fsutil import atomic_write_text
from pipeline.quantspec import BIAS_INPUT, WEIGHT_INPUT, check_quantization, layer_sparsity, op_graph_diff
from pipeline.tflite_file import parse_model
from pipeline.validate import run_interpreter

_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac")


def write_report(model_dir: Path) -> Path:
    """Render `<model_dir>/report.html` (atomically) from its report.json and .tflite files."""
    folder = ModelDir(model_dir)
    report = _read_report(folder)
    models = _load_models(folder, report)
    sections = [
        _overview(report),
        _variant_table(report),
        _figure_section("Size vs accuracy", _scatter_png(report),
                        "Each point is one converted model; the deployable one is the star. "
                        "Up and to the left is better."),
        _figure_section("Latency", _latency_png(report),
                        "Single-image invoke() in the LiteRT interpreter on this machine: bars "
                        "are the mean, whiskers reach the 90th percentile."),
        _sparsity_section(report, models),
        _quantization_section(report, models),
        _op_graph_section(report, models),
        _confusion_section(report),
        _per_class_section(report),
        _misclassified_section(folder, report, models),
        _consumers_section(report),
        _fidelity_section(report),
        _screenshots_section(folder),
        _sweep_section(report),
        _timings_section(report),
        _environment_section(report),
    ]
    page = _page(f"{report.get('name', folder.name)}: model report",
                 "".join(s for s in sections if s))
    return atomic_write_text(folder.report_html, page)


# ---------------------------------------------------------------------------------------------
# Inputs.

@dataclass(frozen=True)
class _Model:
    """One converted model as read from disk (None when its file is missing or unreadable)."""

    path: Path
    data: bytes | None
    parsed: object | None
    problem: str | None


def _read_report(folder: ModelDir) -> dict:
    report = folder.read_report()
    if not isinstance(report.get("variants"), dict) or not report["variants"]:
        raise ModelMissingError(f"{folder.report_json} lists no converted variants",
                                f"rebuild the model: invoke model --name {folder.name} --force")
    return report


def _load_models(folder: ModelDir, report: dict) -> dict[str, _Model]:
    out = {}
    for name in report["variants"]:
        path = (folder.model_path if name == report.get("deployable")
                else folder.variant_path(name))
        try:
            data = folder.check_bytes(path, path.read_bytes())
            out[name] = _Model(path, data, parse_model(data), None)
        except OSError as exc:
            out[name] = _Model(path, None, None, f"{path.name} could not be read ({exc.strerror})")
        except ModelFileError as exc:
            out[name] = _Model(path, None, None, f"{path.name}: {exc.problem}")
    return out


def _float_reference(report: dict) -> tuple[str, float | None, int | None]:
    """(label, accuracy, gzip bytes) of the float32 baseline the ratios and deltas refer to."""
    v = report["variants"].get("float32")
    keras_acc = report.get("keras", {}).get("baseline", {}).get("test_accuracy")
    if v:
        return "float32 TFLite", v["accuracy"], v["gzip_bytes"]
    return "float32 Keras", keras_acc, None


# ---------------------------------------------------------------------------------------------
# Sections.

def _overview(report: dict) -> str:
    ds = report.get("dataset", {})
    arch = report.get("architecture", {})
    totals = ds.get("totals", {})
    dep = report.get("deployable", "")
    dv = report["variants"].get(dep, {})
    ref_label, ref_acc, ref_gzip = _float_reference(report)
    facts = [
        ("Deployable model", f"model.tflite = {dep}"),
        ("Created", report.get("created", "?")),
        ("Architecture", f"{arch.get('name', '?')}, input {arch.get('input_size', '?')} px "
                         f"square, normalization (p - {arch.get('mean')}) / {arch.get('std')}"),
        ("Dataset", f"{ds.get('source', '?')}: {len(ds.get('classes', []))} classes, "
                    f"train/val/test = {totals.get('train', '?')}/{totals.get('val', '?')}/"
                    f"{totals.get('test', '?')}"),
    ]
    if dv and ref_gzip:
        facts.append(("Deployable vs float32",
                      f"{ref_gzip / dv['gzip_bytes']:.1f}x smaller gzipped, accuracy "
                      f"{dv['accuracy']:.4f} vs {ref_acc:.4f} "
                      f"({_points(dv['accuracy'] - ref_acc)} points)"))
    facts += _accuracy_facts(report)
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    gates = report.get("gates", [])
    gate_html = ""
    if gates:
        items = "".join(_check_li(g["name"], g["ok"], g.get("detail", "")) for g in gates)
        gate_html = f"<h3>Gates on the deployable model</h3><ul class='checks'>{items}</ul>"
    return (f"<section><h2>Overview</h2><table class='facts'>{rows}</table>{gate_html}"
            f"<p class='note'>Ratios and deltas are against the {_e(ref_label)} model.</p>"
            "</section>")


def _accuracy_facts(report: dict) -> list[tuple[str, str]]:
    """The deployable model's accuracy with its 95% interval, and the accuracy gate's margin
    counted in test images (how many more it may get wrong before the gate fails)."""
    dv = report["variants"].get(report.get("deployable", ""), {})
    n = report.get("dataset", {}).get("totals", {}).get("test")
    if not dv or not n:
        return []
    lo, hi = _wilson(dv["accuracy"], n)
    correct = round(dv["accuracy"] * n)
    facts = [("Deployable accuracy", f"{dv['accuracy']:.4f} ({correct} of {n} test images), "
                                     f"95% interval {lo:.4f} – {hi:.4f}; one image is "
                                     f"{100 / n:.2f} points")]
    float_acc = report.get("keras", {}).get("baseline", {}).get("test_accuracy")
    drop = report.get("options", {}).get("validate", {}).get("max_accuracy_drop")
    if float_acc is not None and drop is not None:
        needed = int(np.ceil((float_acc - drop) * n - 1e-9))
        margin = correct - needed
        facts.append(("Accuracy gate margin",
                      f"{margin} image(s): the gate needs {needed} of {n} correct (float32 Keras "
                      f"{float_acc:.4f} minus {drop:g})" if margin >= 0 else
                      f"failed by {-margin} image(s): the gate needs {needed} of {n} correct"))
    return facts


def _variant_table(report: dict) -> str:
    """Two tables of 8 columns (size, then accuracy and latency) so both fit a 1024 px window."""
    _, ref_acc, ref_gzip = _float_reference(report)
    ref_bytes = report["variants"].get("float32", {}).get("bytes")
    n = report.get("dataset", {}).get("totals", {}).get("test")
    size_rows, acc_rows = [], []
    for name, v in report["variants"].items():
        lat = v.get("latency_ms", {})
        quant = "-" if "quantization_ok" not in v else _mark(v["quantization_ok"])
        title = f"<b>{_e(name)}</b>" + (" <span class='tag'>deployable</span>"
                                        if name == report.get("deployable") else "")
        size = [
            title + (f"<div class='desc'>{_e(v['description'])}</div>"
                     if v.get("description") else ""),
            _e(v.get("recipe", "")),
            f"{v['bytes']:,}", f"{v['gzip_bytes']:,}",
            f"{ref_gzip / v['gzip_bytes']:.1f}" if ref_gzip else "-",
            f"{ref_bytes / v['bytes']:.1f}" if ref_bytes else "-",
            f"{v.get('sparsity', {}).get('overall', 0.0):.3f}", quant,
        ]
        acc = [
            title, f"{v['accuracy']:.4f}", _wilson_text(v["accuracy"], n),
            _points(v["accuracy"] - ref_acc) if ref_acc is not None else "-",
            f"{v.get('agreement_with_keras', float('nan')):.4f}",
            f"{_ms(lat, '1', 'mean')} / {_ms(lat, '1', 'p90')}",
            f"{_ms(lat, '2', 'mean')} / {_ms(lat, '2', 'p90')}",
        ]
        size_rows.append("<tr data-variant='%s'>%s</tr>" % (
            _e(name), "".join(f"<td>{c}</td>" for c in size)))
        acc_rows.append("<tr>%s</tr>" % "".join(f"<td>{c}</td>" for c in acc))
    size_head = ("variant", "recipe", "bytes", "gzip bytes", "x smaller (gzip)",
                 "x smaller (bytes)", "weight sparsity", "int8 spec")
    acc_head = ("variant", "accuracy", "95% interval", "Δ vs float32 (points)", "agreement",
                "ms 1T mean / p90", "ms 2T mean / p90")
    return (f"<section><h2>Variants</h2><h3>Size</h3>{_grid(size_head, size_rows, 'variants')}"
            f"<h3>Accuracy and latency</h3>{_grid(acc_head, acc_rows, 'accuracy')}"
            "<p class='note'>Accuracy on the test split; the 95% interval is Wilson's score "
            f"interval for {n if n else 'N'} images. Latency: single-image invoke() in the "
            "LiteRT interpreter with 1 and 2 threads (1T/2T). Agreement: share of test images "
            "where the TFLite model's top-1 equals its Keras source's. gzip -9 of the whole "
            "file (metadata included).</p></section>")


def _grid(head, rows: list[str], table_id: str = "") -> str:
    thead = "".join(f"<th>{_e(h)}</th>" for h in head)
    ident = f" id='{table_id}'" if table_id else ""
    return (f"<table class='grid'{ident}><thead><tr>{thead}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _wilson(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval of a proportion measured on n trials (95% for z = 1.96)."""
    if not n:
        return (0.0, 1.0)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _wilson_text(accuracy: float, n: int | None) -> str:
    if not n:
        return "-"
    lo, hi = _wilson(accuracy, n)
    return f"<span class='nw'>{lo:.4f}–{hi:.4f}</span>"


def _screenshots_section(folder: ModelDir) -> str:
    """The app's screen on the Android framework (`invoke robolectric-test`), when recorded."""
    shots = sorted(folder.screenshots_dir.glob("api*.png")) if folder.screenshots_dir.is_dir() else []
    if not shots:
        return ""
    figures = "".join(f"<figure class='screen'>{_img(p.read_bytes(), f'the app at {p.stem}')}"
                      f"<figcaption>API {_e(p.stem[3:])}, after classifying a sample</figcaption></figure>"
                      for p in shots)
    return (f"<section><h2>The app on the Android framework</h2>{figures}<p class='note'>Rendered "
            "by Robolectric's native graphics on the host JVM (invoke robolectric-test), with the "
            "APK's own resources and this model.</p></section>")


def _figure_section(title: str, png: bytes | None, caption: str) -> str:
    if png is None:
        return ""
    return (f"<section><h2>{_e(title)}</h2><figure>{_img(png, title)}"
            f"<figcaption>{_e(caption)}</figcaption></figure></section>")


def _sparsity_section(report: dict, models: dict[str, _Model]) -> str:
    layers = {n: layer_sparsity(m.parsed) for n, m in models.items() if m.parsed is not None}
    layers = {n: v for n, v in layers.items() if v}
    if not layers:
        return ""
    png = _sparsity_png(layers)
    missing = [f"{n}: {m.problem}" for n, m in models.items() if m.problem]
    note = ("<p class='note'>Not shown: " + _e("; ".join(missing)) + "</p>") if missing else ""
    return (f"<section><h2>Per-layer weight sparsity</h2><figure>{_img(png, 'sparsity')}"
            "<figcaption>Share of zero weights in each CONV_2D / DEPTHWISE_CONV_2D / "
            "FULLY_CONNECTED weight tensor, read from the .tflite files (a quantized weight is "
            "zero when it equals its zero point).</figcaption></figure>" + note + "</section>")


def _quantization_section(report: dict, models: dict[str, _Model]) -> str:
    blocks = []
    for name, v in report["variants"].items():
        if v.get("recipe") != "int8" and "quantization_checks" not in v:
            continue
        model = models.get(name)
        if model is None or model.parsed is None:
            problem = model.problem if model else "no file"
            blocks.append(f"<h3>{_e(name)}</h3><p class='bad'>{_e(problem)}</p>")
            continue
        io_dtype = v.get("io", {}).get("input", {}).get("dtype", "uint8")
        checks = check_quantization(model.parsed, io_dtype=io_dtype)
        items = "".join(_check_li(c.name, c.ok, c.detail) for c in checks)
        facts = _quant_facts(model.parsed)
        mark = _mark(all(c.ok for c in checks))
        blocks.append(f"<h3>{_e(name)} {mark}</h3>"
                      f"<ul class='checks'>{items}</ul>{facts}")
    if not blocks:
        return ""
    return ("<section><h2>Quantization checks (TFLite int8 spec)</h2>"
            "<p class='note'>Checked on the file: weights int8 in [-127, 127] with zero point 0 "
            "(per-axis or per-tensor), activations int8 per-tensor with zero point in "
            "[-128, 127], biases int32 with zero point 0 and scale = input x weight scale, "
            "and the input/output dtype, scale and zero point.</p>"
            + "".join(blocks) + "</section>")


def _quant_facts(parsed) -> str:
    """Per weight op: weight dtype, value range, quantization granularity, bias dtype."""
    rows = []
    for op in parsed.ops:
        w = parsed.op_input(op, WEIGHT_INPUT.get(op.opcode))
        if w is None or not w.is_constant:
            continue
        bias = parsed.op_input(op, BIAS_INPUT.get(op.opcode))
        data = np.asarray(w.data)
        gran = ("per-axis (%d scales, dim %d)" % (len(w.scales), w.quantized_dimension)
                if len(w.scales) > 1 else "per-tensor" if w.scales else "-")
        zps = sorted(set(w.zero_points)) if w.zero_points else []
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in (
            f"{op.index}", op.opcode, "x".join(map(str, w.shape)), w.dtype,
            f"[{int(data.min())}, {int(data.max())}]" if data.size and w.dtype == "int8" else "-",
            ", ".join(map(str, zps[:3])) or "-", gran,
            bias.dtype if bias is not None else "-",
        )) + "</tr>")
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("op", "type", "weight shape", "dtype", "values",
                                               "zero points", "granularity", "bias dtype"))
    return f"<table class='grid small'><tr>{head}</tr>{''.join(rows)}</table>"


def _op_graph_section(report: dict, models: dict[str, _Model]) -> str:
    dep = report.get("deployable")
    a, b = models.get("float32"), models.get(dep)
    if not a or not b or a.parsed is None or b.parsed is None or dep == "float32":
        return ""
    diff = op_graph_diff(a.parsed, b.parsed)
    rows = []
    left, right = [_op_label(o) for o in a.parsed.ops], [_op_label(o) for o in b.parsed.ops]
    matcher = difflib.SequenceMatcher(a=[o.opcode for o in a.parsed.ops],
                                      b=[o.opcode for o in b.parsed.ops], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            la = left[i1 + k] if i1 + k < i2 else ""
            rb = right[j1 + k] if j1 + k < j2 else ""
            cls = {"equal": "same", "insert": "added", "delete": "removed"}.get(tag, "changed")
            if tag == "replace":
                cls = "changed" if la and rb else ("removed" if la else "added")
            rows.append(f"<tr class='{cls}'><td>{_e(la)}</td><td>{_e(rb)}</td></tr>")
    summary = []
    for key, label in (("added", "added"), ("removed", "removed")):
        if diff.get(key):
            summary.append(f"{label}: " + ", ".join(f"{k} x{n}" for k, n in diff[key].items()))
    if diff.get("changed"):
        summary.append("count changed: " + ", ".join(
            f"{k} {x}→{y}" for k, (x, y) in diff["changed"].items()))
    fused = diff.get("fused_activations", {})
    summary.append("fused activations: float32 " + (_counts(fused.get("a")) or "none")
                   + "; " + _e(dep) + " " + (_counts(fused.get("b")) or "none"))
    items = "".join(f"<li>{_e(s)}</li>" for s in summary)
    return (f"<section><h2>Op graph: float32 vs {_e(dep)}</h2><ul>{items}</ul>"
            f"<table class='grid ops'><tr><th>float32 ({len(left)} ops)</th>"
            f"<th>{_e(dep)} ({len(right)} ops)</th></tr>{''.join(rows)}</table>"
            "<p class='note'>Aligned by op type; green = only in the int8 model (e.g. the "
            "QUANTIZE that turns the uint8 input into int8), red = only in float32. A fused "
            "activation is shown in brackets after its op.</p></section>")


def _confusion_section(report: dict) -> str:
    dep = report.get("deployable")
    classes = report.get("dataset", {}).get("classes", [])
    matrix = report["variants"].get(dep, {}).get("confusion_matrix")
    source = "recorded by validation in the interpreter"
    if matrix is None:
        return (f"<section><h2>Confusion matrix ({_e(dep)})</h2><p class='note'>not recorded "
                "in this report (made by an older version): rebuild the model with "
                "invoke model --force</p></section>")
    m = np.asarray(matrix, dtype=np.int64)
    recall = np.diag(m) / np.maximum(m.sum(axis=1), 1)
    worst = [i for i in np.argsort(recall, kind="stable")[:3] if recall[i] < 1.0]
    worst_text = ", ".join(f"{classes[i] if i < len(classes) else i}: {recall[i]:.3f}"
                           for i in worst) or "none, every class is perfect"
    png = _confusion_png(m, classes)
    return (f"<section><h2>Confusion matrix of the deployable model ({_e(dep)})</h2>"
            f"<figure>{_img(png, 'confusion matrix')}<figcaption>Test split, "
            f"{int(m.sum())} images, accuracy {np.trace(m) / max(m.sum(), 1):.4f} "
            f"({_e(source)}). Rows: true class; columns: predicted. Lowest recall: "
            f"{_e(worst_text)}.</figcaption></figure></section>")


def _per_class_section(report: dict) -> str:
    """Precision, recall and F1 per class from the confusion matrices in report.json."""
    classes = report.get("dataset", {}).get("classes", [])
    dep = report.get("deployable")
    names = [n for n in dict.fromkeys([dep, "float32"])
             if report["variants"].get(n, {}).get("confusion_matrix") is not None]
    if not names:
        return ""
    stats = {n: _prf(np.asarray(report["variants"][n]["confusion_matrix"], np.int64))
             for n in names}
    support = np.asarray(report["variants"][names[0]]["confusion_matrix"]).sum(axis=1)
    rows = []
    for i, count in enumerate(support):
        label = classes[i] if i < len(classes) else str(i)
        cells = [_e(label), str(int(count))]
        for n in names:
            p, r, f = (stats[n][k][i] for k in range(3))
            cells += [f"{p:.3f}", f"{r:.3f}", f"<b>{f:.3f}</b>" if f < 0.95 else f"{f:.3f}"]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["class", "test images"] + [f"{k} ({n})" for n in names
                                       for k in ("precision", "recall", "F1")]
    return (f"<section><h2>Per-class precision, recall and F1</h2>"
            f"{_grid(head, rows, 'per-class')}<p class='note'>From the confusion matrices of "
            "the test split. Precision: of the images predicted as the class, the share that "
            "are; recall: of the images of the class, the share found. F1 below 0.95 in "
            "bold.</p></section>")


def _prf(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(m).astype(np.float64)
    precision = tp / np.maximum(m.sum(axis=0), 1)
    recall = tp / np.maximum(m.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0,
                  2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return precision, recall, f1


_GALLERY_MAX = 48  # thumbnails per model


def _misclassified_section(folder: ModelDir, report: dict, models: dict[str, _Model]) -> str:
    """Thumbnails of the evaluation images a model gets wrong: the deployable model (from the
    evaluation set's recorded results) and float32 (its variant file run on the same images)."""
    try:
        doc, pixels = read_eval_set(folder.eval_dir)
    except (ModelMissingError, OSError, KeyError, ValueError):
        return ("<section><h2>Misclassified evaluation images</h2><p class='note'>no "
                "evaluation set in eval/ (invoke model writes it)</p></section>")
    labels = list(doc.get("labels") or report.get("dataset", {}).get("classes", []))
    entries = doc["images"]
    truth = np.array([e["label"] for e in entries], np.int64)
    dep = doc.get("variant") or report.get("deployable", "")
    runs = [(f"deployable ({dep})", np.array([e["scores"] for e in entries], np.float64))]
    f32 = models.get("float32")
    if f32 is not None and f32.data is not None and dep != "float32" and len(entries):
        runs.append(("float32", run_interpreter(f32.data, pixels).scores))
    parts = [_gallery(title, scores, truth, labels, entries, folder.eval_dir)
             for title, scores in runs]
    return (f"<section><h2>Misclassified evaluation images</h2>{''.join(parts)}"
            f"<p class='note'>The {len(entries)}-image evaluation set (eval/, a stratified "
            "sample of the test split that also ships in the APK). Each thumbnail: true label "
            "→ predicted label and its score.</p></section>")


def _gallery(title, scores, truth, labels, entries, eval_dir: Path) -> str:
    predicted = scores.argmax(axis=1) if len(scores) else np.zeros(0, np.int64)
    wrong = [i for i in range(len(truth)) if predicted[i] != truth[i]]
    items = []
    for i in wrong[:_GALLERY_MAX]:
        name = lambda k: labels[k] if k < len(labels) else str(k)  # noqa: E731
        caption = (f"{_e(name(truth[i]))} → {_e(name(predicted[i]))} "
                   f"({scores[i, predicted[i]]:.2f})")
        png = (eval_dir / entries[i]["file"]).read_bytes()
        items.append(f"<figure class='thumb'>{_img(png, f'eval image {i}')}"
                     f"<figcaption>{caption}</figcaption></figure>")
    more = (f" (first {_GALLERY_MAX} shown)" if len(wrong) > _GALLERY_MAX else "")
    body = f"<div class='gallery'>{''.join(items)}</div>" if items else ""
    return (f"<h3>{_e(title)}: {len(wrong)} of {len(truth)} wrong{more}</h3>{body}")


def _consumers_section(report: dict) -> str:
    """ML Kit's requirements on the deployable model, MediaPipe's agreement with our interpreter."""
    parts = []
    mlkit = report.get("mlkit")
    if mlkit:
        items = "".join(_check_li(r["name"], r["ok"], r.get("detail") or r.get("fix") or "")
                        for r in mlkit.get("requirements", []))
        parts.append(f"<h3>ML Kit custom-model requirements {_mark(mlkit.get('passed'))}</h3>"
                     f"<ul class='checks'>{items}</ul>")
    rows = []
    for name, v in report["variants"].items():
        mp = v.get("mediapipe")
        if not mp:
            continue
        detail = (f"top-1 agreement {mp['top1_agreement']:.4f} on {mp['images']} images, max "
                  f"score difference {mp['max_abs_score_diff']:.3g}"
                  if "top1_agreement" in mp else mp.get("error", "not run"))
        rows.append(_check_li(f"{name} ({mp.get('runtime', 'MediaPipe')})", mp.get("passed"), detail))
    if rows:
        parts.append(f"<h3>MediaPipe ImageClassifier vs our interpreter</h3>"
                     f"<ul class='checks'>{''.join(rows)}</ul>")
    if not parts:
        return ""
    return "<section><h2>Consumers: ML Kit and MediaPipe</h2>" + "".join(parts) + "</section>"


def _fidelity_section(report: dict) -> str:
    """Top-1 agreement and max score difference of every runtime vs the Python interpreter."""
    fid = report.get("fidelity")
    if not fid or not fid.get("rows"):
        return ""
    rows = []
    for key, r in fid["rows"].items():
        ok = r.get("status") == "ok"
        diff = r.get("max_score_diff")
        cells = (_e(key), _e(r.get("runtime", "")),
                 f"{r['top1_agreement']:.4f}" if ok else "-",
                 "-" if diff is None or not ok else f"{diff:.3g}",
                 f"{r['accuracy']:.4f}" if ok and r.get("accuracy") is not None else "-",
                 _e(r.get("note") or r.get("reason") or r.get("status", "")))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("row", "runtime", "top-1 agreement",
                                             "max score diff", "accuracy", "note"))
    return (f"<section><h2>Fidelity on the {fid.get('images')}-image evaluation set "
            f"{_mark(fid.get('host_agreement'))}</h2><table class='grid'><tr>{head}</tr>"
            f"{''.join(rows)}</table><p class='note'>Reference: the LiteRT interpreter in Python. "
            "The same images ship in the APK (assets/eval/); `invoke emulator-test` adds the "
            "device row.</p></section>")


def _sweep_section(report: dict) -> str:
    sweep = report.get("sweep")
    if not sweep or not sweep.get("points"):
        return ""
    rows = []
    for p in sweep["points"]:
        chosen = p["final_sparsity"] == sweep.get("chosen")
        rows.append(
            f"<tr class='{'chosen' if chosen else ''}'>" + "".join(f"<td>{c}</td>" for c in (
                f"{p['final_sparsity']:.2f}"
                + (" <span class='tag'>chosen</span>" if chosen else ""),
                f"{p.get('sparsity') or 0:.3f}", f"{p['gzip_bytes']:,}", f"{p['accuracy']:.4f}",
                _points(-p["accuracy_drop"]),
                _mark(p["within_budget"]),
                _e(p.get("model_dir", "")),
            )) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("target", "measured sparsity", "gzip bytes",
                                               "accuracy", "Δ vs float32 Keras (points)",
                                               "within budget", "folder"))
    png = _sweep_png(sweep)
    chosen = "" if sweep.get("chosen") is None else f" (target {sweep['chosen']:.2f})"
    return (f"<section><h2>Sparsity sweep ({_e(sweep.get('variant', ''))})</h2>"
            f"<p>Budget: at most {sweep['max_accuracy_drop'] * 100:.2f} accuracy points below "
            f"float32 Keras; the smallest gzipped model within it was chosen{chosen}.</p>"
            f"<table class='grid'><tr>{head}</tr>{''.join(rows)}</table>"
            f"<figure>{_img(png, 'sweep')}</figure></section>")


def _timings_section(report: dict) -> str:
    timings = report.get("timings_s")
    if not timings:
        return ""
    total = sum(timings.values())
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{v:.2f}</td>"
                   f"<td>{100 * v / max(total, 1e-9):.0f}%</td></tr>" for k, v in timings.items())
    return (f"<section><h2>Stage wall times</h2><table class='grid small'><tr><th>stage</th>"
            f"<th>seconds</th><th>share</th></tr>{rows}<tr><th>total</th><th>{total:.2f}</th>"
            "<th></th></tr></table><p class='note'>Of the run that built these files; a stage "
            "reused from the cache takes only its load time.</p></section>")


def _environment_section(report: dict) -> str:
    env = report.get("environment")
    if not env:
        return ""
    text = ", ".join(f"{k} {v}" for k, v in env.items() if v)
    return f"<section><h2>Environment</h2><p class='note'>{_e(text)}</p></section>"


# ---------------------------------------------------------------------------------------------
# Plots (matplotlib Figure + Agg canvas: no pyplot, no global backend switch).

def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _scatter_png(report: dict) -> bytes:
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    dep = report.get("deployable")
    for i, (name, v) in enumerate(report["variants"].items()):
        kb = v["gzip_bytes"] / 1024
        ax.scatter([kb], [v["accuracy"]], s=160 if name == dep else 50,
                   marker="*" if name == dep else "o", color=_PALETTE[i % len(_PALETTE)],
                   zorder=3, label=name)
        ax.annotate(name, (kb, v["accuracy"]), textcoords="offset points",
                    xytext=(6, 4 if i % 2 == 0 else -11), fontsize=8)  # alternate: fewer overlaps
    ax.set_xscale("log")
    ax.set_xlabel("gzip -9 size (KiB, log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(True, which="both", alpha=0.3)
    return _png(fig)


def _latency_png(report: dict) -> bytes | None:
    names = [n for n, v in report["variants"].items() if v.get("latency_ms")]
    if not names:
        return None
    threads = sorted({t for n in names for t in report["variants"][n]["latency_ms"]}, key=int)
    fig = _figure(max(6, 1.1 * len(names) + 2), 4)
    ax = fig.add_subplot()
    width = 0.8 / len(threads)
    x = np.arange(len(names))
    for k, t in enumerate(threads):
        mean = [report["variants"][n]["latency_ms"].get(t, {}).get("mean", np.nan) for n in names]
        p90 = [report["variants"][n]["latency_ms"].get(t, {}).get("p90", np.nan) for n in names]
        err = np.array([np.zeros(len(names)), np.maximum(np.array(p90) - np.array(mean), 0)])
        ax.bar(x + (k - (len(threads) - 1) / 2) * width, mean, width, yerr=err, capsize=3,
               label=f"{t} thread{'s' if t != '1' else ''}", color=_PALETTE[k % len(_PALETTE)])
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("ms per image")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def _sparsity_png(layers: dict[str, list[tuple[str, float]]]) -> bytes:
    labels = max(layers.values(), key=len)
    labels = [lab for lab, _ in labels]
    names = list(layers)
    fig = _figure(min(13, max(7, 0.9 * len(labels) * max(1, len(names) / 3) + 2)), 4.2)
    ax = fig.add_subplot()
    width = 0.85 / len(names)
    x = np.arange(len(labels))
    for k, name in enumerate(names):
        values = [v for _, v in layers[name]] + [np.nan] * (len(labels) - len(layers[name]))
        ax.bar(x + (k - (len(names) - 1) / 2) * width, values, width, label=name,
               color=_PALETTE[k % len(_PALETTE)])
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of zero weights")
    ax.legend(fontsize=7, ncol=min(len(names), 5), loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def _confusion_png(m: np.ndarray, classes) -> bytes:
    n = m.shape[0]
    size = min(max(4.5, 0.45 * n + 2), 14)
    fig = _figure(size, size * 0.85)
    ax = fig.add_subplot()
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    names = [str(c) for c in classes] if len(classes) == n else [str(i) for i in range(n)]
    if n <= 40:
        ax.set_xticks(range(n), names, rotation=90 if n > 12 else 0, fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
        if n <= 20:
            for i in range(n):
                for j in range(n):
                    if m[i, j]:
                        ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _png(fig)


def _sweep_png(sweep: dict) -> bytes:
    pts = sweep["points"]
    fig = _figure(7, 3.8)
    ax = fig.add_subplot()
    t = [p["final_sparsity"] for p in pts]
    ax.plot(t, [p["gzip_bytes"] / 1024 for p in pts], "o-", color=_PALETTE[0], label="gzip KiB")
    ax.set_xlabel("target sparsity")
    ax.set_ylabel("gzip KiB", color=_PALETTE[0])
    ax2 = ax.twinx()
    acc = [p["accuracy"] for p in pts]
    ax2.plot(t, acc, "s--", color=_PALETTE[1], label="accuracy")
    if pts:
        floor = pts[0]["baseline_accuracy"] - sweep["max_accuracy_drop"]
        ax2.axhline(floor, color=_PALETTE[3], lw=1, ls=":", label="accuracy budget")
        lo, hi = min(acc + [floor]), max(acc + [floor])
        ax2.set_ylim(lo - 0.1 * (hi - lo or 0.01), hi + 0.1 * (hi - lo or 0.01))
    ax2.set_ylabel("accuracy", color=_PALETTE[1])
    ax2.legend(loc="lower left", fontsize=8)
    ax.grid(True, alpha=0.3)
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# HTML helpers.

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #4e79a7;padding-bottom:.2em;
margin-top:2em}section{margin-bottom:1.5em}
table{border-collapse:collapse;margin:.5em 0}table.grid td,table.grid th{border:1px solid #ccc;
padding:.25em .5em;text-align:right;font-variant-numeric:tabular-nums}
table.grid td:first-child,table.grid th:first-child{text-align:left}
table.grid thead th,table.grid tr:first-child th{background:#eef3f8}
table.small{font-size:.85em}table.facts th{text-align:left;padding-right:1em;vertical-align:top}
.desc{font-size:.8em;color:#666;font-weight:normal}.tag{background:#4e79a7;color:#fff;
border-radius:3px;padding:0 .35em;font-size:.75em}
.ok{color:#2a7d2a;font-weight:bold}.bad{color:#c0392b;font-weight:bold}
ul.checks{list-style:none;padding-left:0}ul.checks li{margin:.15em 0}
.note{color:#555;font-size:.9em}figure{margin:.5em 0}img{max-width:100%}figure.screen{display:inline-block;margin-right:1em}
figure.screen img{max-width:320px}
table.ops td{text-align:left;font-family:ui-monospace,Menlo,monospace;font-size:.85em}
tr.added td{background:#e3f4e1}tr.removed td{background:#fbe3e1}tr.changed td{background:#fff4d6}
tr.chosen td{background:#e3f4e1}
.nw{white-space:nowrap}.gallery{display:flex;flex-wrap:wrap;gap:.5em}figure.thumb{margin:0;width:88px;
font-size:.75em;text-align:center}figure.thumb img{width:64px;height:64px;
image-rendering:pixelated;border:1px solid #ccc}
"""


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1>{body}</body></html>\n")


def _img(png: bytes, alt: str) -> str:
    return (f"<img alt='{_e(alt)}' src='data:image/png;base64,"
            f"{base64.b64encode(png).decode('ascii')}'>")


def _mark(ok: bool | None) -> str:
    if ok is None:
        return "<span class='note'>·</span>"
    return "<span class='ok'>✓</span>" if ok else "<span class='bad'>✗</span>"


def _check_li(name: str, ok: bool, detail: str) -> str:
    return f"<li>{_mark(ok)} {_e(name)}" + (f": {_e(detail)}</li>" if detail else "</li>")


def _op_label(op) -> str:
    return op.opcode + (f" [{op.fused_activation}]" if op.fused_activation else "")


def _counts(d) -> str:
    return ", ".join(f"{k} x{n}" for k, n in (d or {}).items())


def _ms(lat: dict, threads: str, key: str) -> str:
    value = lat.get(threads, {}).get(key)
    return "-" if value is None else f"{value:.3f}"


def _points(delta: float) -> str:
    return f"{delta * 100:+.2f}"


def _e(value) -> str:
    return html.escape(str(value), quote=True)
