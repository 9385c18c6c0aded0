"""A local disk as the job sees it: paths as bytes, named by `file:` URIs, walked without following links.

Why bytes: the JVM's view of file names depends on the locale (under LC_ALL=POSIX it turns `Pêche`
into `P?che` and loses the file) and cannot name a file whose name is not valid UTF-8 at all, so a
local input is walked in Python, on bytes. A `file:` URI here percent-encodes only `%` itself and
the bytes that are not UTF-8 (`local_uri`), and `local_path_bytes` gives the exact bytes back.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Callable, Iterator, Optional


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


@dataclass(frozen=True)
class LocalEntry:
    """One entry met by a walk: its stat (never following a link), or why it could not be looked at."""

    path: bytes
    name: bytes
    info: Optional[os.stat_result] = None
    error: Optional[str] = None  # "folder not readable: ..." or "cannot stat: ..."

    @property
    def is_folder(self) -> bool:
        return self.info is not None and stat.S_ISDIR(self.info.st_mode)

    @property
    def is_link(self) -> bool:
        return self.info is not None and stat.S_ISLNK(self.info.st_mode)

    @property
    def is_regular(self) -> bool:
        return self.info is not None and stat.S_ISREG(self.info.st_mode)

    @property
    def readable(self) -> bool:
        return os.access(self.path, os.R_OK)

    @property
    def size(self) -> int:
        return int(self.info.st_size) if self.info is not None else 0

    @property
    def modified_ms(self) -> int:
        """The modification time in epoch milliseconds (0 when unknown)."""
        return int(self.info.st_mtime_ns // 1_000_000) if self.info is not None else 0


def walk(folder: bytes, descend: Callable[[LocalEntry], bool]) -> Iterator[LocalEntry]:
    """Every entry under `folder`, folders included; a folder is entered when `descend(entry)` says so.
    A folder that cannot be read is one entry with its `error`; links are never followed."""
    folders = [folder]
    while folders:
        current = folders.pop()
        try:
            with os.scandir(current) as entries:
                listed = list(entries)
        except OSError as exc:
            yield LocalEntry(current, os.path.basename(current), error=f"folder not readable: {exc.strerror or exc}")
            continue
        for entry in listed:
            try:
                found = LocalEntry(entry.path, entry.name, info=entry.stat(follow_symlinks=False))
            except OSError as exc:
                yield LocalEntry(entry.path, entry.name, error=f"cannot stat: {exc.strerror or exc}")
                continue
            yield found
            if found.is_folder and descend(found):
                folders.append(entry.path)


def subfolders(folder: str, keep: Callable[[str], bool]) -> list[str]:
    """The folders directly in `folder` (not links) whose name `keep` accepts; [] when it cannot be read."""
    try:
        with os.scandir(os.fsencode(folder)) as entries:
            return [os.fsdecode(e.path) for e in entries if e.is_dir(follow_symlinks=False) and keep(os.fsdecode(e.name))]
    except OSError:
        return []


def look_up(uri: str) -> LocalEntry:
    """The entry a `file:` URI names, or one whose `error` says why not (FileNotFoundError is raised)."""
    path = local_path_bytes(uri)
    try:
        return LocalEntry(path, os.path.basename(path), info=os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        raise
    except OSError as exc:
        return LocalEntry(path, os.path.basename(path), error=f"cannot stat: {exc.strerror or exc}")


def count_entries(root: str, skip_folder: Callable[[str], bool]) -> int:
    """An independent count of what a walk of `root` yields below it, folders aside: `os.walk` over the
    same tree, links to folders and skipped folders counted as one entry each, an unreadable folder as one."""
    count, unreadable = 0, []
    for top, folders, files in os.walk(os.fsencode(root), onerror=unreadable.append):
        skipped = [f for f in folders if skip_folder(os.fsdecode(f)) or os.path.islink(os.path.join(top, f))]
        count += len(files) + len(skipped)
        folders[:] = [f for f in folders if f not in skipped]
    return count + len(unreadable)


def is_folder(path: bytes) -> bool:
    return os.path.isdir(path)


def absolute(path: str) -> bytes:
    return os.path.abspath(os.fsencode(path))
