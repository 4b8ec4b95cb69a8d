"""The generated second dataset, and the default pipeline on it end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.config import DataOptions
from pipeline.errors import ConfigError
from pipeline.synthetic import STYLES, SyntheticOptions, class_counts, generate


def _digest(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_same_options_same_bytes_and_a_normal_image_folder(tmp_path):
    options = SyntheticOptions(per_class=6, image_size=24)
    generate(tmp_path / "a", options)
    generate(tmp_path / "b", options)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate(tmp_path / "c", SyntheticOptions(per_class=6, image_size=24, seed=1))
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    classes = sorted(p.name for p in (tmp_path / "a").iterdir() if not p.name.startswith("."))
    assert classes == sorted(STYLES["mixed"])
    assert all(len(list((tmp_path / "a" / c).glob("*.png"))) == 6 for c in classes)


def test_test_split_comes_from_sources_absent_from_training(tmp_path):
    """The pipeline's own split puts exactly the held-out-source files in the test split."""
    from pipeline.data import load_dataset

    split = DataOptions(data_dir=str(tmp_path / "d"))
    manifest = generate(tmp_path / "d", SyntheticOptions(per_class=10, image_size=24), split)
    ds = load_dataset(split, 24)
    files = sorted(manifest["files"])  # class/NNNN.png: the loader's order
    pools = np.array([manifest["files"][f]["pool"] for f in files])
    assert len(ds.y_test) == int(np.sum(pools == "test"))
    # the test images the pipeline holds out are exactly the ones rendered from the test pool
    from pipeline.imageops import load_rgb, resize_rgb

    held_out = np.stack([resize_rgb(load_rgb(tmp_path / "d" / f), 24, 24)
                         for f, pool in zip(files, pools) if pool == "test"])
    assert np.array_equal(held_out, ds.x_test)
    sources = {pool: {(s.get("font"), s["fg_hue"], s["background"])
                      for s in manifest["files"].values() if s["pool"] == pool}
               for pool in ("train", "test")}
    assert not sources["train"] & sources["test"]
    fonts = {pool: {s.get("font") for s in manifest["files"].values()
                    if s["pool"] == pool and "font" in s} for pool in ("train", "test")}
    assert fonts["train"] and fonts["test"]
    if "pillow-default" not in fonts["train"]:
        assert not fonts["train"] & fonts["test"]
    assert json.loads((tmp_path / "d" / ".sources.json").read_text())["files"] == manifest["files"]


def test_unbalanced_counts_and_checked_options():
    counts = class_counts(SyntheticOptions(per_class=40, imbalance=4.0))
    assert counts[0] == 40 and counts[-1] == 10 and counts == sorted(counts, reverse=True)
    with pytest.raises(ConfigError, match="synthetic.style = 'cats' is unknown"):
        SyntheticOptions(style="cats")
    with pytest.raises(ConfigError, match="synthetic.imbalance"):
        SyntheticOptions(imbalance=0.5)


@pytest.mark.slow
def test_default_options_on_the_second_dataset(tmp_path):
    """Default options on data never tuned on: the targets of the training recipe."""
    from pipeline.config import ConvertOptions, PipelineConfig, ValidateOptions
    from pipeline.flow import run_model

    data = tmp_path / "shapes"
    generate(data, SyntheticOptions(per_class=60, image_size=32, seed=5))
    # Every gate at its default (the quantization fallback may ship another candidate: the
    # deployable one is judged, whichever it is).
    config = PipelineConfig(name="shapes", out_dir=str(tmp_path / "models"),
                            data=DataOptions(data_dir=str(data)),
                            convert=ConvertOptions(variants=("float32", "pruned_int8")),
                            validate=ValidateOptions(latency_runs=2, mediapipe=False))
    report = run_model(config, verbose=0).report
    variants, deployable = report["variants"], report["deployable"]
    float_acc, deploy_acc = variants["float32"]["accuracy"], variants[deployable]["accuracy"]
    assert report["keras"]["baseline"]["test_accuracy"] > 0.8  # learned (chance is 0.1)
    assert deploy_acc >= float_acc - 0.01
    assert variants[deployable]["agreement_with_keras"] >= ValidateOptions().min_agreement
    assert variants["float32"]["gzip_bytes"] >= 10 * variants[deployable]["gzip_bytes"]
