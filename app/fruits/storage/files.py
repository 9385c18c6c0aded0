"""The driver's file operations on an output, a pack or an input's top: run folders, markers,
metrics, pictures, model files, pack manifests, sweeping data folders. Local paths and `file:` URIs
through `os`; `s3://` and `s3a://` URIs through obstore (fruits.storage.object_store), with the
run's S3 settings and AWS's credential chain.

Why not Spark's Hadoop filesystem: the job must run on a Spark Connect session, a thin client with
no JVM in its process, and these files are the driver's own. Spark still writes the tables' data
files through S3A; both clients use the same endpoint (fruits.spark.session.effective_s3).

A folder on S3 is a key prefix: it exists while an object lies below it, and deleting it deletes
every object below `folder/` (never `folder2/...`). S3 requests are retried with the workers'
backoff (fruits.storage.retry), fewer times.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable, Optional, Sequence

from fruits.config.job_config import S3Settings
from fruits.config.layout import temporary_name
from fruits.config.uris import check_supported, is_s3
from fruits.storage import object_store
from fruits.storage.retry import with_retries

# The driver's own S3 requests: a few quick attempts (about 1.5 s in all), so a wrong endpoint fails
# in seconds, as S3A did for these files, while a dropped connection or a brief SlowDown is retried.
ATTEMPTS = 5


def _local(uri: str) -> Path:
    """The local path of a plain path or a `file:` URI, taken as it is: no percent-decoding, and `#`
    or `?` are the name's own characters (as in the URIs fruits.config.uris.normalize_uri makes)."""
    if uri.startswith("file:"):
        return Path(re.sub(r"^file:(//(?=/))?", "", uri))
    return Path(uri).expanduser()


class Files:
    """File operations under one root (an output, a pack, an input), local or on S3."""

    def __init__(self, root: str, s3: Optional[S3Settings] = None):
        check_supported(root, "location")
        self.root = root
        self.s3 = s3 or S3Settings()

    def _on_s3(self, uri: str) -> bool:
        check_supported(uri, "location")
        return is_s3(uri)

    def _retried(self, call):
        return with_retries(call, attempts=ATTEMPTS)

    def exists(self, uri: str) -> bool:
        """A file or a folder (on S3: an object, or a prefix with an object below it)."""
        if self._on_s3(uri):
            return self._retried(lambda: (bool(object_store.split(uri)[1]) and object_store.head(self.s3, uri) is not None)
                                 or object_store.has_objects(self.s3, uri))
        return _local(uri).exists()

    def read_bytes(self, uri: str) -> bytes:
        if self._on_s3(uri):
            return self._retried(lambda: object_store.read(self.s3, uri)[0])
        return _local(uri).read_bytes()

    def read_text(self, uri: str) -> str:
        return self.read_bytes(uri).decode("utf-8")

    def upload(self, local_file: Path, uri: str) -> None:
        """Copy a local file to `uri` (overwritten; its folder made)."""
        if self._on_s3(uri):
            self._retried(lambda: object_store.upload(self.s3, Path(local_file), uri))
            return
        target = _local(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_file, target)

    def download(self, uri: str, local_file: Path) -> None:
        """Copy `uri` to a local file (overwritten; its folder made)."""
        Path(local_file).parent.mkdir(parents=True, exist_ok=True)
        if self._on_s3(uri):
            self._retried(lambda: object_store.download(self.s3, uri, Path(local_file)))
            return
        shutil.copyfile(_local(uri), local_file)

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write `uri` (overwritten; its folder made). Not atomic locally: `replace` is."""
        if self._on_s3(uri):
            self._retried(lambda: object_store.put(self.s3, uri, data))
            return
        target = _local(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def replace(self, uri: str, data: bytes, tag: str) -> None:
        """Overwrite `uri` so that a reader sees the old or the new content, never a mix: one PUT on S3,
        locally a temporary file beside it (named by `tag`, `fruits.config.layout.temporary_name`) moved into place."""
        if self._on_s3(uri):
            self._retried(lambda: object_store.put(self.s3, uri, data))
            return
        target = _local(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(temporary_name(target.name, tag))
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, uri: str) -> None:
        """Delete a file, or a folder and everything in it (nothing there is fine). A link is removed,
        never followed; on S3 only `uri` itself and the objects below `uri/` go."""
        if self._on_s3(uri):
            uri = uri.rstrip("/")
            if not object_store.split(uri)[1]:
                raise OSError(f"refusing to delete the whole bucket {uri}")
            self._retried(lambda: object_store.delete(self.s3, uri))
            self._retried(lambda: object_store.delete_folder(self.s3, uri))
            return
        path = _local(uri)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    def _entries(self, uri: str) -> list[tuple[str, bool]]:
        """(name, is a folder) of the entries directly in the folder `uri`; [] when there is no such folder."""
        if self._on_s3(uri):
            folder = "/".join(object_store.split(uri)).rstrip("/")
            found = self._retried(lambda: object_store.list_entries(self.s3, folder, recursive=False))
            return [(e.name, e.is_folder) for e in found if e.name and e.key.rstrip("/") != folder]  # not the folder's own marker
        try:
            with os.scandir(_local(uri)) as entries:
                return [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def names(self, uri: str) -> list[str]:
        """Names of the entries directly in the folder `uri`, sorted ([] when there is no such folder)."""
        return sorted({name for name, _ in self._entries(uri)})

    def folders(self, uri: str) -> list[str]:
        """Names of the folders directly in `uri`, sorted ([] when there is no such folder); links are not folders."""
        return sorted({name for name, is_folder in self._entries(uri) if is_folder})

    def count_files(self, uri: str) -> int:
        """Files under `uri`, hidden ones included, counted apart from any listing (on S3 by a flat
        LIST, page by page; locally by os.walk, links not followed). FileNotFoundError when there is nothing there."""
        if self._on_s3(uri):
            count = self._retried(lambda: object_store.count_objects(self.s3, uri))
            if count == 0 and self._retried(lambda: object_store.head(self.s3, uri)) is not None:
                return 1
            if count == 0:
                raise FileNotFoundError(f"nothing at {uri}")
            return count
        root = _local(uri)
        if not root.exists():
            raise FileNotFoundError(f"nothing at {uri}")
        if not root.is_dir():
            return 1
        return sum(len(files) + sum(1 for f in folders if os.path.islink(os.path.join(top, f)))
                   for top, folders, files in os.walk(root))

    def copy_into(self, files: Sequence[str], folder: str, name: Callable[[str], str]) -> None:
        """Copy each file URI of `files` to `folder/name(uri)`: server-side within one bucket, else through this process."""
        for uri in files:
            self._copy(uri, f"{folder}/{name(uri)}")

    def _copy(self, uri: str, target: str) -> None:
        if self._on_s3(uri) and self._on_s3(target) and object_store.split(uri)[0] == object_store.split(target)[0]:
            self._retried(lambda: object_store.copy(self.s3, uri, target))
        elif not self._on_s3(uri) and not self._on_s3(target):
            _local(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_local(uri), _local(target))
        else:
            self.write_bytes(target, self.read_bytes(uri))

    def move(self, uri: str, target: str) -> None:
        """Move one file to `target` (its folder made, a file there replaced): a rename locally, a copy
        and a delete on S3. FileNotFoundError when `uri` is absent."""
        if not self._on_s3(uri) and not self._on_s3(target):
            destination = _local(target)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(_local(uri), destination)
            return
        self._copy(uri, target)
        if self._on_s3(uri):
            self._retried(lambda: object_store.delete(self.s3, uri))
        else:
            _local(uri).unlink()
