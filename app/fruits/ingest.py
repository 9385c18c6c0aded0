"""The rules for one listed entry: is it an image, what label and split it carries, why it is not read.

The Fruits-360 layout is `<root>/<Split>/<Label>/<name>.jpg`: the label is the parent folder and
the split is the grandparent when it is `Training` or `Test`. Folder names are kept exactly as
written (spaces, digits, accents); S3 paths are `s3a://bucket/key` without percent-encoding.
fruits.listing applies these rules to a whole input, on the workers.

A local input is listed in Python, on bytes: the JVM's view of file names depends on the
locale (under LC_ALL=POSIX it turns `Pêche` into `P?che` and loses the file) and cannot name a
file whose name is not valid UTF-8 at all. The walk never follows a symbolic link, so a link
loop cannot multiply rows; every entry that is not a directory becomes one row, and the ones the
job will not read carry their reason from here (link, not a regular file, name not UTF-8, hidden,
unreadable, over the size cap, not an image by its name). Local paths are `file:` URIs in which
only the bytes that are not UTF-8 and `%` itself are percent-encoded (`local_uri`).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Optional

from fruits.settings import Settings

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
SPLITS = ("Training", "Test")
# Far above a 50 MP JPEG (~20 MB); a bigger file is rejected from its listed size, never read.
MAX_FILE_BYTES = Settings.from_env().max_file_bytes
# Entries Spark's own readers skip (`is_hidden`); here they are rows with one of these reasons.
HIDDEN_FILE_REASON = "hidden file (name starts with . or _), not read"
HIDDEN_FOLDER_REASON = "hidden folder (name starts with . or _), not read"
HIDDEN_KEY_REASON = "hidden file (name or folder starts with . or _), not read"


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


def empty_file_reason() -> str:
    return "empty file (0 bytes)"


def too_large_reason(size: int) -> str:
    return f"file too large ({size:,} bytes, limit {MAX_FILE_BYTES:,}; FRUITS_MAX_FILE_BYTES)"


def local_uri(path: bytes) -> str:
    """`file:` URI of a local path given as bytes: `%` and bytes that are not UTF-8 are %XX-encoded.

    >>> local_uri(b"/in/P\\xc3\\xaache/50%.jpg"), local_uri(b"/in/Kiwi/\\xff.jpg")
    ('file:/in/Pêche/50%25.jpg', 'file:/in/Kiwi/%FF.jpg')
    """
    text = path.replace(b"%", b"%25").decode("utf-8", "surrogateescape")
    return "file:" + re.sub("[\udc80-\udcff]", lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)


def local_path_bytes(uri: str) -> bytes:
    """The exact bytes of the local path behind a `local_uri` (or a plain `file:` URI from Spark).

    >>> local_path_bytes("file:/in/Kiwi/%FF.jpg"), local_path_bytes("file:///in/50%25.jpg")
    (b'/in/Kiwi/\\xff.jpg', b'/in/50%.jpg')
    """
    path = re.sub(r"^file:(//(?=/))?", "", uri)
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), path.encode("utf-8", "surrogateescape"))


def non_image_reason(extension: str) -> str:
    shown = extension or "no extension"
    return f"not an image file ({shown}); accepted: {', '.join(sorted(IMAGE_EXTENSIONS))}"


def is_hidden(name: str) -> bool:
    """Files Spark's own readers skip: `_SUCCESS`, `.DS_Store`, `._x.jpg`, partial uploads."""
    return name.startswith(("_", "."))


@dataclass(frozen=True)
class ListedFile:
    """One entry seen under the input. `modified` is the filesystem's time in epoch milliseconds;
    `reason` is set when the listing already knows the job will not read it (a link, a name that is
    not UTF-8, no permission)."""

    path: str
    size: int
    modified: int
    reason: Optional[str] = None

    @property
    def is_readable_image(self) -> bool:
        return self.skip_reason is None

    @property
    def skip_reason(self) -> Optional[str]:
        """Why the job will not read this entry, or None when it is an image to featurize."""
        if self.reason is not None:
            return self.reason
        parsed = parse_image_path(self.path)
        if not parsed.is_image:
            return non_image_reason(parsed.extension)
        if self.size == 0:
            return empty_file_reason()
        if self.size > MAX_FILE_BYTES:
            return too_large_reason(self.size)
        return None


def local_reason(path: bytes, name: bytes, info: os.stat_result) -> Optional[str]:
    if stat.S_ISLNK(info.st_mode):
        return "symbolic link, not followed"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a device, pipe or socket)"
    try:
        path.decode("utf-8")
    except UnicodeDecodeError:
        return "path is not valid UTF-8 (undecodable bytes are %XX in the path column)"
    if is_hidden(os.fsdecode(name)):
        return HIDDEN_FILE_REASON
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def count_local_entries(root: str) -> int:
    """An independent count of what the local listing (fruits.listing) must return: `os.walk` over the same tree."""
    count, unreadable = 0, []
    for top, folders, files in os.walk(os.fsencode(root), onerror=unreadable.append):
        # os.walk puts links to folders among the folders; the listing rows them as links.
        skipped = [f for f in folders if is_hidden(os.fsdecode(f)) or os.path.islink(os.path.join(top, f))]
        count += len(files) + len(skipped)
        folders[:] = [f for f in folders if f not in skipped]
    return count + len(unreadable)  # an unreadable folder is one row


def count_remote_files(spark, uri: str) -> int:
    """An independent count of the files under a remote `uri`: the filesystem's content summary
    (on S3A, its own recursive LIST), hidden keys included."""
    root = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(root):
        raise FileNotFoundError(uri)
    return int(fs.getContentSummary(root).getFileCount())
