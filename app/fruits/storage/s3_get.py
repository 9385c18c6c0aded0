"""One S3 request per image: a signed GET, never a HEAD before it, sent outside Python's GIL.

The listing already knows every object's size, so a read needs nothing but the bytes. pyarrow's
S3 filesystem, used for listing, opens an object by name and asks its size first (a HEAD): twice
the requests, the round trips and the server's work per image, and its Python API cannot be given
the size. boto3's `get_object` makes one request but costs the worker about twice the CPU of the
pair, and an HTTP client written in Python (urllib3) holds the worker's GIL while it parses each
answer, which the worker's decoding then waits for. So botocore does everything S3-specific (the
endpoint and addressing rules, asked once per bucket; region; the default credential chain with
IRSA and EKS Pod Identity; SigV4 signing) and libcurl (pycurl) sends each GET, releasing the GIL
for the whole request, over connections kept open across tasks. What is written here: turning
curl's and HTTP's answers into the exceptions `fruits.storage.retry` retries or `fruits.storage.reads` reports.
"""

from __future__ import annotations

import io
import queue
import re
import threading
from urllib.parse import urlsplit

from fruits.config.job_config import S3Settings
from fruits.storage.s3 import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, endpoint_url, s3_key

ERROR_BODY_BYTES = 1 << 16
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")


def http_error(status: int, body: bytes, uri: str) -> OSError:
    """The exception for a GET answered with `status`: missing and denied objects are final,
    throttling and server errors carry their code so that `fruits.storage.retry.is_retryable` retries them.

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

    def __init__(self, found: str, listed: int) -> None:
        super().__init__(f"object changed during the run ({found} bytes now, {listed:,} listed)")


# curl errors of the connection itself (refused, reset, cut short, timed out, nothing received):
# worth another attempt. Others (a bad certificate, an unknown host) are final.
_CURL_RETRYABLE = {7, 16, 18, 28, 52, 55, 56, 92}
_CURL_FILESIZE_EXCEEDED = 63


class S3Getter:
    """GETs objects by URI for one worker process; thread-safe, one curl handle per concurrent read."""

    def __init__(self, s3: S3Settings) -> None:
        import fruits

        if fruits.PYCURL_ERROR is not None:
            raise RuntimeError(f"S3 reads need pycurl, which could not load ({fruits.PYCURL_ERROR}); in a process "
                               "of your own, import fruits before tensorflow")
        import botocore.session
        from botocore.config import Config
        from botocore.httpsession import get_cert_path

        # The same addressing as pyarrow's filesystem (fruits.storage.s3.s3_filesystem): path style
        # for a custom endpoint unless told otherwise; on AWS the bucket's regional virtual host
        # ("auto" would give the global one, which answers other regions with a redirect), and
        # botocore itself falls back to path style for bucket names with dots.
        addressing = "path" if s3.path_style or (s3.path_style is None and s3.endpoint) else "virtual"
        session = botocore.session.get_session()
        self._region = s3.region
        self._credentials = session.get_credentials()
        self._buckets: dict[str, str] = {}
        self._lock = threading.Lock()
        self._client = session.create_client(
            "s3", region_name=self._region, endpoint_url=endpoint_url(s3.endpoint) if s3.endpoint else None,
            config=Config(signature_version="s3v4", s3={"addressing_style": addressing}))
        self._ca = s3.ca_bundle or get_cert_path(True)
        self._handles: queue.SimpleQueue = queue.SimpleQueue()  # idle curl handles, their connections open

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

    def _signed_headers(self, url: str) -> list[str]:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._credentials.get_frozen_credentials()  # refreshed here when they expire
        request = AWSRequest(method="GET", url=url)
        S3SigV4Auth(credentials, "s3", self._region).add_auth(request)
        return [f"{name}: {value}" for name, value in request.headers.items()]

    def _handle(self):
        import pycurl

        try:
            return self._handles.get_nowait()
        except queue.Empty:
            handle = pycurl.Curl()
            handle.setopt(pycurl.NOSIGNAL, 1)  # threads: no SIGALRM for timeouts
            handle.setopt(pycurl.PATH_AS_IS, 1)  # the path as signed: `.` and `..` are a key's own
            handle.setopt(pycurl.CAINFO, self._ca)
            handle.setopt(pycurl.CONNECTTIMEOUT, CONNECT_TIMEOUT_SECONDS)
            handle.setopt(pycurl.LOW_SPEED_LIMIT, 1)  # a read that stalls this long is a timeout
            handle.setopt(pycurl.LOW_SPEED_TIME, READ_TIMEOUT_SECONDS)
            return handle

    def get(self, uri: str, size: int) -> bytes:
        """The object's bytes, `size` of them as listed; `ObjectChanged` when it has another size now."""
        import pycurl
        from botocore.utils import percent_encode

        if self._credentials is None:
            raise PermissionError(f"cannot read {uri}: no AWS credentials found (AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY, IRSA web identity or EKS Pod Identity)")
        bucket, _, key = s3_key(uri).partition("/")
        url = self._bucket_url(bucket) + percent_encode(key, safe="/~")
        handle = self._handle()
        body = io.BytesIO()
        limit = max(size, ERROR_BODY_BYTES)
        try:
            handle.setopt(pycurl.URL, url)
            handle.setopt(pycurl.HTTPHEADER, self._signed_headers(url))
            handle.setopt(pycurl.WRITEDATA, body)
            # A much longer object is not downloaded; an error's body (its code) always is.
            handle.setopt(pycurl.MAXFILESIZE_LARGE, limit)
            try:
                handle.perform()  # the GIL is released until the answer is in
            except pycurl.error as exc:
                code, message = exc.args[0], str(exc.args[1]) if len(exc.args) > 1 else ""
                status = handle.getinfo(pycurl.RESPONSE_CODE)
                if code == _CURL_FILESIZE_EXCEEDED and status == 200:
                    raise ObjectChanged(f"over {limit:,}", size) from None
                if code == _CURL_FILESIZE_EXCEEDED:
                    raise http_error(status, b"", uri) from None
                kind = "connection failed" if code in _CURL_RETRYABLE else "request failed"
                raise OSError(f"{kind} for {uri}: curl error {code}: {message}") from None
            status = handle.getinfo(pycurl.RESPONSE_CODE)
        finally:
            handle.setopt(pycurl.WRITEDATA, io.BytesIO())  # the handle keeps no reference to this body
            self._handles.put(handle)
        data = body.getvalue()
        if status != 200:
            raise http_error(status, data, uri)
        if len(data) != size:
            raise ObjectChanged(f"{len(data):,}", size)
        return data
