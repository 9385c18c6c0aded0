"""One small file that several processes race for: created only if absent, replaced only if unchanged.

The output's lock (fruits.table.lock) is built on these two operations:

- local disk (or a POSIX shared filesystem): create is `open(O_CREAT | O_EXCL)`; replace renames
  that exact file out of the way (of two contenders, one rename succeeds), checks its bytes are
  the version read, then creates again;
- S3 (s3a://): conditional PUTs (fruits.storage.object_store), `If-None-Match: *` to create and
  `If-Match: <etag>` to replace; AWS S3 and MinIO honour them.

Other stores (hdfs://, ...) are refused: they would need the JVM, which a Spark Connect client lacks.

`read()` gives the bytes, a version to pass back to `replace`, and when the file was written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional, Union

from fruits.config.job_config import S3Settings
from fruits.config.layout import aside_name
from fruits.config.uris import check_supported, is_s3, local_path
from fruits.storage import object_store
from fruits.storage.object_store import ConditionFailed

log = logging.getLogger(__name__)

Version = Union[bytes, str]


class LocalConditionalFile:
    """The file on a local disk or a POSIX shared filesystem."""

    def __init__(self, path: Path):
        self.path = path

    def create(self, data: bytes) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return True

    def read(self) -> Optional[tuple[bytes, Version, float]]:
        """The content, its version (the exact bytes, compared on replace) and its modification time, or None."""
        try:
            data = self.path.read_bytes()
            written_at = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        return data, data, written_at

    def replace(self, version: Version, data: bytes) -> bool:
        """Swap the file for `data` only if it still holds exactly `version`."""
        aside = self.path.with_name(aside_name(os.urandom(6).hex()))
        try:
            os.rename(self.path, aside)  # atomic: of two contenders, one gets the file
        except FileNotFoundError:
            return False
        try:
            if aside.read_bytes() != version:
                # Someone renewed or took it between our read and our rename: put it back untouched.
                try:
                    os.link(aside, self.path)
                except FileExistsError:
                    log.warning("%s changed under us and was replaced meanwhile", self.path)
                return False
            return self.create(data)
        finally:
            aside.unlink(missing_ok=True)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


class S3ConditionalFile:
    """The object on S3, by conditional PUTs."""

    def __init__(self, s3: S3Settings, uri: str):
        self._s3 = s3
        self._uri = uri

    def create(self, data: bytes) -> bool:
        try:
            object_store.put(self._s3, self._uri, data, if_absent=True)
        except ConditionFailed:
            return False
        return True

    def read(self) -> Optional[tuple[bytes, Version, float]]:
        try:
            data, etag, written_at = object_store.read(self._s3, self._uri)
        except FileNotFoundError:
            return None
        return data, etag, written_at

    def replace(self, version: Version, data: bytes) -> bool:
        try:
            object_store.put(self._s3, self._uri, data, if_etag=str(version))
        except (ConditionFailed, FileNotFoundError):
            return False
        return True

    def delete(self) -> None:
        object_store.delete(self._s3, self._uri)


def conditional_file(uri: str, s3: Optional[S3Settings] = None):
    """The conditional file at `uri`: local paths directly, S3 objects by conditional PUTs (with the
    run's `s3` settings). ConfigError for any other store (fruits.config.uris.check_supported)."""
    check_supported(uri, "location")
    if is_s3(uri):
        return S3ConditionalFile(s3 or S3Settings(), uri)
    return LocalConditionalFile(local_path(uri))
