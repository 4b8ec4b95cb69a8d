"""Golden vectors: what Python feeds the interpreter and derives from it, for the app's Java.

`write_goldens(model_dir, dest)` writes, for a set of RGB images (the eval PNGs, and synthetic
images of other sizes so the Java resize is exercised), the exact input-tensor bytes Python
feeds the interpreter (`imageops.resize_rgb`, then `validate.input_tensor`), the interpreter's
raw output bytes and the ranked labels and scores Python derives from them; for the deployable
model and the float32 variant (the float normalization path). The host-JVM tests of the app's
pure Java classes (`android_app/app/src/test/`, run by `pipeline.jvm.run_jvm_goldens`) compare
Java's results with these.

Layout of a golden folder (plain text and raw bytes, so the Java side needs no JSON library):
  models.tsv   one line per model: key, file, labels file, input type, height, width, input
               scale bits, input zero point, output type, output scale bits, output zero point,
               classes, mean bits (3, comma-separated), std bits (3), as Python reads them
  cases.tsv    one line per (image, model): id, model key, source (eval|synthetic), width,
               height, true label (-1 if none), rgb file, input file, output file, ranking
               (class indices, best first, ties by index), scores (float32 bits, class order)
  models/      the .tflite files and their labels (one per line, as Python's reader gives them)
  data/        <image>.rgb (packed RGB, row-major; <image>.png beside it for eval images, the
               file the APK ships), <id>.in (input tensor), <id>.out (output tensor)
Floats are written as the hex bits of their float32 value so both sides compare exactly.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.artifacts import EVAL_JSON, ModelDir
from pipeline.errors import DataError
from pipeline.evalset import read_eval_set
from pipeline.fsutil import staged_dir
from pipeline.imageops import resize_rgb
from pipeline.metadata import read_metadata
from pipeline.validate import dequantize, input_tensor, invoke_each, io_details

# Synthetic golden images (height, width): smaller than, equal to and larger than the input,
# including >= 2x in one or both axes (box pre-shrink) and odd sizes (centre crop, rounding).
SYNTHETIC_SIZES = ((1, 1), (5, 7), (31, 33), (47, 20), (64, 64), (96, 17), (12, 70), (123, 250), (300, 200))
GOLDEN_FORMAT = 1


@dataclass(frozen=True)
class _Golden:
    key: str
    model: bytes
    meta: object
    inp: dict
    out: dict


def _bits(values) -> str:
    return ",".join(f"{v:08x}" for v in np.asarray(values, dtype="<f4").view("<u4"))


def _three(values) -> list[float]:
    values = list(values)
    return values * 3 if len(values) == 1 else values


def ranking(scores: np.ndarray) -> np.ndarray:
    """Class indices best first; equal scores in class-index order (as OutputDecoder.top)."""
    scores = np.asarray(scores, dtype=np.float32)
    return np.lexsort((np.arange(len(scores)), -scores))


def synthetic_images(sizes=SYNTHETIC_SIZES, seed: int = 0) -> list[np.ndarray]:
    """Seeded RGB images of the given (height, width): noise, a gradient and flat areas."""
    rng = np.random.default_rng(seed)
    out = []
    for k, (h, w) in enumerate(sizes):
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        if k % 2:  # smooth content too: gradients exercise the fixed-point weights
            yy, xx = np.mgrid[0:h, 0:w]
            img[..., 0] = (255 * xx // max(w - 1, 1)).astype(np.uint8)
            img[..., 1] = (255 * yy // max(h - 1, 1)).astype(np.uint8)
            img[: h // 3, : w // 3] = (0, 255, 17)
        out.append(img)
    return out


def write_goldens(model_dir: Path, dest: Path, *, variants=("float32",), eval_dir: Path | None = None,
                  synthetic=SYNTHETIC_SIZES, seed: int = 0) -> dict:
    """Write golden vectors for `<model_dir>/model.tflite` (key "model") and `variants/<v>.tflite`.

    Images: the eval set (`eval_dir`, default `<model_dir>/eval/` when it exists) and synthetic
    images of the `synthetic` sizes. Returns a summary (models, case counts). `dest` is replaced.
    """
    folder = ModelDir(model_dir)
    models = [("model", folder.model_bytes())] + [(v, folder.variant_bytes(v)) for v in variants]
    goldens = [_Golden(key, data, read_metadata(data), *io_details(data)) for key, data in models]
    images, pngs = _golden_images(folder, eval_dir, synthetic, seed)
    model_rows, case_rows = [], []
    with staged_dir(Path(dest)) as stage:
        (stage / "models").mkdir()
        (stage / "data").mkdir()
        for name, _, _, px in images:
            (stage / "data" / f"{name}.rgb").write_bytes(px.tobytes())
            if name in pngs:  # the asset as shipped, for a decoder check on the Java side
                shutil.copyfile(pngs[name], stage / "data" / f"{name}.png")
        for g in goldens:
            model_rows.append(_model_row(stage, g))
            case_rows += _case_rows(stage, g, images)
        _write_tsv(stage / "models.tsv", model_rows)
        _write_tsv(stage / "cases.tsv", case_rows)
        (stage / "README.txt").write_text(
            f"Golden vectors (format {GOLDEN_FORMAT}) written by pipeline/goldens.py from "
            f"{folder.path}.\nSee the module docstring for the layout.\n", encoding="utf-8")
    return {"dest": str(dest), "models": [g.key for g in goldens], "images": len(images),
            "cases": len(case_rows)}


def _golden_images(folder: ModelDir, eval_dir: Path | None, synthetic, seed: int):
    """[(name, source, true label, rgb)] and {name: the eval PNG it came from}."""
    eval_dir = Path(eval_dir) if eval_dir is not None else folder.eval_dir
    images: list[tuple[str, str, int, np.ndarray]] = []
    pngs: dict[str, Path] = {}
    if (eval_dir / EVAL_JSON).is_file():
        doc, pixels = read_eval_set(eval_dir)
        for entry, px in zip(doc["images"], pixels):
            name = f"eval{Path(entry['file']).stem}"
            images.append((name, "eval", entry["label"], px))
            pngs[name] = eval_dir / entry["file"]
    for k, px in enumerate(synthetic_images(synthetic, seed)):
        images.append((f"syn{k}_{px.shape[1]}x{px.shape[0]}", "synthetic", -1, px))
    if not images:
        raise DataError("no images for golden vectors (no eval set and no synthetic sizes)",
                        f"write the eval set first: pipeline.evalset.write_eval_set({str(folder.path)!r})")
    return images, pngs


def _model_row(stage: Path, g: _Golden) -> list:
    (stage / "models" / f"{g.key}.tflite").write_bytes(g.model)
    (stage / "models" / f"{g.key}.labels.txt").write_text(
        "".join(f"{label}\n" for label in g.meta.labels), encoding="utf-8")
    h, w = int(g.inp["shape"][1]), int(g.inp["shape"][2])
    in_scale, in_zero = g.inp["quantization"]
    out_scale, out_zero = g.out["quantization"]
    return [
        g.key, f"models/{g.key}.tflite", f"models/{g.key}.labels.txt",
        np.dtype(g.inp["dtype"]).name.upper(), h, w, _bits([in_scale]), int(in_zero),
        np.dtype(g.out["dtype"]).name.upper(), _bits([out_scale]), int(out_zero),
        len(g.meta.labels), _bits(_three(g.meta.mean)), _bits(_three(g.meta.std)),
    ]


def _case_rows(stage: Path, g: _Golden, images) -> list[list]:
    h, w = int(g.inp["shape"][1]), int(g.inp["shape"][2])
    resized = np.stack([resize_rgb(px, h, w) for _, _, _, px in images])
    tensors = input_tensor(resized, g.inp, g.meta.mean, g.meta.std)
    raw = invoke_each(g.model, tensors)
    scores = dequantize(raw, g.out)
    rows = []
    for i, (name, source, label, px) in enumerate(images):
        case = f"{name}@{g.key}"
        (stage / "data" / f"{case}.in").write_bytes(le_bytes(tensors[i]))
        (stage / "data" / f"{case}.out").write_bytes(le_bytes(raw[i]))
        rows.append([
            case, g.key, source, px.shape[1], px.shape[0], label, f"data/{name}.rgb",
            f"data/{case}.in", f"data/{case}.out",
            ",".join(str(int(c)) for c in ranking(scores[i])), _bits(scores[i]),
        ])
    return rows


def le_bytes(array: np.ndarray) -> bytes:
    """Tensor values as the interpreter holds them on a little-endian device."""
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def _write_tsv(path: Path, rows) -> None:
    lines = []
    for row in rows:
        cells = [str(c) for c in row]
        if any("\t" in c or "\n" in c for c in cells):
            raise ValueError(f"a golden-vector field contains a tab or line break: {cells}")
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_cases(goldens_dir: Path) -> list[dict]:
    """cases.tsv as dicts (id, model, source, width, height, label, ranking, scores)."""
    cases = []
    for line in (Path(goldens_dir) / "cases.tsv").read_text(encoding="utf-8").splitlines():
        c = line.split("\t")
        cases.append({
            "id": c[0], "model": c[1], "source": c[2], "width": int(c[3]), "height": int(c[4]),
            "label": int(c[5]), "ranking": [int(x) for x in c[9].split(",")],
            "scores": floats_from_bits(c[10]),
        })
    return cases


def floats_from_bits(bits: str) -> list[float]:
    if not bits:
        return []
    return [float(x) for x in np.array([int(b, 16) for b in bits.split(",")], "<u4").view("<f4")]
