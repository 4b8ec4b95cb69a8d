"""The gates a deployable model must pass before anything is written, all checked at once.

Public entry point: `check_gates(config, report) -> list[dict]` (each gate: name, ok, detail,
with the detail filled whether it passed or not) and `raise_if_failed(config, gates)`.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.errors import ValidationError

GATE_FIX = ("fine-tune the pruned model longer (--prune-epochs; small datasets need many), "
            "prune less (--final-sparsity), train longer (--epochs), or relax the gates "
            "(--max-accuracy-drop; validate.min_agreement in pipeline.toml)")


def check_gates(config: PipelineConfig, report: dict) -> list[dict]:
    """Every gate on the deployable variant of `report` as {name, ok, detail}."""
    dep = report["variants"][config.convert.deployable]
    float_acc = report["keras"]["baseline"]["test_accuracy"]
    v = config.validate
    checks = [
        _quantization_gate(dep),
        (f"accuracy within {v.max_accuracy_drop:.3f} of float32 Keras",
         dep["accuracy"] >= float_acc - v.max_accuracy_drop - 1e-9,
         f"{dep['accuracy']:.4f} vs {float_acc:.4f}"),
        (f"top-1 agreement with Keras >= {v.min_agreement}",
         dep["agreement_with_keras"] >= v.min_agreement, f"{dep['agreement_with_keras']:.4f}"),
    ]
    mlkit = report.get("mlkit")
    if mlkit is not None:
        failed = [r["line"] for r in mlkit["requirements"] if not r["ok"]]
        checks.append(("ML Kit custom-model requirements", mlkit["passed"],
                       "; ".join(failed) or _all_pass(mlkit["requirements"], "requirements")))
    mp = dep.get("mediapipe")
    if mp is not None:
        checks.append(("MediaPipe ImageClassifier agrees with the interpreter", mp["passed"],
                       f"top-1 agreement {mp['top1_agreement']:.4f}, max score difference "
                       f"{mp['max_abs_score_diff']:.3g} (tolerance {mp['tolerance']:.3g})"))
    return [{"name": n, "ok": bool(ok), "detail": d} for n, ok, d in checks]


def _quantization_gate(dep: dict) -> tuple[str, bool, str]:
    checks = dep.get("quantization_checks", [])
    failed = [c["name"] + ": " + c["detail"] for c in checks if not c["ok"]]
    return ("quantization spec", dep.get("quantization_ok", True),
            "; ".join(failed) or _all_pass(checks, "checks"))


def _all_pass(items: list[dict], noun: str) -> str:
    """A passing gate's detail: what was checked."""
    if not items:
        return "not an int8 model: nothing to check" if noun == "checks" else f"no {noun}"
    return f"all {len(items)} {noun} pass: " + ", ".join(c["name"] for c in items)


def raise_if_failed(config: PipelineConfig, gates: list[dict], tried: list[dict] = (),
                    rejected: Path | None = None) -> None:
    """ValidationError listing every failed gate (nothing is written then), the fallback
    candidates `tried` after it (`pipeline.candidates`) and where the failed run's report is."""
    failed = [g for g in gates if not g["ok"]]
    if not failed:
        return
    lines = [f"  ✗ {g['name']}: {g['detail']}" for g in failed]
    if tried:
        lines.append("  then tried, in order:")
        lines += [f"  ✗ {t['candidate']}: accuracy {t['accuracy']:.4f} vs float "
                  f"{t['float_accuracy']:.4f}; missed {', '.join(t['failed_gates'])}" for t in tried]
    where = f"\nthe failed run's report: {rejected}\n" if rejected else "\n"
    raise ValidationError(
        f"the deployable model ({config.convert.deployable}) failed validation; nothing "
        f"was written to {Path(config.out_dir) / config.name}:\n" + "\n".join(lines) + where,
        GATE_FIX,
    )
