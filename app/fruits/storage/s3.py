"""S3 as the job addresses it: keys of `s3a://` URIs, endpoints, timeouts, and the one place
pyarrow's S3 filesystem is still used: listing a prefix that holds keys obstore cannot name
(`fruits.storage.object_store` does everything else).
"""

from __future__ import annotations

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


UNADDRESSABLE_KEY_REASON = "S3 key with an empty, '.' or '..' path segment: S3 clients cannot address it, not read"


def has_unaddressable_segment(key: str) -> bool:
    """Whether a key has a segment obstore (and URL normalisation) cannot name: empty, `.` or `..`.

    >>> has_unaddressable_segment("in/a//b.jpg"), has_unaddressable_segment("in/../b.jpg"), has_unaddressable_segment("in/a.b/c.jpg")
    (True, True, False)
    """
    return any(part in ("", ".", "..") for part in key.rstrip("/").split("/"))


def list_with_pyarrow(s3: S3Settings, key: str, recursive: bool) -> list[tuple[str, bool, int, int]]:
    """(bucket/key, is_folder, size, modified_ms) of the entries under `key`, through pyarrow's S3
    filesystem: the fallback for a prefix holding keys obstore refuses to name, so that each of them
    is still a row (with UNADDRESSABLE_KEY_REASON) instead of a failed listing."""
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
    selector = fs.FileSelector(key, recursive=recursive, allow_not_found=True)
    found = []
    for info in fs.S3FileSystem(**options).get_file_info(selector):
        if info.type in (fs.FileType.Directory, fs.FileType.File):
            modified = int(info.mtime_ns // 1_000_000) if info.mtime_ns is not None else 0
            found.append((info.path, info.type == fs.FileType.Directory, int(info.size or 0), modified))
    return found
