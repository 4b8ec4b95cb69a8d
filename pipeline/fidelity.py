"""The fidelity table: does every runtime label the evaluation set as the validated model does?

Public entry points: `fidelity_table(model_dir, ...) -> dict` (what `report.json` keeps under
`fidelity`) and `format_fidelity(table) -> str`; `update_device_row(model_dir)` refreshes the
device row after `invoke emulator-test`.

Reference: the LiteRT interpreter in Python on `model.tflite`, over the evaluation set
(`models/<name>/eval/`, `pipeline.evalset.write_eval_set`), fed as the metadata says. Each row
compares one runtime with it: top-1 agreement (and the images that disagree), the largest
absolute score difference, and the runtime's accuracy.
  keras        the Keras source the deployable model was converted from (float; quantization
               shows here, so it is a reference row, not a gate);
  interpreter  the reference itself, plus a check that eval.json (what the APK carries) holds
               exactly these results;
  mediapipe    MediaPipe's ImageClassifier (reads labels/normalization from the metadata;
               `pipeline.crossruntime`);
  jvm          the app's Java pre/post-processing on the host JVM: Java's input bytes from the
               same pixels must equal Python's, and its scores from the interpreter's raw output
               (`pipeline.jvm.run_jvm_goldens`);
  device       the device report from `invoke emulator-test`, when it exists (`tasks.py`
               refreshes this row with `update_device_row` after each device run).
`host_agreement` is true when every host runtime that ran (interpreter, mediapipe, jvm) agrees
on every image's top-1.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from pipeline.artifacts import DEVICE_REPORT, EVAL_JSON, MODEL, ModelDir
from pipeline.config import config_from_dict
from pipeline.crossruntime import mediapipe_agreement
from pipeline.errors import ModelMissingError, PipelineError, ValidationError
from pipeline.evalset import load_test_split, read_eval_set
from pipeline.fsutil import sha256_bytes
from pipeline.goldens import write_goldens
from pipeline.jvm import run_jvm_goldens
from pipeline.sources import cached_keras_scores
from pipeline.validate import run_interpreter
from pipeline.variants import VARIANTS

HOST_ROWS = ("interpreter", "mediapipe", "jvm")
_MAX_LISTED = 20


def fidelity_table(model_dir: Path, *, dataset=None, keras_scores: np.ndarray | None = None,
                   mediapipe: bool = True, jvm: bool = True, device: bool = True,
                   app_dir: Path = Path("android_app")) -> dict:
    """Compare every runtime with the Python interpreter on `<model_dir>/eval/`.

    Args:
      model_dir: `models/<name>/` with model.tflite, report.json and eval/ (write_eval_set).
      dataset: the Dataset the model was validated on (only for the Keras row; None = rebuild).
      keras_scores: (N_test, C) Keras scores of the deployable variant's source on the whole test
        split (the flow has them: `sources.test_scores(VARIANTS[deployable].source)`); None =
        load that Keras model from the stage cache, or skip the row when it is not there.
      mediapipe / jvm / device: include those rows (a row that cannot run says why, skipped).
      app_dir: the Android project, for the Java classes.
    Raises:
      ModelMissingError: no model or no evaluation set; ValidationError: the evaluation set
        was made for another model.
    """
    folder = ModelDir(model_dir)
    model = folder.model_bytes()
    doc, images = read_eval_set(folder.eval_dir)
    if doc.get("model_sha256") != sha256_bytes(model):
        raise ValidationError(
            f"{folder.eval_dir} was made for another model than {folder.model_path}",
            f"write it again: pipeline.evalset.write_eval_set({str(folder.path)!r})",
        )
    ref = _Reference(doc, run_interpreter(model, images))
    row = ref.row
    rows = dict([_guard("keras", "Keras (float source of the deployable model)",
                        lambda: _keras_row(row, model_dir, doc, dataset, keras_scores))])
    stored = np.array([e["scores"] for e in doc["images"]], dtype=np.float32)
    same = bool(np.array_equal(stored, ref.scores.astype(np.float32)))
    rows.update([row("interpreter", doc["python"].get("runtime") or "LiteRT interpreter (Python)",
                     ref.scores, note="reference" + ("" if same else
                                                     f"; {EVAL_JSON} holds other scores: rebuild the APK"),
                     eval_json_matches=same)])
    if mediapipe:
        rows.update([_guard("mediapipe", "MediaPipe ImageClassifier",
                            lambda: _mediapipe_row(model, images, ref.scores, ref.accuracy,
                                                   doc["labels"], ref.files))])
    if jvm:
        rows.update([_guard("jvm", "Java core (app pre/post-processing) on the host JVM",
                            lambda: _jvm_row(row, model_dir, ref.files, app_dir))])
    dev = device_row(folder.read_device_report(), doc) if device else None
    if dev is not None:
        rows["device"] = dev
    host = [k for k in HOST_ROWS if k in rows and rows[k]["status"] == "ok"]
    return {
        "reference": "interpreter", "model": MODEL, "images": len(ref.files),
        "eval_seed": doc.get("seed"), "rows": rows,
        "host_agreement": bool(host) and all(rows[k]["top1_agreement"] == 1.0 for k in host),
        "host_runtimes": host,
    }


class _Reference:
    """The interpreter's results on the evaluation set: what every row is compared with."""

    def __init__(self, doc: dict, interpreted):
        self.files = [e["file"] for e in doc["images"]]
        self.labels = np.array([e["label"] for e in doc["images"]], dtype=np.int64)
        self.scores = interpreted.scores
        self.top1 = self.scores.argmax(axis=1)
        self.accuracy = float(np.mean(self.top1 == self.labels))

    def row(self, name, runtime, scores=None, top1=None, note="", **extra):
        """(name, row) for a runtime's scores (or only its top-1s) on the same images."""
        top1 = np.asarray(np.asarray(scores).argmax(axis=1) if top1 is None else top1)
        diff = np.flatnonzero(top1 != self.top1)
        out = {
            "runtime": runtime, "status": "ok", "images": int(len(top1)),
            "top1_agreement": float(1.0 - len(diff) / len(top1)) if len(top1) else 1.0,
            "disagreements": [self.files[i] for i in diff[:_MAX_LISTED]],
            "max_score_diff": (float(np.max(np.abs(np.asarray(scores, np.float64) - self.scores)))
                               if scores is not None and len(top1) else None),
            "accuracy": float(np.mean(top1 == self.labels)) if len(top1) else None,
            "note": note,
        }
        out.update(extra)
        return name, out


