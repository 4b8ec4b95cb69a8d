"""Datasets: the embedded default, image folders, and every bad input's message."""

import numpy as np
import pytest
from PIL import Image

from pipeline.config import DataOptions
from pipeline.data import dataset_key, load_dataset
from pipeline.errors import DataError


def _folder(root, spec, size=(20, 16)):
    """spec: {class: count}; images of varied modes and formats."""
    formats = [("png", "RGB"), ("jpg", "L"), ("bmp", "RGB"), ("gif", "P"), ("webp", "RGBA"),
               ("jpeg", "CMYK")]
    for c, (name, count) in enumerate(spec.items()):
        d = root / name
        d.mkdir(parents=True)
        for i in range(count):
            ext, mode = formats[i % len(formats)]
            img = Image.new("RGB", size, (40 * c, 10 * i % 256, 200)).convert(mode)
            img.save(d / f"img{i}.{ext}")
    return root


def test_default_digits_split():
    ds = load_dataset(DataOptions(), 32)
    assert ds.class_names == tuple(str(i) for i in range(10))
    assert ds.x_train.shape[1:] == (32, 32, 3) and ds.x_train.dtype == np.uint8
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 1797
    # stratified: every class in every split
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert set(np.unique(y)) == set(range(10))


def test_split_is_deterministic_and_seeded():
    a = load_dataset(DataOptions(seed=1), 16)
    b = load_dataset(DataOptions(seed=1), 16)
    c = load_dataset(DataOptions(seed=2), 16)
    assert np.array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.y_test, c.y_test) or not np.array_equal(a.x_test, c.x_test)


def test_folder_any_format_and_mode(tmp_path):
    root = _folder(tmp_path / "d", {"cats": 6, "dogs": 7})
    ds = load_dataset(DataOptions(data_dir=str(root)), 12)
    assert ds.class_names == ("cats", "dogs")
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 13
    assert ds.x_train.shape[1:] == (12, 12, 3)
    assert ds.skipped == ()


def test_unreadable_files_are_skipped_and_listed(tmp_path):
    root = _folder(tmp_path / "d", {"a": 4, "b": 4})
    (root / "a" / "notes.txt").write_text("hello")
    (root / "a" / "fake.jpg").write_bytes(b"not a jpeg at all")
    good = root / "b" / "img0.png"
    (root / "b" / "trunc.png").write_bytes(good.read_bytes()[:40])
    ds = load_dataset(DataOptions(data_dir=str(root)), 8)
    skipped = {p.split("/")[-1]: r for p, r in ds.skipped}
    assert set(skipped) == {"notes.txt", "fake.jpg", "trunc.png"}
    assert "not an image file" in skipped["notes.txt"]
    assert "not a readable image" in skipped["fake.jpg"]
    assert ds.summary()["skipped"][0]["reason"]


def test_key_changes_with_content(tmp_path):
    root = _folder(tmp_path / "d", {"a": 3, "b": 3})
    opts = DataOptions(data_dir=str(root))
    k1 = dataset_key(opts, 8)
    Image.new("RGB", (5, 5), (1, 2, 3)).save(root / "a" / "img0.png")
    assert dataset_key(opts, 8) != k1


@pytest.mark.parametrize("setup, message, fix", [
    (lambda r: None, "data folder {r} does not exist", "pass --data with a folder"),
    (lambda r: r.mkdir(), "data folder {r} has no class subfolders", "its own subfolder"),
    (lambda r: _folder(r, {"only": 5}), "data folder {r} has a single class ('only')",
     "add a subfolder of images for each other class"),
    (lambda r: _folder(r, {"a": 5, "b": 2}),
     "class 'b' in {r} has 2 usable image(s); at least 3 are needed", "add images to"),
    (lambda r: (_folder(r, {"a": 5}), (r / "empty").mkdir()),
     "class 'empty' in {r} has no readable images (folder is empty)", "add JPEG/PNG"),
    (lambda r: (_folder(r, {"a": 5}), (r / "bad").mkdir(), (r / "bad" / "x.png").write_text("?")),
     "class 'bad' in {r} has no readable images (1 skipped: x.png", "add JPEG/PNG"),
    (lambda r: _folder(r, {"a": 3, " b": 3}), "class folder ' b' in {r} has leading/trailing",
     "rename the folder"),
    (lambda r: _folder(r, {"Cat": 3, "cat": 3}), "class folders 'Cat' and 'cat' in {r} differ",
     "merge or rename"),
    (lambda r: (r.parent.mkdir(exist_ok=True), r.write_text("x")), "data path {r} is a file",
     "pass --data"),
])
def test_bad_folders(tmp_path, setup, message, fix):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DataError) as err:
        load_dataset(DataOptions(data_dir=str(root)), 8)
    assert err.value.problem.startswith(message.format(r=root)), err.value.problem
    assert fix in err.value.fix


def test_label_with_newline(tmp_path):
    root = _folder(tmp_path / "d", {"a": 3})
    (root / "b\nc").mkdir()
    with pytest.raises(DataError, match="control characters"):
        load_dataset(DataOptions(data_dir=str(root)), 8)
