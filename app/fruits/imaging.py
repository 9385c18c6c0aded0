"""Compressed image bytes -> RGB uint8 array of the model's input size, or a readable reason why not.

Decoding happens in the Python worker, next to the model, so only the compressed bytes cross from
the JVM (a 100x100 JPEG is ~5 KB; its 224x224x3 tensor is 150 KB). Every odd input a phone or a
scraper produces is either converted (alpha, palette, grayscale, CMYK, 16-bit, huge photos) or
rejected with a reason a person can act on; nothing here raises.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from fruits.config.settings import Settings

TARGET_SIZE = (224, 224)
# Above a 50 MP phone photo, and what bounds a worker's decoding memory: checked from the header,
# before any pixel is decoded, for every format (docs/decisions.md has the measured bound). The
# default; a run's own cap (FRUITS_MAX_PIXELS, read on the driver) is passed to `decode_image`.
MAX_PIXELS = Settings.max_pixels
# Pillow's own bomb check stays on, above ours, as a second line.
_PILLOW_DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 0
EMPTY_FILE_REASON = "empty file (0 bytes)"


@dataclass(frozen=True)
class Decoded:
    """Either `pixels` ((224, 224, 3) uint8) or `reason` is set."""

    pixels: Optional[np.ndarray] = None
    reason: Optional[str] = None


def decode_image(data: Optional[bytes], size: tuple[int, int] = TARGET_SIZE, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode, convert to RGB and resize one image; never raises. Images of more than `max_pixels`
    are refused from their header.

    >>> decode_image(b"").reason
    'empty file (0 bytes)'
    """
    if not data:
        return Decoded(reason=EMPTY_FILE_REASON)
    Image.MAX_IMAGE_PIXELS = max(_PILLOW_DEFAULT_MAX_PIXELS, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return Decoded(reason=f"image too large ({width}x{height} pixels, limit {max_pixels:,})")
                # JPEG only: let libjpeg scale down by 1/2..1/8 while decoding (a 6000x6000 photo
                # decodes at 750x750 instead of 36 MP), keeping at least the target size.
                image.draft("RGB", size)
                rgb = to_rgb(shrink(image, size))
                if rgb.size != size:
                    rgb = rgb.resize(size, Image.Resampling.BILINEAR)
                return Decoded(pixels=np.asarray(rgb, dtype=np.uint8))
    except UnidentifiedImageError:
        return Decoded(reason="not a recognised image format (cannot identify image file)")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        return Decoded(reason=f"image too large: {exc}")
    except OSError as exc:
        return Decoded(reason=f"truncated or corrupt image: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bad file must never stop the run
        return Decoded(reason=f"cannot decode image: {type(exc).__name__}: {exc}")


def shrink(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Box-reduce a large decoded image to about twice `size` before any mode conversion, so the
    conversions (alpha over white, 16-bit scaling) work on a small copy instead of 50 MP ones."""
    factor = min(image.size[0] // (2 * size[0]), image.size[1] // (2 * size[1]))
    if factor < 2:
        return image
    if image.mode.startswith("I;16"):
        # Pillow reduces 32-bit integers, not its 16-bit modes; back to 16-bit so that to_rgb
        # still scales from 65535.
        return image.convert("I").reduce(factor).convert("I;16")
    try:
        return image.reduce(factor)
    except ValueError:  # a mode Pillow cannot reduce (P, CMYK): convert at full size
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB the way a viewer would show it.

    Transparent pixels become white (a product photo's background), 16-bit and float grayscale are
    scaled to 0-255 rather than clipped, CMYK goes through Pillow's conversion.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float32)  # float32, not 64: 4 bytes a pixel at most
        peak = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        values *= 255.0 / peak
        gray = np.clip(values, 0, 255, out=values).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