def _guard(name: str, runtime: str, make):
    """A row, or a 'skipped' row saying why it could not run (missing tool, missing cache...)."""
    try:
        return make()
    except PipelineError as exc:
        return name, {"runtime": runtime, "status": "skipped", "note": str(exc)}


def _keras_row(row, model_dir: Path, doc: dict, dataset, keras_scores):
    idx = np.array([e["test_index"] for e in doc["images"]], dtype=np.int64)
    if keras_scores is None:
        keras_scores, source = _cached_keras_scores(model_dir, dataset)
    else:
        source = "given"
    scores = np.asarray(keras_scores)[idx]
    return row("keras", f"Keras ({source}, float)", scores,
               note="float source; differences here are the quantization's")


def _cached_keras_scores(model_dir: Path, dataset):
    """Keras scores of the deployable's source on the test split, only from the stage cache."""
    report = ModelDir(model_dir).read_report()
    config = config_from_dict({**report["options"], "out_dir": str(Path(model_dir).parent)})
    source = VARIANTS[report["deployable"]].source
    if dataset is None:
        dataset = load_test_split(model_dir)
    scores = cached_keras_scores(config, dataset, source)  # never retrains just for a table
    if scores is None:
        raise ModelMissingError(f"the Keras '{source}' model is not in the stage cache",
                                "pass keras_scores, or rebuild with invoke model")
    return scores, source


def _mediapipe_row(model: bytes, images, ref_scores, ref_accuracy: float, labels, files):
    check = mediapipe_agreement(model, images, ref_scores, labels)
    idx = check.get("disagreement_indices", [])
    problems = "; ".join(check.get("label_problems", [])[:3])
    return "mediapipe", {
        "runtime": check.get("runtime", "MediaPipe ImageClassifier"), "status": "ok",
        "images": int(check["images"]), "top1_agreement": float(check["top1_agreement"]),
        "disagreements": [files[i] for i in idx[:_MAX_LISTED]],
        "max_score_diff": float(check["max_abs_score_diff"]),
        # Same top-1 on every image means the same accuracy; otherwise MediaPipe's own top-1s
        # are not reported by the check, so no accuracy is claimed.
        "accuracy": ref_accuracy if not idx else None,
        "note": "" if check.get("passed") else "MediaPipe check failed" + (f": {problems}" if problems else ""),
        "labels_match": check.get("labels_match"), "tolerance": check.get("tolerance"),
        "within_tolerance": check.get("within_tolerance"),
    }


