"""The scale benchmark runs end to end on tiny sizes and reports the cache reused."""

from __future__ import annotations

import pytest

from pipeline.imageops import load_rgb
from pipeline.scalebench import CLASSES, make_synthetic_folder, run_scale_benchmark


def test_synthetic_folder_is_made_once(tmp_path):
    folder = make_synthetic_folder(tmp_path / "images", 12)
    files = sorted(folder.rglob("*.png"))
    assert len(files) == 12 and {f.parent.name for f in files} == set(CLASSES)
    assert load_rgb(files[0]).shape[2] == 3
    stamp = files[0].stat().st_mtime_ns
    make_synthetic_folder(tmp_path / "images", 12)
    assert files[0].stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_the_benchmark_measures_every_phase(tmp_path):
    result = run_scale_benchmark(tmp_path, sizes=(80,), image_size=32, log=lambda _: None,
                                 disk_check_images=20)
    phases = [row["phase"] for row in result["rows"]]
    assert phases == ["data (first)", "data (again)", "train"]
    assert all(row["peak_rss_mb"] > 0 and row["images_per_s"] > 0 for row in result["rows"])
    assert result["rows"][0]["stored"] == 80
    assert result["disk_bytes_per_image"][32] >= 32 * 32 * 3
    assert result["disk_bytes_per_image"][224] >= 224 * 224 * 3
