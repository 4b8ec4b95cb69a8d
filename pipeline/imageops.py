"""Decoding and resizing images the one way both Python and the app do it.

The app must resize exactly as training did (measured: with the same model and metadata, the
resize method alone moved digits accuracy 6.5 points; docs/FACTS.md), so the algorithm here is defined in integer arithmetic and ported
line for line to Java (`android_app/.../core/Resize.java`): the same RGB pixels give the same
bytes on both sides.

Algorithm `resize_rgb(src, out_h, out_w)`:
1. Box pre-shrink (only when a side is at least twice the target): factor `f = in // out` per
   axis; the image is centre-cropped to a multiple of `f` (`off = (in - (in // f) * f) // 2`)
   and every `f_y x f_x` block is replaced by its rounded mean `(sum + n // 2) // n`.
2. Bilinear with half-pixel centres in 8-bit fixed point: for output column `x`,
   `s = ((2x + 1) * in_w * 256) // (2 * out_w) - 128`, clamped to `[0, (in_w - 1) * 256]`;
   `x0 = s >> 8`, `a = s & 255`, `x1 = min(x0 + 1, in_w - 1)`; rows likewise (`y0`, `b`, `y1`).
   `h(y) = p[y, x0] * (256 - a) + p[y, x1] * a`;
   `out = (h(y0) * (256 - b) + h(y1) * b + 32768) >> 16`.
Every intermediate fits in a signed 32-bit int.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# The app decodes an image of more pixels than this at a power-of-two reduction (Android's
# inSampleSize, android_app/.../ui/DecodedImage.java MAX_PIXELS); `load_rgb` does the same, so a
# huge photo costs at most this many pixels of memory when it is a JPEG (decoded at 1/2, 1/4 or
# 1/8 scale by the JPEG decoder itself).
APP_MAX_PIXELS = 16 * 1024 * 1024
# Formats without scaled decoding (PNG, WebP, ...) decode at full size first: refuse (before
# decoding, from the header) an image that would need more pixels than this (256 MiB as RGBA).
MAX_DECODE_PIXELS = 64 * 1024 * 1024


class ImageTooLargeError(ValueError):
    """The image header declares more pixels than `load_rgb` decodes (a decompression bomb?)."""


def resize_rgb(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to (out_h, out_w, 3) with the shared algorithm."""
    if src.ndim != 3 or src.shape[2] != 3 or src.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {src.shape} {src.dtype}")
    img = _box_shrink(src, out_h, out_w)
    if img.shape[:2] == (out_h, out_w):
        return np.ascontiguousarray(img)
    return _bilinear(img, out_h, out_w)


def _box_shrink(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    in_h, in_w = src.shape[:2]
    fy = in_h // out_h if in_h >= 2 * out_h else 1
    fx = in_w // out_w if in_w >= 2 * out_w else 1
    if fy == 1 and fx == 1:
        return src
    nh, nw = in_h // fy, in_w // fx
    oy, ox = (in_h - nh * fy) // 2, (in_w - nw * fx) // 2
    crop = src[oy:oy + nh * fy, ox:ox + nw * fx].astype(np.int64)
    sums = crop.reshape(nh, fy, nw, fx, 3).sum(axis=(1, 3))
    n = fy * fx
    return ((sums + n // 2) // n).astype(np.uint8)


def _axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.arange(out_size, dtype=np.int64)
    s = ((2 * x + 1) * in_size * 256) // (2 * out_size) - 128
    s = np.clip(s, 0, (in_size - 1) * 256)
    i0 = s >> 8
    frac = s & 255
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, frac


def _bilinear(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    in_h, in_w = src.shape[:2]
    x0, x1, a = _axis(in_w, out_w)
    y0, y1, b = _axis(in_h, out_h)
    p = src.astype(np.int64)
    a = a[None, :, None]
    rows = p[:, x0] * (256 - a) + p[:, x1] * a  # (in_h, out_w, 3), <= 255 * 256
    b = b[:, None, None]
    out = (rows[y0] * (256 - b) + rows[y1] * b + 32768) >> 16
    return out.astype(np.uint8)


def load_rgb(path: Path) -> np.ndarray:
    """Decode any JPEG/PNG/BMP/GIF/WebP (any mode) to an (H, W, 3) uint8 RGB array.

    An image of more than `APP_MAX_PIXELS` pixels is decoded at the power-of-two reduction the
    app uses (`sample_factor`): JPEG through the decoder's scaled decode (`draft`), other
    formats by a box `reduce` after a full decode, which `MAX_DECODE_PIXELS` bounds.
    Raises OSError/ValueError (from Pillow) for files that are not images or are truncated,
    `ImageTooLargeError` for an image over the limits and `PIL.Image.DecompressionBombError`
    for one Pillow itself refuses; the data stage reports those files as skipped.
    """
    from PIL import Image, ImageOps

    with warnings.catch_warnings():  # the size is checked here, against our own limits
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            factor = _decode_reduced(img)
            img.load()  # forces a full decode: truncated files fail here, not later
            if factor > 1:
                img = _reducible(img).reduce(factor)
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)


def sample_factor(width: int, height: int, max_pixels: int = APP_MAX_PIXELS) -> int:
    """The app's inSampleSize: the smallest power of two that brings the image under `max_pixels`."""
    factor = 1
    while (width // factor) * (height // factor) > max_pixels:
        factor *= 2
    return factor


def _reducible(img):
    """`img` in a mode `Image.reduce` accepts, with the colours `to_rgb` gives that mode."""
    if img.mode == "1":
        return img.convert("L")
    if img.mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode.startswith("I;16"):  # 16-bit grey: full scale is 65535, as in to_rgb
        return img.convert("I").point(lambda v: v * (255 / 65535) + 0.5).convert("L")
    return img


def _decode_reduced(img) -> int:
    """Set up a reduced decode of a big `img` (not yet loaded); return the reduce() still to do."""
    width, height = img.size
    factor = sample_factor(width, height)
    if factor == 1:
        return 1
    if img.format == "JPEG":
        img.draft(None, (max(1, width // min(factor, 8)), max(1, height // min(factor, 8))))
        scale = round(width / img.size[0])  # 1, 2, 4 or 8: what the decoder will do
        factor = max(1, factor // scale)
    decoded = img.size[0] * img.size[1]
    if decoded > MAX_DECODE_PIXELS:
        raise ImageTooLargeError(
            f"{width}x{height} = {width * height:,} pixels would decode {decoded:,} pixels, over "
            f"the limit of {MAX_DECODE_PIXELS:,} (pipeline.imageops.MAX_DECODE_PIXELS)")
    return factor


def to_rgb(img) -> np.ndarray:
    """Convert a Pillow image of any mode (L, P, RGBA, CMYK, I;16, F, ...) to RGB uint8."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = np.clip(np.rint(arr * 255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        gray = np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
