"""A small synthetic data set in the Fruits-360 layout, for demos and tests.

`<out>/Training/<Label>/<i>_100.jpg` and `<out>/Test/<Label>/<i>_100.jpg`: 100x100 JPEGs of a
fruit-like shape on a white background, rotated and shifted like Fruits-360's turntable shots.
The same seed gives byte-identical files (the JPEG encoder is Pillow's, pinned).

Two sets:
- `shapes` (the default): classes differ in colour and outline, so even simple features
  separate them; the demo's 2-D picture shows them apart with any weights.
- `textures`: every class is the same disc in a colour drawn from one shared palette; only the
  surface (stripes, seeds, net, bumps...) or a small detail tells them apart. Colour statistics
  say nothing, and random-weight CNN features classify it poorly while ImageNet-trained ones do
  well: the set that shows whether features mean something.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fruits.config.job_config import SampleConfig

SIZE = 100
TEST_SHARE = 0.25

Draw = Callable[[ImageDraw.ImageDraw, np.random.Generator, tuple[int, int, int]], None]


def _round(draw, rng, colour, scale=1.0):
    r = rng.uniform(30, 38) * scale
    cx, cy = 50 + rng.uniform(-4, 4), 50 + rng.uniform(-4, 4)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)


def _oval(draw, rng, colour, ratio=0.65):
    a = rng.uniform(36, 42)
    b = a * ratio
    draw.ellipse([50 - a, 50 - b, 50 + a, 50 + b], fill=colour)


def _banana(draw, rng, colour):
    draw.ellipse([8, 10, 92, 90], fill=colour)
    off = rng.uniform(14, 20)
    draw.ellipse([8 + off, 10 - off * 0.6, 92 + off, 90 - off * 0.6], fill=(255, 255, 255))


def _grapes(draw, rng, colour):
    for row in range(5):
        for col in range(5 - row):
            x = 26 + col * 12 + row * 6 + rng.uniform(-1.5, 1.5)
            y = 22 + row * 13 + rng.uniform(-1.5, 1.5)
            draw.ellipse([x - 7, y - 7, x + 7, y + 7], fill=colour, outline=(30, 20, 60))


def _pear(draw, rng, colour):
    draw.ellipse([22, 40, 78, 92], fill=colour)
    draw.ellipse([34, 16, 66, 56], fill=colour)
    draw.line([50, 16, 52, 6], fill=(90, 60, 20), width=3)


def _strawberry(draw, rng, colour):
    draw.polygon([(18, 30), (82, 30), (50, 92)], fill=colour)
    draw.ellipse([18, 16, 82, 48], fill=colour)
    for _ in range(18):
        x, y = rng.uniform(30, 70), rng.uniform(28, 70)
        draw.point([(x, y), (x + 1, y)], fill=(250, 230, 120))
    draw.polygon([(34, 20), (50, 8), (66, 20), (50, 26)], fill=(40, 140, 40))


def _pitahaya(draw, rng, colour):
    _oval(draw, rng, colour, ratio=0.8)
    for angle in range(0, 360, 45):
        t = math.radians(angle + rng.uniform(-8, 8))
        x, y = 50 + 30 * math.cos(t), 50 + 24 * math.sin(t)
        draw.polygon([(x, y), (x + 8 * math.cos(t + 0.5), y + 8 * math.sin(t + 0.5)), (x + 10 * math.cos(t), y + 10 * math.sin(t))], fill=(120, 190, 60))


def _kiwi(draw, rng, colour):
    _oval(draw, rng, colour, ratio=0.75)
    draw.ellipse([30, 36, 70, 64], fill=(120, 180, 60))
    draw.ellipse([44, 45, 56, 55], fill=(235, 235, 200))


@dataclass(frozen=True)
class FruitClass:
    name: str
    colour: Optional[tuple[int, int, int]]
    draw: Draw


CLASSES: tuple[FruitClass, ...] = (
    FruitClass("Apple Red 2", (196, 28, 40), lambda d, r, c: _round(d, r, c)),
    FruitClass("Banana", (236, 206, 48), _banana),
    FruitClass("Pêche", (250, 176, 128), lambda d, r, c: _round(d, r, c, scale=0.95)),
    FruitClass("Kiwi", (122, 88, 52), _kiwi),
    FruitClass("Lemon", (246, 236, 90), lambda d, r, c: _oval(d, r, c, ratio=0.7)),
    FruitClass("Pitahaya Red", (222, 40, 140), _pitahaya),
    FruitClass("Grape Blue", (64, 44, 130), _grapes),
    FruitClass("Pear", (160, 200, 64), _pear),
    FruitClass("Orange", (250, 140, 20), lambda d, r, c: _round(d, r, c, scale=1.05)),
    FruitClass("Strawberry", (208, 22, 52), _strawberry),
    FruitClass("Avocado", (52, 84, 36), lambda d, r, c: _oval(d, r, c, ratio=0.6)),
    FruitClass("Blueberry", (50, 60, 110), lambda d, r, c: _round(d, r, c, scale=0.6)),
)


# --- the `textures` set: one disc, one shared palette, classes told apart by surface only ---

PALETTE: tuple[tuple[int, int, int], ...] = ((196, 28, 40), (120, 180, 60), (236, 206, 48), (250, 140, 20), (110, 70, 40))


def _disc(draw, rng, colour) -> tuple[float, float, float]:
    r = rng.uniform(28, 40)
    cx, cy = 50 + rng.uniform(-5, 5), 50 + rng.uniform(-5, 5)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return cx, cy, r


def _shade(colour, towards: int, share: float) -> tuple[int, int, int]:
    return tuple(int(v + (towards - v) * share) for v in colour)


def _inside(rng, cx, cy, r, reach=0.85) -> tuple[float, float]:
    angle, radius = rng.uniform(0, 2 * math.pi), r * math.sqrt(rng.uniform(0, reach))
    return cx + radius * math.cos(angle), cy + radius * math.sin(angle)


def _smooth(draw, rng, colour):
    _disc(draw, rng, colour)


def _striped(draw, rng, colour):
    cx, cy, r = _disc(draw, rng, colour)
    n = int(rng.integers(5, 8))
    for i in range(n):
        x = cx - r + (i + 0.5) * 2 * r / n
        half = math.sqrt(max(r * r - (x - cx) ** 2, 0.0)) * 0.95  # stripes stay on the disc
        draw.line([x, cy - half, x + rng.uniform(-2, 2), cy + half], fill=_shade(colour, 0, 0.45), width=3)


def _seeded(draw, rng, colour):
    cx, cy, r = _disc(draw, rng, colour)
    for _ in range(40):
        x, y = _inside(rng, cx, cy, r)
        draw.ellipse([x - 1.2, y - 1.2, x + 1.2, y + 1.2], fill=_shade(colour, 255, 0.8))


def _netted(draw, rng, colour):
    cx, cy, r = _disc(draw, rng, colour)
    for _ in range(60):
        (x, y), t = _inside(rng, cx, cy, r, 0.8), rng.uniform(0, 2 * math.pi)
        draw.line([x, y, x + 6 * math.cos(t), y + 6 * math.sin(t)], fill=_shade(colour, 255, 0.6), width=1)


def _bumpy(draw, rng, colour):
    cx, cy, r = _disc(draw, rng, colour)
    for _ in range(30):
        x, y = _inside(rng, cx, cy, r, 0.75)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=_shade(colour, 0, 0.4), width=1)


def _hairy(draw, rng, colour):
    cx, cy, r = _disc(draw, rng, colour)
    for k in range(28):
        t = 2 * math.pi * k / 28 + rng.uniform(-0.05, 0.05)
        x, y = cx + r * math.cos(t), cy + r * math.sin(t)
        draw.line([x, y, x + 7 * math.cos(t + 0.3), y + 7 * math.sin(t + 0.3)], fill=_shade(colour, 0, 0.2), width=2)


def _crowned(draw, rng, colour):
    cx, cy, r = _disc(draw, rng, colour)
    draw.polygon([(cx - 10, cy - r + 4), (cx, cy - r - 10), (cx + 10, cy - r + 4)], fill=(40, 120, 40))


def _halved(draw, rng, colour):
    cx, cy, r = _disc(draw, rng, colour)
    draw.ellipse([cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8], fill=_shade(colour, 255, 0.7))
    draw.ellipse([cx - r * 0.25, cy - r * 0.25, cx + r * 0.25, cy + r * 0.25], fill=_shade(colour, 0, 0.5))


# colour None: each picture takes a palette colour at random, whatever its class.
TEXTURE_CLASSES: tuple[FruitClass, ...] = (
    FruitClass("Tomato", None, _smooth),
    FruitClass("Watermelon", None, _striped),
    FruitClass("Strawberry", None, _seeded),
    FruitClass("Cantaloupe", None, _netted),
    FruitClass("Lychee", None, _bumpy),
    FruitClass("Rambutan", None, _hairy),
    FruitClass("Pineapple", None, _crowned),
    FruitClass("Grapefruit", None, _halved),
)

SETS: dict[str, tuple[FruitClass, ...]] = {"shapes": CLASSES, "textures": TEXTURE_CLASSES}
# Classes a set gives when none are asked for: ten of the twelve shapes (the demo), every texture.
DEFAULT_CLASSES: dict[str, int] = {"shapes": 10, "textures": len(TEXTURE_CLASSES)}


def render(fruit: FruitClass, rng: np.random.Generator) -> Image.Image:
    """One 100x100 RGB picture of `fruit`, with colour, position and rotation jitter."""
    canvas = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    if fruit.colour is None:
        base, spread = PALETTE[int(rng.integers(len(PALETTE)))], 18
    else:
        base, spread = fruit.colour, 10
    shade = np.clip(np.array(base) + rng.normal(0, spread, 3), 0, 255).astype(int)
    fruit.draw(ImageDraw.Draw(canvas), rng, tuple(int(v) for v in shade))
    canvas = canvas.rotate(rng.uniform(0, 360), resample=Image.Resampling.BILINEAR, fillcolor=(255, 255, 255))
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, (1, 0, rng.uniform(-5, 5), 0, 1, rng.uniform(-5, 5)),
                              fillcolor=(255, 255, 255))
    noise = rng.normal(0, 4, (SIZE, SIZE, 3))
    pixels = np.clip(np.asarray(canvas, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).filter(ImageFilter.SMOOTH)


def generate_sample(out: Path, classes: Optional[int] = None, per_class: int = SampleConfig.per_class,
                    seed: int = SampleConfig.seed, kind: str = SampleConfig.kind) -> dict[str, int]:
    """Write `classes` (default: DEFAULT_CLASSES[kind]) x `per_class` JPEGs of set `kind` under `out`
    (75% Training, 25% Test); return counts per split."""
    if kind not in SETS:
        raise ValueError(f"--set must be one of {', '.join(SETS)}, got {kind!r}")
    available = SETS[kind]
    classes = DEFAULT_CLASSES[kind] if classes is None else classes
    if not 1 <= classes <= len(available):
        raise ValueError(f"--classes must be between 1 and {len(available)} for the {kind} set, got {classes}")
    if per_class < 2:
        raise ValueError(f"--per-class must be at least 2 (one Training and one Test image), got {per_class}")
    n_test = max(1, round(per_class * TEST_SHARE))
    counts = {"Training": 0, "Test": 0}
    for index, fruit in enumerate(available[:classes]):
        rng = np.random.default_rng([seed, index])
        for i in range(per_class):
            split = "Test" if i >= per_class - n_test else "Training"
            folder = Path(out) / split / fruit.name
            folder.mkdir(parents=True, exist_ok=True)
            render(fruit, rng).save(folder / f"{i}_100.jpg", format="JPEG", quality=90)
            counts[split] += 1
    return counts
