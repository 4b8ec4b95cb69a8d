"""The terminal summary of a model run: one row per variant, then one line per cross-check."""

from __future__ import annotations

_HEAD = ("variant", "bytes", "gzip", "x smaller", "accuracy", "agree", "ms 1T", "ms 2T",
         "sparsity", "quant")


def summary_table(report: dict) -> str:
    """The variants table (the deployable one marked with '*') and the cross-check lines."""
    rows = [_row(name, v, report) for name, v in report["variants"].items()]
    widths = [max(len(str(r[i])) for r in [_HEAD, *rows]) for i in range(len(_HEAD))]
    fmt = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    lines = [fmt.format(*_HEAD), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines + _cross_checks(report))


def _row(name: str, v: dict, report: dict) -> tuple:
    base_gzip = report["variants"].get("float32", {}).get("gzip_bytes")
    lat = v["latency_ms"]
    quant = "-" if "quantization_ok" not in v else ("ok" if v["quantization_ok"] else "FAIL")
    ratio = f"{base_gzip / v['gzip_bytes']:.1f}" if base_gzip else "-"
    return (
        ("*" if name == report["deployable"] else " ") + name, f"{v['bytes']:,}",
        f"{v['gzip_bytes']:,}", ratio, f"{v['accuracy']:.4f}", f"{v['agreement_with_keras']:.4f}",
        f"{lat.get('1', {}).get('mean', float('nan')):.3f}",
        f"{lat.get('2', {}).get('mean', float('nan')):.3f}",
        f"{v['sparsity'].get('overall', 0.0):.3f}", quant,
    )


def _cross_checks(report: dict) -> list[str]:
    keras = report.get("keras", {})
    extra = ", ".join(f"{k} {v['test_accuracy']:.4f}" for k, v in keras.items())
    lines = [f"Keras test accuracy: {extra}   (* = deployable model.tflite)"]
    mp = [f"{n} {v['mediapipe']['top1_agreement']:.4f} (max score diff "
          f"{v['mediapipe']['max_abs_score_diff']:.2g})"
          for n, v in report["variants"].items() if "mediapipe" in v]
    if mp:
        lines.append("MediaPipe ImageClassifier top-1 agreement: " + ", ".join(mp))
    fid = report.get("fidelity")
    if fid:
        rows = ", ".join(f"{k} {r['top1_agreement']:.4f}" for k, r in fid["rows"].items()
                         if r.get("status") == "ok")
        lines.append(f"Fidelity on the {fid['images']}-image evaluation set (top-1 agreement with "
                     f"the interpreter): {rows}")
    if "mlkit" in report:
        lines.append("ML Kit custom-model requirements: "
                     + ("all pass" if report["mlkit"]["passed"] else "FAIL"))
    return lines