def _jvm_row(row, model_dir: Path, files, app_dir: Path):
    work = Path(tempfile.mkdtemp(prefix="fidelity-jvm-"))
    try:
        write_goldens(model_dir, work / "goldens", variants=(), synthetic=())
        run = run_jvm_goldens(work / "goldens", app_dir=app_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ids = [f"eval{Path(f).stem}@model" for f in files]
    missing = [i for i in ids if i not in run.results]
    if missing:
        raise ValidationError(f"the host-JVM run gave no result for {len(missing)} image(s) "
                              f"(e.g. {missing[0]}); JUnit said:\n{run.output[-1500:]}",
                              "run pytest tests/test_jvm.py to see the failure")
    res = [run.results[i] for i in ids]
    # An image whose Java input bytes differ from Python's would reach the interpreter as other
    # pixels: count it as a disagreement whatever its top-1.
    top1 = np.array([r["top1"] if r["input_equal"] else -1 for r in res])
    scores = np.array([r["scores"] for r in res], dtype=np.float64)
    bad_inputs = sum(not r["input_equal"] for r in res)
    note = f"JUnit {'passed' if run.passed else 'FAILED'} ({run.tests} tests)"
    if bad_inputs:
        note += f"; {bad_inputs} image(s) got other input bytes in Java"
    return row("jvm", "Java core (app pre/post-processing) on the host JVM", scores, top1=top1, note=note,
               input_bytes_equal=int(len(res) - bad_inputs), junit_passed=run.passed)


def device_row(rep: dict | None, doc: dict | None = None) -> dict | None:
    """The device row from a device report (`invoke emulator-test`); None when there is none."""
    if rep is None:
        return None
    dev = rep.get("device", {})
    per = rep.get("per_image", [])
    if doc is not None and dev.get("model_sha256") and dev["model_sha256"] != doc.get("model_sha256"):
        return {"runtime": "device", "status": "stale",
                "note": f"{DEVICE_REPORT} is for another model: run invoke emulator-test again"}
    diffs = [p["max_score_diff"] for p in per if p.get("max_score_diff") is not None]
    where = ", ".join(str(x) for x in (dev.get("device"), dev.get("abi"),
                                       f"API {dev['sdk']}" if dev.get("sdk") else None) if x)
    return {
        "runtime": f"{dev.get('runtime', 'app')} on {where or 'a device'}",
        "status": "ok", "images": len(per),
        "top1_agreement": rep.get("top1_agreement"),
        "disagreements": [c["file"] for c in rep.get("changed", [])[:_MAX_LISTED]],
        "max_score_diff": max(diffs) if diffs else None,
        "accuracy": dev.get("accuracy"),
        "note": f"from {DEVICE_REPORT}",
    }


def update_device_row(model_dir: Path) -> bool:
    """Put the current device row into report.json's fidelity table (if it has one)."""
    return put_row(model_dir, "device", lambda folder: device_row(folder.read_device_report(),
                                                                  folder.read_eval_doc()))


def put_row(model_dir: Path, key: str, make_row) -> bool:
    """Set row `key` of report.json's fidelity table to `make_row(ModelDir)` (None: no change)."""
    folder = ModelDir(model_dir)
    try:
        report = folder.read_report()
    except PipelineError:
        return False
    table = report.get("fidelity")
    if not isinstance(table, dict) or "rows" not in table:
        return False
    row = make_row(folder)
    if row is None:
        return False
    table["rows"][key] = row
    folder.write_report(report)
    return True


def format_fidelity(table: dict) -> str:
    """The table as text, one row per runtime, then a ✓/✗ line for the host runtimes."""
    head = ("runtime", "top-1 agreement", "max |score diff|", "accuracy", "note")
    rows = []
    for key, r in table["rows"].items():
        if r.get("status") != "ok":
            rows.append((key, "-", "-", "-", f"{r.get('status')}: {r.get('note', '')}"[:160]))
            continue
        n_diff = round((1 - r["top1_agreement"]) * r["images"]) if r.get("images") else 0
        agree = f"{r['top1_agreement']:.4f}" + (f" ({n_diff} differ)" if n_diff else "")
        diff = "-" if r.get("max_score_diff") is None else f"{r['max_score_diff']:.6f}"
        acc = "-" if r.get("accuracy") is None else f"{r['accuracy']:.4f}"
        rows.append((key, agree, diff, acc, r.get("note", "")))
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(4)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    lines = [f"Fidelity on the evaluation set ({table['images']} images; reference: the LiteRT "
             f"interpreter in Python on {table['model']})",
             fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths), "----")]
    lines += [fmt.format(*r).rstrip() for r in rows]
    ran = ", ".join(table.get("host_runtimes", [])) or "none"
    mark = "✓" if table.get("host_agreement") else "✗"
    lines.append(f"{mark} host runtimes ({ran}) agree on every image's top-1: "
                 f"{'yes' if table.get('host_agreement') else 'NO'}")
    return "\n".join(lines)
