"""Listing the input: which files exist, which are images, and what label and split each carries.

The Fruits-360 layout is `<root>/<Split>/<Label>/<name>.jpg`: the label is the parent folder and
the split is the grandparent when it is `Training` or `Test`. Folder names are kept exactly as
written (spaces, digits, accents): Spark's binaryFile source gives paths without percent-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pandas as pd

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
SPLITS = ("Training", "Test")


@dataclass(frozen=True)
class ImagePath:
    label: str
    split: Optional[str]
    extension: str

    @property
    def is_image(self) -> bool:
        return self.extension in IMAGE_EXTENSIONS


def parse_image_path(path: str) -> ImagePath:
    """Label, split and lower-case extension of one listed file.

    >>> parse_image_path("s3a://lake/fruits/Training/Apple Red 2/r_12_100.jpg")
    ImagePath(label='Apple Red 2', split='Training', extension='.jpg')
    >>> parse_image_path("file:/data/Kiwi/1.JPG")
    ImagePath(label='Kiwi', split=None, extension='.jpg')
    """
    parts = [p for p in path.split("/") if p]
    name = parts[-1] if parts else ""
    label = parts[-2] if len(parts) >= 2 else ""
    grandparent = parts[-3] if len(parts) >= 3 else None
    dot = name.rfind(".")
    extension = name[dot:].lower() if dot > 0 else ""
    return ImagePath(label=label, split=grandparent if grandparent in SPLITS else None, extension=extension)


def parse_paths(paths: pd.Series) -> pd.DataFrame:
    """Vectorised `parse_image_path` for a pandas UDF: columns label, split, extension."""
    parsed = [parse_image_path(p) for p in paths]
    return pd.DataFrame(
        {
            "label": [p.label for p in parsed],
            "split": [p.split for p in parsed],
            "extension": [p.extension for p in parsed],
        }
    )


def non_image_reason(extension: str) -> str:
    shown = extension or "no extension"
    return f"not an image file ({shown}); accepted: {', '.join(sorted(IMAGE_EXTENSIONS))}"
