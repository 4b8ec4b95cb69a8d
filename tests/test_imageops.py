"""The shared resize: exact integer behaviour (ported byte-for-byte to Java) and sane quality."""

import numpy as np
import pytest
from PIL import Image

from pipeline.imageops import load_rgb, resize_rgb, to_rgb


def test_identity_when_size_unchanged():
    img = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert np.array_equal(resize_rgb(img, 17, 23), img)


def test_constant_image_stays_constant_up_and_down():
    img = np.full((40, 30, 3), 77, np.uint8)
    for h, w in ((8, 8), (100, 3), (39, 31), (1, 1)):
        out = resize_rgb(img, h, w)
        assert out.shape == (h, w, 3) and np.all(out == 77)


def test_box_shrink_is_rounded_block_mean():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2, :2] = [10, 20, 30]
    img[0, 0] = [11, 21, 31]  # block sum 41 -> (41 + 2) // 4 = 10 (rounded mean 10.25)
    out = resize_rgb(img, 2, 2)
    assert out[0, 0].tolist() == [10, 20, 30]
    assert out[1, 1].tolist() == [0, 0, 0]


def test_upscale_known_values():
    # 1x2 -> 1x4 with half-pixel centres: s = ((2x+1)*2*256)//8 - 128 -> -64, 64, 192, 320
    # clamped to [0, 256]: weights of the right pixel 0, 64, 192, 256 (/256).
    img = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    out = resize_rgb(img, 1, 4)[0, :, 0]
    assert out.tolist() == [0, 64, 191, 255]


def test_rejects_non_rgb():
    with pytest.raises(ValueError):
        resize_rgb(np.zeros((4, 4), np.uint8), 2, 2)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "1", "LA"])
def test_any_mode_becomes_rgb(tmp_path, mode):
    rgb = Image.new("RGB", (5, 4), (200, 100, 50))
    img = rgb.convert(mode) if mode != "I;16" else Image.new("I;16", (5, 4), 65535)
    arr = to_rgb(img)
    assert arr.shape == (4, 5, 3) and arr.dtype == np.uint8
    if mode == "I;16":
        assert np.all(arr == 255)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
def test_load_rgb_formats(tmp_path, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (9, 7), (0, 128, 255)).save(path, format=fmt)
    arr = load_rgb(path)
    assert arr.shape == (7, 9, 3)


def test_truncated_file_raises(tmp_path):
    path = tmp_path / "t.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(Exception):
        load_rgb(path)
