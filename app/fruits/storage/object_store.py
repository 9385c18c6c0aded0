"""S3 through obstore (Rust's `object_store`): one client per bucket and process, for every
request the job makes to S3 from Python: GETs, listings, look-ups, conditional PUTs, uploads,
copies, deletes (the workers' reads, the lock, and the driver's small files: fruits.storage.files).

Why obstore: it sends each GET once, with no HEAD before it (the listing knows the size), outside
Python's GIL, over pooled connections; it signs SigV4 and follows AWS's credential chain (keys in
the environment, IRSA web identity, EKS Pod Identity, instance profiles); it does conditional PUTs
(`If-None-Match: *`, `If-Match`), server-side copies and bulk deletes. `make bench-s3` and
docs/decisions.md have the comparison with the libcurl reader it replaced.

What is written here: its exceptions turned into the `OSError`s the job retries
(`fruits.storage.retry`) or reports, and the addressing rules. obstore's own retries are off:
the job's backoff counts every retry into metrics.json.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from fruits.config.job_config import S3Settings
from fruits.errors import ConfigError
from fruits.storage.retry import FinalError
from fruits.storage.s3 import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, endpoint_url, list_with_pyarrow, s3_key

_STATUS = re.compile(r"\bstatus(?: code)?:? (\d{3})\b", re.IGNORECASE)
_ERROR_CODE = re.compile(r"<Code>([^<]{1,64})</Code>")
_CONNECT_CAUSE = re.compile(r'ConnectError\(\s*"([^"]{1,80})"(?:[^"]*?(?:message|error): "([^"]{1,160})")?')
_CREDENTIALS_SOURCE = re.compile(r"169\.254\.169\.254|/latest/api/token|AssumeRoleWithWebIdentity|credentials? (provider|error|fetch)",
                                 re.IGNORECASE)


class ObjectChanged(OSError):
    """The object's size is not the listed one: it was replaced since the listing."""

    def __init__(self, found: int, listed: int) -> None:
        super().__init__(f"object changed during the run ({found:,} bytes now, {listed:,} listed)")


class UnaddressableKey(FinalError):
    """A key obstore cannot name: an empty, `.` or `..` path segment (S3 allows them)."""


class ConditionFailed(Exception):
    """A conditional PUT lost: the object exists (create) or changed since it was read (replace)."""


@dataclass(frozen=True)
class S3Entry:
    """One entry of a LIST page: an object (with its size, time and ETag) or a common prefix (a folder)."""

    key: str  # bucket/key, as s3_key gives it
    is_folder: bool
    size: int = 0
    modified_ms: int = 0
    etag: Optional[str] = None

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rsplit("/", 1)[-1]


def split(uri_or_key: str) -> tuple[str, str]:
    """(bucket, key) of an `s3a://bucket/key` URI or a `bucket/key`.

    >>> split("s3a://lake/in/Kiwi/1 #2.jpg"), split("lake")
    (('lake', 'in/Kiwi/1 #2.jpg'), ('lake', ''))
    """
    bucket, _, key = (s3_key(uri_or_key) if "://" in uri_or_key else uri_or_key).partition("/")
    return bucket, key


def virtual_hosted(s3: S3Settings, bucket: str) -> bool:
    """Whether requests name the bucket in the host: on AWS (the bucket's regional host) unless path
    style is asked for or the name has dots (TLS certificates cover one level); on a custom endpoint
    only when `path_style` is False.

    >>> virtual_hosted(S3Settings(), "lake"), virtual_hosted(S3Settings(), "my.lake"), virtual_hosted(S3Settings(endpoint="http://m:9000"), "lake")
    (True, False, False)
    """
    if s3.endpoint:
        return s3.path_style is False
    return not s3.path_style and "." not in bucket


# S3A's names of the server-side encryption algorithms (fs.s3a.encryption.algorithm) -> S3's, as obstore takes them.
ENCRYPTION_ALGORITHMS = {"SSE-S3": "AES256", "SSE-KMS": "aws:kms", "DSSE-KMS": "aws:kms:dsse"}


