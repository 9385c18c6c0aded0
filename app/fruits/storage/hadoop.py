"""Files of an output, a pack or a remote input through Spark's Hadoop FileSystem (via the JVM), so
s3a://, file:// and hdfs:// behave alike and use the session's S3A settings and credentials.

Why the JVM here: the output's small files (the pointer, markers, metrics, pictures) sit beside
tables that Spark itself writes through S3A, and one client with one configuration for both keeps
them consistent. A local path is written directly only where an atomic replace (`os.replace`) is
needed. Needs a classic Spark session (a JVM in this process).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from fruits.config.layout import temporary_name
from fruits.config.uris import is_remote, local_path


class HadoopFiles:
    """File operations under one root URI through the JVM's Hadoop FileSystem."""

    def __init__(self, spark, root: str):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._path(root).getFileSystem(self._conf)

    def _path(self, uri: str):
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def exists(self, uri: str) -> bool:
        return bool(self._fs.exists(self._path(uri)))

    def read_text(self, uri: str) -> str:
        stream = self._fs.open(self._path(uri))
        try:
            data = bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()
        return data.decode("utf-8")

    def upload(self, local_file: Path, uri: str) -> None:
        self._fs.copyFromLocalFile(False, True, self._path(str(local_file)), self._path(uri))

    def download(self, uri: str, local_file: Path) -> None:
        self._fs.copyToLocalFile(False, self._path(uri), self._path(str(local_file)), True)

    def write_bytes(self, uri: str, data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / "content"
            file.write_bytes(data)
            self.upload(file, uri)

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def replace(self, uri: str, data: bytes, tag: str) -> None:
        """Overwrite `uri` so that a reader sees the old or the new content, never a mix: one PUT on S3,
        locally a temporary file beside it (named by `tag`, `fruits.config.layout.temporary_name`) moved into place."""
        if is_remote(uri):
            self.write_bytes(uri, data)
            return
        target = local_path(uri)
        tmp = target.with_name(temporary_name(target.name, tag))
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def names(self, uri: str) -> list[str]:
        """Names of the entries directly in the folder `uri`, sorted ([] when there is no such folder)."""
        folder = self._path(uri)
        if not self._fs.exists(folder):
            return []
        return sorted(status.getPath().getName() for status in self._fs.listStatus(folder))

    def folders(self, uri: str) -> list[str]:
        """Names of the folders directly in `uri`, sorted ([] when there is no such folder)."""
        folder = self._path(uri)
        if not self._fs.exists(folder):
            return []
        return sorted(status.getPath().getName() for status in self._fs.listStatus(folder) if status.isDirectory())

    def count_files(self, uri: str) -> int:
        """Files under `uri`, hidden ones included: the filesystem's content summary (on S3A, its own
        recursive LIST). FileNotFoundError when there is nothing there."""
        root = self._path(uri)
        if not self._fs.exists(root):
            raise FileNotFoundError(uri)
        return int(self._fs.getContentSummary(root).getFileCount())

    def copy_into(self, files: Sequence[str], folder: str, name) -> None:
        """Copy each file URI of `files` to `folder/name(uri)` through this process (any Hadoop filesystem)."""
        for uri in files:
            source = self._jvm.org.apache.hadoop.fs.Path(self._jvm.java.net.URI(uri))
            target = self._path(f"{folder}/{name(uri)}")
            self._jvm.org.apache.hadoop.fs.FileUtil.copy(source.getFileSystem(self._conf), source, target.getFileSystem(self._conf),
                                                         target, False, self._conf)

    def move(self, uri: str, target: str) -> None:
        """Move one file to `target` (its folder made): a rename locally, a copy and a delete on S3."""
        destination = self._path(target)
        self._fs.mkdirs(destination.getParent())
        if not self._fs.rename(self._path(uri), destination):
            raise OSError(f"could not move {uri} to {target}")
