"""S3 as the job addresses it: keys of `s3a://` URIs, endpoints, timeouts, and pyarrow's S3
filesystem for listings and server-side copies (`fruits.storage.s3_get` sends the reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlparse

from fruits.config.job_config import S3Settings

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60


def endpoint_url(endpoint: str) -> str:
    """An endpoint with its scheme; https when none is given.

    >>> endpoint_url("minio:9000"), endpoint_url("http://127.0.0.1:9000")
    ('https://minio:9000', 'http://127.0.0.1:9000')
    """
    return endpoint if "://" in endpoint else "https://" + endpoint


def s3_key(uri: str) -> str:
    """The `bucket/key` of an `s3a://bucket/key` URI. A key is taken as it is, never parsed as a
    URL: `#`, `?` and `%` are the key's own characters.

    >>> s3_key("s3a://fruits/input/Training/Kiwi/1 (2).jpg"), s3_key("s3a://fruits/in/#1?50%.jpg")
    ('fruits/input/Training/Kiwi/1 (2).jpg', 'fruits/in/#1?50%.jpg')
    """
    return uri.partition("://")[2]


def s3_filesystem(s3: S3Settings):
    """pyarrow's S3 filesystem for the job's settings (endpoint, path style, retries)."""
    from pyarrow import fs

    options: dict = {
        "region": s3.region,
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=1),  # retried by `with_retries`
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "request_timeout": READ_TIMEOUT_SECONDS,
    }
    if s3.endpoint:
        endpoint = urlparse(endpoint_url(s3.endpoint))
        options["endpoint_override"] = endpoint.netloc
        options["scheme"] = endpoint.scheme
    if s3.path_style is False:
        options["force_virtual_addressing"] = True
    return fs.S3FileSystem(**options)


@dataclass(frozen=True)
class S3Entry:
    """One entry of a LIST page: an object (with its size and time) or a common prefix (a folder)."""

    key: str  # bucket/key, as s3_key gives it
    is_folder: bool
    size: int = 0
    modified_ms: int = 0

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rsplit("/", 1)[-1]


def list_s3(s3fs, key: str, recursive: bool) -> list[S3Entry]:
    """The entries under `key` (bucket/prefix) from LIST pages only: no request per object. Not retried here."""
    from pyarrow import fs

    selector = fs.FileSelector(key, recursive=recursive, allow_not_found=True)
    entries = []
    for info in s3fs.get_file_info(selector):
        if info.type == fs.FileType.Directory:
            entries.append(S3Entry(info.path, True))
        elif info.type == fs.FileType.File:
            modified = int(info.mtime_ns // 1_000_000) if info.mtime_ns is not None else 0
            entries.append(S3Entry(info.path, False, int(info.size), modified))
    return entries


def look_up_s3(s3fs, key: str) -> Optional[S3Entry]:
    """The object at `key` (one HEAD: for lists that name objects without their size), or None when there is none."""
    from pyarrow import fs

    info = s3fs.get_file_info(key)
    if info.type != fs.FileType.File:
        return None
    return S3Entry(info.path, False, int(info.size), int(info.mtime_ns // 1_000_000) if info.mtime_ns else 0)