def encryption_config(s3: S3Settings) -> dict[str, Any]:
    """obstore's request-payer and server-side encryption settings, from the names S3A uses.

    >>> encryption_config(S3Settings(requester_pays=True, encryption="SSE-KMS", kms_key_id="alias/lake"))
    {'request_payer': True, 'server_side_encryption': 'aws:kms', 'sse_kms_key_id': 'alias/lake'}
    >>> encryption_config(S3Settings(kms_key_id="alias/lake"))
    Traceback (most recent call last):
      ...
    fruits.errors.ConfigError: FRUITS_S3_KMS_KEY_ID is set but FRUITS_S3_ENCRYPTION is not SSE-KMS or DSSE-KMS (None)
    """
    config: dict[str, Any] = {}
    if s3.requester_pays:
        config["request_payer"] = True
    if s3.encryption is not None:
        if s3.encryption not in ENCRYPTION_ALGORITHMS:
            raise ConfigError(f"FRUITS_S3_ENCRYPTION must be one of {', '.join(ENCRYPTION_ALGORITHMS)}, got {s3.encryption!r}")
        config["server_side_encryption"] = ENCRYPTION_ALGORITHMS[s3.encryption]
    if s3.kms_key_id is not None:
        if s3.encryption not in ("SSE-KMS", "DSSE-KMS"):
            raise ConfigError(f"FRUITS_S3_KMS_KEY_ID is set but FRUITS_S3_ENCRYPTION is not SSE-KMS or DSSE-KMS ({s3.encryption})")
        config["sse_kms_key_id"] = s3.kms_key_id
    return config


def store_config(s3: S3Settings, bucket: str) -> dict[str, Any]:
    """obstore's S3 settings for `bucket`.

    >>> store_config(S3Settings(endpoint="minio.lake:9000", path_style=False), "fruits")["endpoint"]
    'https://fruits.minio.lake:9000'
    """
    config: dict[str, Any] = {"region": s3.region, "virtual_hosted_style_request": virtual_hosted(s3, bucket),
                              **encryption_config(s3)}
    endpoint = s3.endpoint
    if not endpoint and s3.region.startswith("cn-"):  # AWS China: its own domain, which obstore does not derive
        endpoint = f"https://s3.{s3.region}.amazonaws.com.cn"
    if endpoint:
        url = urlsplit(endpoint_url(endpoint))
        host = f"{bucket}.{url.netloc}" if config["virtual_hosted_style_request"] else url.netloc
        config["endpoint"] = f"{url.scheme}://{host}"
    return config


_STORES: dict[tuple[S3Settings, str], Any] = {}
_LOCK = threading.Lock()


def store(s3: S3Settings, bucket: str):
    """This process's client for `bucket` (made once; thread-safe; connections pooled)."""
    with _LOCK:
        if (s3, bucket) not in _STORES:
            from obstore.store import S3Store

            client: dict[str, Any] = {"connect_timeout": timedelta(seconds=CONNECT_TIMEOUT_SECONDS),
                                      "timeout": timedelta(seconds=READ_TIMEOUT_SECONDS)}
            if s3.endpoint and endpoint_url(s3.endpoint).startswith("http://"):
                client["allow_http"] = True
            if s3.ca_bundle:
                with open(s3.ca_bundle, "rb") as pem:
                    client["root_certificate"] = pem.read()
            _STORES[(s3, bucket)] = S3Store(bucket, config=store_config(s3, bucket), client_options=client,
                                            retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=READ_TIMEOUT_SECONDS)})
        return _STORES[(s3, bucket)]


def clear_clients() -> None:
    """Forget this process's clients: the next request makes a new one and reads the credentials
    again (static keys rotated in a long-lived process; IRSA and Pod Identity tokens refresh by themselves)."""
    with _LOCK:
        _STORES.clear()


def os_error(exc: BaseException, uri: str) -> OSError:
    """The `OSError` for a failed request: missing (FileNotFoundError) and denied (PermissionError)
    objects and other 4xx answers are final; throttling, 5xx and network failures carry words that
    `fruits.storage.retry.is_retryable` retries. The text holds S3's error code, never a credential.
    """
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return exc
    from obstore import exceptions as obs

    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    status = _STATUS.search(text)
    code = _ERROR_CODE.search(text)
    answer = f"HTTP {status.group(1)} {code.group(1) if code else 'no error code'}" if status else None
    if _CREDENTIALS_SOURCE.search(text):  # the chain ended at the instance metadata service, or a token exchange failed
        return PermissionError(f"cannot read {uri}: no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                               f"IRSA web identity, EKS Pod Identity or an instance profile): {_scrub(first)}")
    if isinstance(exc, FileNotFoundError) or (status and status.group(1) == "404"):
        return FileNotFoundError(f"{answer or 'HTTP 404 NoSuchKey'} for {uri}")
    if isinstance(exc, (obs.PermissionDeniedError, obs.UnauthenticatedError)) or (status and status.group(1) in ("401", "403")):
        return PermissionError(f"{answer or 'access denied'} for {uri}")
    if isinstance(exc, (obs.InvalidPathError, ValueError)):
        return UnaddressableKey(f"S3 key of {uri} cannot be addressed (an empty, '.' or '..' path segment)")
    if status and status.group(1).startswith("4") and status.group(1) not in ("408", "429"):
        return FinalError(f"{answer} for {uri}")
    if status:
        return OSError(f"{answer} for {uri}")  # 5xx, SlowDown, 408, 429: is_retryable says yes
    cause = _CONNECT_CAUSE.search(text)  # the refused connection or the failed name look-up, deep in the debug text
    because = f" ({cause.group(1)}: {cause.group(2) or 'no detail'})" if cause else ""
    return OSError(f"connection failed for {uri}: {_scrub(first)}{because}")


