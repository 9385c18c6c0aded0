"""Bad inputs as they show up in real image folders, and what the job must do with each."""

from __future__ import annotations

import io
import socket
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bad_files() -> dict[str, tuple[bytes, str | None]]:
    """file name -> (content, expected rejection reason fragment, or None when it must be accepted)."""
    photo = Image.new("RGB", (100, 100), (200, 40, 40))
    full = _jpeg(photo)
    rgba = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    rgba.paste((20, 180, 20, 255), (25, 25, 75, 75))
    gray16 = Image.fromarray((np.arange(100 * 100).reshape(100, 100) * 6).astype(np.uint16))
    big = Image.new("RGB", (6000, 6000), (240, 200, 30))
    return {
        "zero_bytes.jpg": (b"", "empty file"),
        "truncated.jpg": (full[: len(full) // 2], "truncated or corrupt"),
        "text_named.jpg": (b"this is not an image, just text\n" * 10, "not a recognised image"),
        "notes.txt": (b"shopping list: apples\n", "not an image file (.txt)"),
        "alpha.png": (_png(rgba), None),
        "grayscale.jpg": (_jpeg(Image.new("L", (100, 100), 128)), None),
        "cmyk.jpg": (_jpeg(Image.new("CMYK", (100, 100), (0, 80, 80, 0))), None),
        "sixteen_bit.png": (_png(gray16), None),
        "huge_photo.jpg": (_jpeg(big), None),
    }


def png_bomb(width: int = 9400, height: int = 9400) -> bytes:
    """A valid 16-bit grayscale PNG of width x height black pixels (88 MP by default) in about
    200 KB, written row by row so that making it never holds the pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    squeeze, row, parts = zlib.compressobj(9), bytes(1 + 2 * width), []
    for _ in range(height):
        parts.append(squeeze.compress(row))
    parts.append(squeeze.flush())
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def write_bad_files(folder: Path) -> dict[str, str | None]:
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (content, reason) in bad_files().items():
        (folder / name).write_bytes(content)
        expected[name] = reason
    return expected


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
