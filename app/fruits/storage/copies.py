"""Put a previous run's table files into a new run without rewriting them.

`--incremental --reuse-model` keeps the previous rows and their projection as they are, so a
features file whose rows all stay is the same file in the new run. Rewriting it would make each
incremental run cost as much as the whole lake; carrying it costs almost nothing:

- a local output gets a hard link (the same bytes under a second name; deleting the old run
  later removes only its own name), or a copy where the filesystem refuses links;
- an S3 output gets a server-side copy (CopyObject, through fruits.storage.object_store, several in
  flight): no byte travels through the job;
- any other Hadoop filesystem gets a copy through the driver.

Each run folder stays a complete table on its own, so readers and `--keep-runs` see nothing new.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence
from urllib.parse import unquote, urlparse

from fruits.config.job_config import S3Settings
from fruits.config.uris import is_remote, is_s3, local_path
from fruits.storage import object_store
from fruits.storage.hadoop import HadoopFiles
from fruits.storage.retry import with_retries

log = logging.getLogger(__name__)

COPY_THREADS = 8
# What a filesystem says when it cannot link (another device, links not supported or not allowed).
NO_LINKS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP}


def uri_path(uri: str) -> str:
    """The decoded path of a file URI as Spark's `input_file_name()` gives it (percent-encoded).

    >>> uri_path("file:///out/a%20b/runs/r/features/part-00000-x.snappy.parquet")
    '/out/a b/runs/r/features/part-00000-x.snappy.parquet'
    """
    return unquote(urlparse(uri).path)


def file_name(uri: str) -> str:
    return posixpath.basename(uri_path(uri))


def carry_files(hadoop: HadoopFiles, files: Sequence[str], folder: str, s3: S3Settings) -> str:
    """Put every file of `files` (URIs) into `folder` under its own name; returns how it was done.
    `hadoop` copies where neither a link nor a server-side copy can (another Hadoop filesystem)."""
    if not files:
        return "nothing to carry"
    if is_s3(folder):
        return _server_side_copies(files, folder, s3)
    if is_remote(folder):
        hadoop.copy_into(files, folder, file_name)
        return "copies through the driver"
    return _hard_links(files, local_path(folder))


def _hard_links(files: Sequence[str], folder: Path) -> str:
    copied = 0
    for uri in files:
        source = Path(uri_path(uri))
        checksum = source.with_name(f".{source.name}.crc")  # Hadoop's local checksum file, where there is one
        for name in [source.name] + ([checksum.name] if checksum.exists() else []):
            try:
                os.link(source.parent / name, folder / name)
            except OSError as exc:
                if exc.errno not in NO_LINKS:
                    raise
                shutil.copyfile(source.parent / name, folder / name)
                copied += 1
    if copied:
        log.warning("this filesystem refused hard links: %d carried files were copied instead", copied)
        return "copied (no hard links here)"
    return "hard links"


def _server_side_copies(files: Sequence[str], folder: str, s3: S3Settings) -> str:
    def copy(uri: str) -> None:
        with_retries(lambda: object_store.copy(s3, uri, f"{folder}/{file_name(uri)}"))

    with ThreadPoolExecutor(max_workers=COPY_THREADS, thread_name_prefix="fruits-carry") as pool:
        list(pool.map(copy, files))
    return "server-side copies"