def _scrub(text: str) -> str:
    """A message without query strings (a presigned part, a token) and cut to a readable length."""
    return re.sub(r"\?[^\s\"']*", "?...", text)[:300]


def get(s3: S3Settings, uri: str, size: Optional[int]) -> bytes:
    """The object's bytes in one GET, `size` of them as listed; `ObjectChanged` (without reading its
    body) when it has another size now. `size` None: whatever it holds now (a path with no listing)."""
    import obstore

    bucket, key = split(uri)
    try:
        result = obstore.get(store(s3, bucket), key)
        found = int(result.meta["size"])
        if size is not None and found != size:
            raise ObjectChanged(found, size)
        data = bytes(result.bytes())
    except ObjectChanged:
        raise
    except Exception as exc:  # noqa: BLE001 - obstore's errors, mapped to what the job retries or reports
        raise os_error(exc, uri) from None
    if size is not None and len(data) != size:
        raise ObjectChanged(len(data), size)
    return data


def list_entries(s3: S3Settings, prefix: str, recursive: bool) -> list[S3Entry]:
    """The entries under `prefix` (bucket/prefix) from LIST pages only: no request per object.
    Recursive: every object below; else the objects and folders directly in it. A prefix holding
    a key obstore cannot name (`has_unaddressable_segment`) is listed through pyarrow instead, so
    that key is still an entry."""
    import obstore

    bucket, key = split(prefix)
    folder = key.rstrip("/") + "/" if key else ""
    client = store(s3, bucket)
    try:
        if recursive:
            return [_entry(bucket, meta) for chunk in obstore.list(client, folder or None) for meta in chunk]
        found = obstore.list_with_delimiter(client, folder or None)
    except Exception as exc:  # noqa: BLE001
        mapped = os_error(exc, f"s3a://{prefix}")
        if isinstance(mapped, UnaddressableKey):
            return [S3Entry(path, is_folder, size, modified) for path, is_folder, size, modified
                    in list_with_pyarrow(s3, prefix.rstrip("/"), recursive)]
        raise mapped from None
    return ([S3Entry(f"{bucket}/{p.rstrip('/')}", True) for p in found["common_prefixes"]]
            + [_entry(bucket, meta) for meta in found["objects"]])


def _entry(bucket: str, meta: dict) -> S3Entry:
    modified = meta.get("last_modified")
    return S3Entry(f"{bucket}/{meta['path']}", False, int(meta["size"]),
                   int(modified.timestamp() * 1000) if modified is not None else 0, meta.get("e_tag"))


def head(s3: S3Settings, uri: str) -> Optional[S3Entry]:
    """The object at `uri` (one HEAD: for lists that name objects without their size), or None when there is none."""
    import obstore

    bucket, key = split(uri)
    try:
        return _entry(bucket, obstore.head(store(s3, bucket), key))
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001
        mapped = os_error(exc, uri)
        if isinstance(mapped, FileNotFoundError):
            return None
        raise mapped from None


def read(s3: S3Settings, uri: str) -> tuple[bytes, str, float]:
    """A small object's bytes, its ETag (the version a conditional replace names) and when it was
    written (epoch seconds). FileNotFoundError when absent."""
    import obstore

    bucket, key = split(uri)
    try:
        result = obstore.get(store(s3, bucket), key)
        meta = result.meta
        return bytes(result.bytes()), str(meta.get("e_tag")), meta["last_modified"].timestamp()
    except Exception as exc:  # noqa: BLE001
        raise os_error(exc, uri) from None


