"""One S3 request per image: a signed GET, never a HEAD before it.

The listing already knows every object's size, so a read needs nothing but the bytes. pyarrow's
S3 filesystem, used for listing, opens an object by name and asks its size first (a HEAD): twice
the requests, the round trips and the server's work per image, and its Python API cannot be given
the size. boto3's `get_object` makes one request but costs the worker about twice the CPU of the
pair. So the reads use botocore for everything S3-specific (the endpoint and addressing rules,
asked once per bucket; region; the default credential chain with IRSA and EKS Pod Identity; SigV4
signing) and urllib3, botocore's own HTTP library, to send each GET over pooled connections. What
is written here: turning HTTP answers into the exceptions `fruits.store` retries or reports.
"""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import urlsplit

from fruits.config import S3Settings

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")


def s3_region() -> str:
    """The region requests are signed for: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


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


def http_error(status: int, body: bytes, uri: str) -> OSError:
    """The exception for a GET answered with `status`: missing and denied objects are final,
    throttling and server errors carry their code so that `fruits.store.is_retryable` retries them.

    >>> http_error(503, b"<Error><Code>SlowDown</Code></Error>", "s3a://lake/a.jpg")
    OSError('HTTP 503 SlowDown for s3a://lake/a.jpg')
    >>> type(http_error(404, b"<Error><Code>NoSuchKey</Code></Error>", "s3a://lake/a.jpg")).__name__
    'FileNotFoundError'
    """
    match = _ERROR_CODE.search(body)
    code = match.group(1).decode("ascii", "replace") if match else "no error code"
    message = f"HTTP {status} {code} for {uri}"
    if status == 404:
        return FileNotFoundError(message)
    if status == 403:
        return PermissionError(message)
    return OSError(message)


class ObjectChanged(OSError):
    """The object's size is not the listed one: it was replaced since the listing."""

    def __init__(self, found: int, listed: int) -> None:
        super().__init__(f"object changed during the run ({found:,} bytes now, {listed:,} listed)")


class S3Getter:
    """GETs objects by URI for one worker process; thread-safe, connections pooled per host."""

    def __init__(self, s3: S3Settings, connections: int) -> None:
        import botocore.session
        import urllib3
        from botocore.config import Config
        from botocore.httpsession import get_cert_path

        # The same addressing as pyarrow's filesystem (fruits.store.s3_filesystem): path style
        # for a custom endpoint unless told otherwise; on AWS the bucket's regional virtual host
        # ("auto" would give the global one, which answers other regions with a redirect), and
        # botocore itself falls back to path style for bucket names with dots.
        addressing = "path" if s3.path_style or (s3.path_style is None and s3.endpoint) else "virtual"
        session = botocore.session.get_session()
        self._region = s3_region()
        self._credentials = session.get_credentials()
        self._buckets: dict[str, str] = {}
        self._lock = threading.Lock()
        self._client = session.create_client(
            "s3", region_name=self._region, endpoint_url=endpoint_url(s3.endpoint) if s3.endpoint else None,
            config=Config(signature_version="s3v4", s3={"addressing_style": addressing}))
        self._http = urllib3.PoolManager(
            num_pools=4, maxsize=max(1, connections), retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
            ca_certs=os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True))

    def _bucket_url(self, bucket: str) -> str:
        """Where `bucket`'s objects are, by botocore's endpoint rules: asked once per bucket, as
        the address of a presigned URL (which is not sent)."""
        from botocore.exceptions import BotoCoreError

        with self._lock:
            if bucket not in self._buckets:
                try:
                    url = self._client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
                except BotoCoreError as exc:
                    raise PermissionError(f"cannot address bucket {bucket}: {exc}") from None
                self._buckets[bucket] = urlsplit(url)._replace(query="").geturl()[:-1]
            return self._buckets[bucket]

    def _signed_headers(self, url: str) -> dict:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._credentials.get_frozen_credentials()  # refreshed here when they expire
        request = AWSRequest(method="GET", url=url)
        S3SigV4Auth(credentials, "s3", self._region).add_auth(request)
        return dict(request.headers.items())

    def get(self, uri: str, size: int) -> bytes:
        """The object's bytes, `size` of them as listed; `ObjectChanged` when it has another size now."""
        import urllib3
        from botocore.utils import percent_encode

        if self._credentials is None:
            raise PermissionError(f"cannot read {uri}: no AWS credentials found (AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY, IRSA web identity or EKS Pod Identity)")
        bucket, _, key = s3_key(uri).partition("/")
        address = self._bucket_url(bucket) + percent_encode(key, safe="/~")
        url = urlsplit(address)
        # The pool is given the path as signed: a whole URL would have its dot segments removed.
        pool = self._http.connection_from_host(url.hostname, url.port, url.scheme)
        try:
            response = pool.urlopen("GET", url.path, headers=self._signed_headers(address), redirect=False,
                                    preload_content=False)
            try:
                if response.status != 200:
                    body = response.read(1 << 16, decode_content=False)
                    response.drain_conn()
                    raise http_error(response.status, body, uri)
                length = response.headers.get("Content-Length")
                if length is not None and int(length) != size:
                    response.close()  # a longer body is not read: this connection is done
                    raise ObjectChanged(int(length), size)
                data = response.read(size + 1, decode_content=False)
                if len(data) != size:
                    response.close()
                    if length is None:
                        raise ObjectChanged(len(data), size)
                    raise OSError(f"connection closed after {len(data):,} of {size:,} bytes of {uri}")
                return data
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise OSError(f"connection failed for {uri}: {exc}") from None
