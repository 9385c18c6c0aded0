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


def is_hidden(name: str) -> bool:
    """Files Spark's own readers skip: `_SUCCESS`, `.DS_Store`, `._x.jpg`, partial uploads."""
    return name.startswith(("_", "."))


@dataclass(frozen=True)
class ListedFile:
    """One file seen under the input. `modified` is the filesystem's time in epoch milliseconds."""

    path: str
    size: int
    modified: int

    @property
    def is_readable_image(self) -> bool:
        return self.size > 0 and parse_image_path(self.path).is_image


LISTED_SCHEMA = "path string, size bigint, modified bigint"


def list_input(spark, uri: str) -> list[ListedFile]:
    """Every non-hidden file under `uri`, recursively, sorted by path.

    Fast path: Spark's own file index (the binaryFile source without its content column), one
    job for any number of files. That source silently drops zero-byte files, and every file must
    be counted, so when its file index holds more files than it returns rows, we list file by
    file with Hadoop's FileSystem API instead (a few ms per file through py4j, so only then).
    Raises FileNotFoundError when `uri` does not exist.
    """
    from pyspark.sql import functions as F

    root = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(root):
        raise FileNotFoundError(uri)
    frame = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(uri)
    rows = frame.select("path", "length", F.unix_millis("modificationTime").alias("modified")).collect()
    if len(rows) == len(frame.inputFiles()):
        return sorted((ListedFile(r.path, int(r.length), int(r.modified)) for r in rows), key=lambda f: f.path)
    return _list_with_hadoop(fs, root)


def _list_with_hadoop(fs, root) -> list[ListedFile]:
    prefix = fs.makeQualified(root).toUri().getPath().rstrip("/") + "/"
    found = []
    files = fs.listFiles(root, True)
    while files.hasNext():
        status = files.next()
        relative = status.getPath().toUri().getPath()[len(prefix):]
        if not any(is_hidden(part) for part in relative.split("/")):
            found.append(ListedFile(status.getPath().toString(), int(status.getLen()), int(status.getModificationTime())))
    return sorted(found, key=lambda f: f.path)
