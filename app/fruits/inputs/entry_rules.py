"""The rules for one listed entry: is it an image, what label and split it carries, why it is not read.

The Fruits-360 layout is `<root>/<Split>/<Label>/<name>.jpg`: the label is the parent folder and
the split is the grandparent when it is `Training` or `Test`. Folder names are kept exactly as
written (spaces, digits, accents); S3 paths are `s3a://bucket/key` without percent-encoding.
`fruits.inputs.listing` applies these rules to a whole input, on the workers: the reasons that
follow from an entry's kind here (link, not a regular file, name not UTF-8, hidden, unreadable),
the ones that follow from its name and size as Spark SQL over the listing (`with_skip_reason`),
worded by the functions below.

A local input is walked on bytes (`fruits.storage.local`); local paths are `file:` URIs in which
only the bytes that are not UTF-8 and `%` itself are percent-encoded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from fruits.imaging import EMPTY_FILE_REASON
from fruits.storage.local import LocalEntry, local_path_bytes
from fruits.storage.reads import too_large_reason

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
SPLITS = ("Training", "Test")
# Entries Spark's own readers skip (`is_hidden`); here they are rows with one of these reasons.
HIDDEN_FILE_REASON = "hidden file (name starts with . or _), not read"
HIDDEN_FOLDER_REASON = "hidden folder (name starts with . or _), not read"
HIDDEN_KEY_REASON = "hidden file (name or folder starts with . or _), not read"

__all__ = ["EMPTY_FILE_REASON", "too_large_reason"]  # worded elsewhere, part of these rules


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
    if path.startswith("file:"):  # a local_uri: labels come from the real, decoded folder names
        path = os.fsdecode(local_path_bytes(path))
    parts = [p for p in path.split("/") if p]
    name = parts[-1] if parts else ""
    label = parts[-2] if len(parts) >= 2 else ""
    grandparent = parts[-3] if len(parts) >= 3 else None
    dot = name.rfind(".")
    extension = name[dot:].lower() if dot > 0 else ""
    return ImagePath(label=label, split=grandparent if grandparent in SPLITS else None, extension=extension)


def non_image_reason(extension: str) -> str:
    shown = extension or "no extension"
    return f"not an image file ({shown}); accepted: {', '.join(sorted(IMAGE_EXTENSIONS))}"


def is_hidden(name: str) -> bool:
    """Files Spark's own readers skip: `_SUCCESS`, `.DS_Store`, `._x.jpg`, partial uploads."""
    return name.startswith(("_", "."))


def local_reason(entry: LocalEntry) -> Optional[str]:
    """Why a local entry that is not a folder will not be read, from what it is; None for a candidate image."""
    if entry.error is not None:
        return entry.error
    if entry.is_link:
        return "symbolic link, not followed"
    if not entry.is_regular:
        return "not a regular file (a device, pipe or socket)"
    try:
        entry.path.decode("utf-8")
    except UnicodeDecodeError:
        return "path is not valid UTF-8 (undecodable bytes are %XX in the path column)"
    if is_hidden(os.fsdecode(entry.name)):
        return HIDDEN_FILE_REASON
    if not entry.readable:
        return "permission denied"
    return None
