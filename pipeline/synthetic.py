"""A second, generated dataset: ten classes of shapes and glyphs, written as an image folder.

Public entry point: `generate(out_dir, options=SyntheticOptions(), split=DataOptions())`.

It exists so that the training recipe is measured on data that is not the embedded digits: the
end-to-end tests and `invoke benchmark` train on it through the same `--data` path users take.
Everything is drawn offline with Pillow from a seed, so the same options give the same bytes.

**Test images come from sources absent from training.** Each image is rendered from a
*source*: a font (glyph classes), a fill style and stroke width (shape classes), a foreground
and background colour, a background kind, a scale/rotation/offset range and a noise level. The
sources are divided into two disjoint pools. The pipeline splits a folder deterministically
(`pipeline.data.split_indices` with the seed and fractions of `split`), so the generator knows
which files the pipeline will put in the test split and renders exactly those from the held-out
pool; training and validation files use the other pool. A hidden `.sources.json` (the loader
ignores hidden files) lists the source of every file, so a test can prove the separation.

Without system fonts (DejaVu, package `fonts-dejavu-core`) the glyphs fall back to Pillow's
built-in font, in which case both pools share that font (recorded in `.sources.json`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pipeline.config import DataOptions, _check_range
from pipeline.data import split_indices
from pipeline.errors import ConfigError
from pipeline.fsutil import atomic_write_text, staged_dir

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype"))
SHAPES = ("circle", "square", "triangle", "star", "cross", "arrow", "diamond", "hexagon")
GLYPHS = {"letter_a": "A", "letter_g": "G", "letter_k": "K", "letter_r": "R",
          "ampersand": "&", "question": "?", "hash": "#", "at": "@", "percent": "%",
          "letter_s": "S"}
STYLES = {
    "mixed": ("circle", "square", "triangle", "star", "cross", "arrow",
              "letter_a", "letter_g", "letter_k", "ampersand"),
    "shapes": (*SHAPES, "letter_a", "letter_k"),
    "glyphs": tuple(GLYPHS),
}
# Hues (degrees) of each pool: interleaved, so both pools span the colour wheel.
HUES = {"train": (0, 60, 120, 180, 240, 300), "test": (30, 90, 150, 210, 270, 330)}
BACKGROUNDS = {"train": ("solid", "gradient"), "test": ("gradient", "speckle")}
GEOMETRY = {  # scale (share of the canvas), rotation (degrees), offset (share), noise sigma
    "train": {"scale": (0.55, 0.8), "rotation": 15.0, "offset": 0.10, "noise": (0.0, 4.0)},
    "test": {"scale": (0.5, 0.85), "rotation": 20.0, "offset": 0.12, "noise": (3.0, 8.0)},
}
SUPERSAMPLE = 3


@dataclass(frozen=True)
class SyntheticOptions:
    """What to generate.

    Attributes:
      per_class: images of the largest class.
      image_size: side of the square PNGs written (the pipeline resizes them to its input).
      seed: seed of every random choice.
      style: class set: "mixed" (6 shapes, 4 glyphs), "shapes" (8 shapes, 2 glyphs), "glyphs".
      imbalance: largest / smallest class count; counts fall linearly across the classes (1 =
        balanced).
    """

    per_class: int = 80
    image_size: int = 48
    seed: int = 0
    style: str = "mixed"
    imbalance: float = 1.0

    def __post_init__(self):
        _check_range("synthetic", "per_class", self.per_class, 5, 100_000)
        _check_range("synthetic", "image_size", self.image_size, 16, 1024)
        _check_range("synthetic", "imbalance", self.imbalance, 1.0, 20.0)
        if self.style not in STYLES:
            raise ConfigError(f"synthetic.style = {self.style!r} is unknown",
                              f"use one of: {', '.join(STYLES)}")


def class_counts(options: SyntheticOptions) -> list[int]:
    """Images per class (sorted class names): `per_class` for the first, falling linearly to
    per_class / imbalance for the last."""
    k = len(STYLES[options.style])
    smallest = options.per_class / options.imbalance
    return [max(5, int(round(options.per_class - (options.per_class - smallest) * i / (k - 1))))
            for i in range(k)]


def generate(out_dir: str | Path, options: SyntheticOptions = SyntheticOptions(),
             split: DataOptions = DataOptions()) -> dict:
    """Write the dataset to `out_dir` (replaced atomically); return the manifest.

    `split` must carry the seed and fractions the pipeline will split with (its defaults are
    the pipeline's), so that its test split is exactly the held-out files.
    """
    classes = sorted(STYLES[options.style])  # the loader's label order: sorted folder names
    counts = class_counts(options)
    labels = np.repeat(np.arange(len(classes)), counts)
    test = set(split_indices(labels, len(classes), split)[2].tolist())
    fonts = _font_pools()
    rng = np.random.default_rng(options.seed)
    manifest = {"options": asdict(options), "split_seed": split.seed,
                "test_fraction": split.test_fraction, "val_fraction": split.val_fraction,
                "fonts": {k: [f.name if isinstance(f, Path) else f for f in v]
                          for k, v in fonts.items()},
                "files": {}}
    index = 0
    with staged_dir(Path(out_dir)) as stage:
        for name, count in zip(classes, counts):
            (stage / name).mkdir()
            for i in range(count):
                pool = "test" if index in test else "train"
                image, source = _render(name, pool, fonts[pool], options.image_size, rng)
                image.save(stage / name / f"{i:04d}.png", optimize=False)
                manifest["files"][f"{name}/{i:04d}.png"] = {"pool": pool, **source}
                index += 1
        atomic_write_text(stage / ".sources.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def _font_pools() -> dict[str, list]:
    """DejaVu (or any TrueType) fonts split into two pools: every third font is held out."""
    found: list[Path] = []
    for folder in FONT_DIRS:
        if folder.is_dir():
            found = sorted(p for p in folder.rglob("*.ttf") if "Math" not in p.name)
            if found:
                break
    if len(found) < 2:
        return {"train": ["pillow-default"], "test": ["pillow-default"]}
    return {"train": [f for i, f in enumerate(found) if i % 3 != 1],
            "test": [f for i, f in enumerate(found) if i % 3 == 1]}


def _render(name: str, pool: str, fonts: list, size: int, rng) -> tuple[Image.Image, dict]:
    """One image of class `name` from a random source of `pool`."""
    geo = GEOMETRY[pool]
    big = size * SUPERSAMPLE
    fg_hue = float(rng.choice(HUES[pool]))
    bg_hue = (fg_hue + float(rng.choice((90, 150, 180, 210, 270)))) % 360
    light_fg = bool(rng.random() < 0.5)
    fg = _hsv(fg_hue, rng.uniform(0.5, 1.0), rng.uniform(0.8, 1.0) if light_fg else rng.uniform(0.2, 0.45))
    bg = _hsv(bg_hue, rng.uniform(0.1, 0.6), rng.uniform(0.15, 0.35) if light_fg else rng.uniform(0.75, 1.0))
    kind = str(rng.choice(BACKGROUNDS[pool]))
    canvas = _background(kind, bg, big, rng)
    scale = rng.uniform(*geo["scale"])
    angle = rng.uniform(-geo["rotation"], geo["rotation"])
    dx, dy = rng.uniform(-geo["offset"], geo["offset"], size=2) * big
    layer = Image.new("L", (big, big), 0)
    source = {"background": kind, "fg_hue": fg_hue, "bg_hue": bg_hue}
    if name in GLYPHS:
        font = fonts[int(rng.integers(len(fonts)))]
        _draw_glyph(layer, GLYPHS[name], font, scale)
        source["font"] = font.name if isinstance(font, Path) else font
    else:
        filled = bool(rng.random() < (0.5 if pool == "train" else 0.35))
        stroke = int(round(big * (rng.uniform(0.05, 0.08) if pool == "train" else rng.uniform(0.08, 0.11))))
        _draw_shape(ImageDraw.Draw(layer), name, big, scale, filled, stroke)
        source["fill"] = "filled" if filled else f"outline-{stroke}"
    layer = layer.rotate(angle, resample=Image.BILINEAR, translate=(dx, dy))
    canvas.paste(Image.new("RGB", (big, big), fg), (0, 0), layer)
    image = canvas.resize((size, size), Image.LANCZOS).filter(ImageFilter.SMOOTH_MORE if pool == "test" else ImageFilter.SMOOTH)
    sigma = rng.uniform(*geo["noise"])
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, sigma, size=(size, size, 3))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)), source


def _hsv(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    c = val * sat
    x = c * (1 - abs((hue / 60.0) % 2 - 1))
    m = val - c
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(hue // 60) % 6]
    return tuple(int(round((v + m) * 255)) for v in (r, g, b))


def _background(kind: str, colour, big: int, rng) -> Image.Image:
    base = np.asarray(colour, dtype=np.float32)
    if kind == "solid":
        pixels = np.broadcast_to(base, (big, big, 3)).copy()
    elif kind == "gradient":
        theta = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:big, 0:big] / big - 0.5
        ramp = (np.cos(theta) * xx + np.sin(theta) * yy)[..., None]
        pixels = base + ramp * rng.uniform(40, 90)
    else:  # speckle: coarse random blotches
        cells = rng.normal(0.0, 25.0, size=(6, 6, 3)).astype(np.float32)
        blotch = np.asarray(Image.fromarray(np.clip(cells + 128, 0, 255).astype(np.uint8))
                            .resize((big, big), Image.BICUBIC), dtype=np.float32) - 128
        pixels = base + blotch
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _draw_glyph(layer: Image.Image, char: str, font, scale: float) -> None:
    big = layer.size[0]
    px = max(8, int(big * scale))
    face = (ImageFont.load_default(size=px) if font == "pillow-default"
            else ImageFont.truetype(str(font), px))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=face)
    draw.text(((big - (right - left)) / 2 - left, (big - (bottom - top)) / 2 - top), char,
              font=face, fill=255)


def _draw_shape(draw: ImageDraw.ImageDraw, name: str, big: int, scale: float, filled: bool,
                stroke: int) -> None:
    c, r = big / 2, big * scale / 2
    fill, outline = (255, None) if filled else (None, 255)
    if name == "circle":
        draw.ellipse((c - r, c - r, c + r, c + r), fill=fill, outline=outline, width=stroke)
    elif name == "square":
        s = r * 0.85
        draw.rectangle((c - s, c - s, c + s, c + s), fill=fill, outline=outline, width=stroke)
    elif name == "cross":
        w = max(stroke, r * 0.3)
        draw.rectangle((c - r, c - w / 2, c + r, c + w / 2), fill=255)
        draw.rectangle((c - w / 2, c - r, c + w / 2, c + r), fill=255)
    else:
        points = _polygon(name, c, r)
        if filled:
            draw.polygon(points, fill=255)
        else:
            draw.line([*points, points[0]], fill=255, width=stroke, joint="curve")


def _polygon(name: str, c: float, r: float) -> list[tuple[float, float]]:
    def ring(n, radius, phase=-90.0):
        return [(c + radius * math.cos(math.radians(phase + 360 * i / n)),
                 c + radius * math.sin(math.radians(phase + 360 * i / n))) for i in range(n)]

    if name == "triangle":
        return ring(3, r)
    if name == "diamond":
        return [(c, c - r), (c + r * 0.65, c), (c, c + r), (c - r * 0.65, c)]
    if name == "hexagon":
        return ring(6, r, 0.0)
    if name == "star":
        outer, inner = ring(5, r), ring(5, r * 0.42, -54.0)
        return [p for pair in zip(outer, inner) for p in pair]
    if name == "arrow":  # pointing right
        t, h = r * 0.22, r * 0.55
        return [(c - r, c - t), (c + r - h, c - t), (c + r - h, c - h), (c + r, c),
                (c + r - h, c + h), (c + r - h, c + t), (c - r, c + t)]
    raise ConfigError(f"unknown synthetic shape {name!r}", f"use one of: {', '.join(SHAPES)}")