def put(s3: S3Settings, uri: str, data: bytes, if_absent: bool = False, if_etag: Optional[str] = None) -> str:
    """Write `data` at `uri`, returns its ETag. `if_absent`: only if nothing is there (`If-None-Match: *`);
    `if_etag`: only if it is still that version (`If-Match`). `ConditionFailed` when the condition does not hold."""
    import obstore
    from obstore import exceptions as obs

    bucket, key = split(uri)
    mode: Union[str, dict, None] = "create" if if_absent else ({"e_tag": if_etag} if if_etag is not None else None)
    try:
        return str(obstore.put(store(s3, bucket), key, data, mode=mode)["e_tag"])
    except (obs.AlreadyExistsError, obs.PreconditionError) as exc:
        raise ConditionFailed(str(exc).splitlines()[0]) from None
    except Exception as exc:  # noqa: BLE001
        raise os_error(exc, uri) from None


def copy(s3: S3Settings, source: str, target: str) -> None:
    """A server-side copy (CopyObject) within one bucket: no byte travels through this process."""
    import obstore

    bucket, key = split(source)
    target_bucket, target_key = split(target)
    if target_bucket != bucket:
        raise FinalError(f"cannot copy {source} to another bucket ({target})")
    try:
        obstore.copy(store(s3, bucket), key, target_key)
    except Exception as exc:  # noqa: BLE001
        raise os_error(exc, source) from None


def delete(s3: S3Settings, uri: str) -> None:
    """Delete one object (absent is fine)."""
    import obstore

    bucket, key = split(uri)
    try:
        obstore.delete(store(s3, bucket), key)
    except FileNotFoundError:
        return
    except Exception as exc:  # noqa: BLE001
        mapped = os_error(exc, uri)
        if not isinstance(mapped, FileNotFoundError):
            raise mapped from None


def upload(s3: S3Settings, local_file: Path, uri: str) -> None:
    """Write a local file at `uri`: one PUT, or a multipart upload past 5 MB (visible only once complete)."""
    import obstore

    bucket, key = split(uri)
    try:
        obstore.put(store(s3, bucket), key, Path(local_file))
    except Exception as exc:  # noqa: BLE001
        raise os_error(exc, uri) from None


def download(s3: S3Settings, uri: str, local_file: Path) -> None:
    """Write the object at `uri` into a local file, streamed (FileNotFoundError when absent)."""
    import obstore

    bucket, key = split(uri)
    try:
        result = obstore.get(store(s3, bucket), key)
        with open(local_file, "wb") as out:
            for chunk in result.stream():
                out.write(chunk)
    except Exception as exc:  # noqa: BLE001
        raise os_error(exc, uri) from None


def _keys_under(s3: S3Settings, folder_uri: str):
    """(bucket, generator of the keys of every object below the folder `folder_uri`), from LIST pages."""
    import obstore

    bucket, key = split(folder_uri)
    prefix = key.rstrip("/") + "/" if key.strip("/") else None
    client = store(s3, bucket)

    def keys():
        try:
            for chunk in obstore.list(client, prefix, chunk_size=1000):
                for meta in chunk:
                    yield meta["path"]
        except Exception as exc:  # noqa: BLE001
            raise os_error(exc, folder_uri) from None

    return bucket, keys()


def has_objects(s3: S3Settings, folder_uri: str) -> bool:
    """Whether any object lies below the folder `folder_uri` (one LIST page at most)."""
    return next(_keys_under(s3, folder_uri)[1], None) is not None


def count_objects(s3: S3Settings, folder_uri: str) -> int:
    """How many objects lie below the folder `folder_uri`, counted page by page (no list is kept)."""
    try:
        return sum(1 for _ in _keys_under(s3, folder_uri)[1])
    except UnaddressableKey:
        return sum(1 for e in list_entries(s3, "/".join(split(folder_uri)), recursive=True) if not e.is_folder)


def delete_folder(s3: S3Settings, folder_uri: str) -> int:
    """Delete every object below the folder `folder_uri` (`folder_uri/...`, never `folder_uri2/...`),
    by bulk deletes of up to 1,000 keys a request; returns how many."""
    import obstore

    bucket, keys = _keys_under(s3, folder_uri)
    found = list(keys)
    try:
        if found:
            obstore.delete(store(s3, bucket), found)
    except Exception as exc:  # noqa: BLE001
        raise os_error(exc, folder_uri) from None
    return len(found)
