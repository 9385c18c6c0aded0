import io

import numpy as np
import pytest
from PIL import Image

from fruits.imaging import decode_image, to_rgb
from helpers import bad_files

CASES = bad_files()


@pytest.mark.parametrize("name", [n for n, (_, reason) in CASES.items() if reason and not n.endswith(".txt")])
def test_broken_file_is_rejected_with_readable_reason(name):
    content, reason = CASES[name]
    decoded = decode_image(content)
    assert decoded.pixels is None
    assert reason in decoded.reason


@pytest.mark.parametrize("name", [n for n, (_, reason) in CASES.items() if reason is None])
def test_odd_but_valid_image_is_converted_to_rgb_224(name):
    decoded = decode_image(CASES[name][0])
    assert decoded.reason is None
    assert decoded.pixels.shape == (224, 224, 3)
    assert decoded.pixels.dtype == np.uint8


def test_transparent_pixels_become_white_background():
    pixels = decode_image(CASES["alpha.png"][0]).pixels
    assert tuple(pixels[2, 2]) == (255, 255, 255)
    assert tuple(pixels[112, 112]) == (20, 180, 20)


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    image = Image.fromarray(np.full((10, 10), 32768, dtype=np.uint16))
    assert image.mode.startswith("I;16")
    assert abs(int(np.asarray(to_rgb(image))[0, 0, 0]) - 127) <= 1


def test_huge_photo_is_downscaled_while_decoding():
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 6000), (10, 200, 30)).save(buffer, format="JPEG")
    pixels = decode_image(buffer.getvalue()).pixels
    assert pixels.shape == (224, 224, 3)
    assert np.allclose(pixels.reshape(-1, 3).mean(axis=0), (10, 200, 30), atol=3)


def test_decompression_bomb_is_rejected_not_decoded():
    buffer = io.BytesIO()
    Image.new("L", (20000, 12000), 0).save(buffer, format="PNG")
    decoded = decode_image(buffer.getvalue())
    assert decoded.pixels is None
    assert "too large" in decoded.reason


def test_sixteen_bit_png_bomb_is_rejected_from_its_header_without_decoding():
    """88 MP of 16-bit gray in ~200 KB: decoding it took 2.2 GB; the header check costs nothing."""
    import resource

    from helpers import png_bomb

    data = png_bomb()
    assert len(data) < 400_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decoded = decode_image(data)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert decoded.pixels is None and "image too large (9400x9400 pixels" in decoded.reason, decoded.reason
    assert grown_kb < 50 * 1024, f"decoding grew the process by {grown_kb} KB"
