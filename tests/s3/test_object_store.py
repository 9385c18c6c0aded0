"""The workers' S3 reads against the real MinIO: one GET per object, odd keys, every failure named."""

from __future__ import annotations

import os
import re
import time
import urllib.request

import pytest

from fruits.config.job_config import S3Settings
from fruits.storage import object_store
from fruits.storage.local import local_uri
from fruits.storage.object_store import ConditionFailed, ObjectChanged
from fruits.storage.reads import ReadFailure, StoreSpec, read_files, read_s3_file
from fruits.storage.retry import is_retryable
from s3kit import ACCESS_KEY, BUCKET, SECRET_KEY

pytestmark = pytest.mark.s3

ODD_KEYS = ["get/plain.jpg", "get/Apple Red 2/r_1 (2).jpg", "get/+%20&=;,$@!'~*.jpg", "get/#hash?query.jpg",
            "get/Pomme é/ü 漢字.jpg", "get/a/b/c/deep.jpg"]


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


@pytest.fixture(autouse=True)
def fresh_clients():
    """Each test reads the credentials its environment holds (clients are kept per process)."""
    object_store.clear_clients()
    yield
    object_store.clear_clients()


class Reader:
    """The job's S3 GET against one endpoint."""

    def __init__(self, endpoint: str):
        self.s3 = S3Settings(endpoint=endpoint, path_style=True)

    def get(self, uri: str, size: int) -> bytes:
        return object_store.get(self.s3, uri, size)


def getter(endpoint: str) -> Reader:
    return Reader(endpoint)


def requests_by_api(endpoint: str) -> dict[str, float]:
    """MinIO's request counters by S3 API (getobject, headobject, ...)."""
    text = urllib.request.urlopen(f"{endpoint}/minio/v2/metrics/node", timeout=10).read().decode()
    found = re.findall(r'^minio_s3_requests_total\{api="(\w+)"[^}]*\} (\S+)$', text, re.MULTILINE)
    return {api: float(value) for api, value in found}


def counted_gets(endpoint: str, before: dict[str, float], gets: int) -> dict[str, float]:
    """The counters once `gets` more GETs show (MinIO refreshes them every few seconds), or after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        now = requests_by_api(endpoint)
        if now.get("getobject", 0) >= before.get("getobject", 0) + gets or time.monotonic() > deadline:
            return now
        time.sleep(1)


def test_odd_keys_are_read_whole_with_one_get_each(minio, keys):
    payloads = {key: os.urandom(1000 + i) for i, key in enumerate(ODD_KEYS)}
    for key, payload in payloads.items():
        minio.client().put_object(Bucket=BUCKET, Key=key, Body=payload)
    before = requests_by_api(minio.endpoint)
    files = [(f"s3a://{BUCKET}/{key}", len(payload)) for key, payload in payloads.items()]
    contents = list(read_files(StoreSpec(s3=S3Settings(endpoint=minio.endpoint, path_style=True)), files, threads=4))
    after = counted_gets(minio.endpoint, before, len(ODD_KEYS))
    assert contents == list(payloads.values())
    assert after.get("headobject", 0) == before.get("headobject", 0), "no HEAD before a GET"
    assert after.get("getobject", 0) - before.get("getobject", 0) == len(ODD_KEYS)


def test_one_read_takes_local_files_and_s3_objects_each_from_its_own_store(minio, keys, tmp_path):
    minio.client().put_object(Bucket=BUCKET, Key="mixed/remote.jpg", Body=b"from s3")
    (tmp_path / "local é.jpg").write_bytes(b"from disk")
    files = [(local_uri(os.fsencode(tmp_path / "local é.jpg")), 9), (f"s3a://{BUCKET}/mixed/remote.jpg", 7)]
    with_s3 = StoreSpec(s3=S3Settings(endpoint=minio.endpoint, path_style=True))
    assert list(read_files(with_s3, files, threads=2)) == [b"from disk", b"from s3"]
    # Without S3 settings an s3:// row is a rejected row with its reason, not a local read of a wrong path.
    assert list(read_files(StoreSpec(), files, threads=2)) == [
        b"from disk", ReadFailure("an S3 path, but this read has no S3 settings")]


def test_missing_object_is_final_and_reported_as_disappeared(minio, keys):
    with pytest.raises(FileNotFoundError, match="NoSuchKey") as raised:
        getter(minio.endpoint).get(f"s3a://{BUCKET}/get/never-written.jpg", 10)
    assert not is_retryable(raised.value)
    failure = read_s3_file(getter(minio.endpoint).s3, f"s3a://{BUCKET}/get/never-written.jpg", 10)
    assert failure == ReadFailure("file disappeared during the run")


def test_wrong_secret_is_denied_without_the_request_in_the_message(minio, monkeypatch):
    minio.client().put_object(Bucket=BUCKET, Key="get/secret.jpg", Body=b"kiwi")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(PermissionError, match="HTTP 403 SignatureDoesNotMatch") as raised:
        getter(minio.endpoint).get(f"s3a://{BUCKET}/get/secret.jpg", 4)
    assert "not-the-secret" not in str(raised.value) and "Signature=" not in str(raised.value)


def test_no_credentials_is_a_clear_refusal(minio, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(PermissionError, match="no AWS credentials"):
        getter(minio.endpoint).get(f"s3a://{BUCKET}/get/plain.jpg", 4)


def test_another_size_than_listed_is_a_changed_object_and_the_connection_stays_usable(minio, keys):
    minio.client().put_object(Bucket=BUCKET, Key="get/grown.jpg", Body=os.urandom(5000))
    minio.client().put_object(Bucket=BUCKET, Key="get/same.jpg", Body=b"pear")
    reader = getter(minio.endpoint)
    with pytest.raises(ObjectChanged, match=r"5,000 bytes now, 100 listed"):
        reader.get(f"s3a://{BUCKET}/get/grown.jpg", 100)
    assert reader.get(f"s3a://{BUCKET}/get/same.jpg", 4) == b"pear"
    minio.client().put_object(Bucket=BUCKET, Key="get/huge.jpg", Body=os.urandom(300_000))
    with pytest.raises(ObjectChanged, match=r"300,000 bytes now, 100 listed"):  # told by the answer's length, body not read
        reader.get(f"s3a://{BUCKET}/get/huge.jpg", 100)
    assert reader.get(f"s3a://{BUCKET}/get/same.jpg", 4) == b"pear"
    failure = read_s3_file(reader.s3, f"s3a://{BUCKET}/get/grown.jpg", 100)
    assert failure == ReadFailure("object changed during the run (5,000 bytes now, 100 listed)")


def test_reset_and_cut_connections_are_retryable_and_name_no_credentials(minio, minio_proxy, keys):
    minio.client().put_object(Bucket=BUCKET, Key="get/long.bin", Body=os.urandom(1 << 20))
    uri = f"s3a://{BUCKET}/get/long.bin"
    for toxic in (lambda: minio_proxy.reset_peer(toxicity=1.0), lambda: minio_proxy.limit_data(toxicity=1.0, nbytes=4096)):
        with toxic(), pytest.raises(OSError) as raised:
            getter(minio_proxy.endpoint).get(uri, 1 << 20)
        assert is_retryable(raised.value), raised.value
        assert "X-Amz" not in str(raised.value) and ACCESS_KEY not in str(raised.value)
    assert len(getter(minio_proxy.endpoint).get(uri, 1 << 20)) == 1 << 20


def test_conditional_puts_let_one_writer_win_and_refuse_a_stale_version(minio, keys):
    s3 = S3Settings(endpoint=minio.endpoint, path_style=True)
    uri = f"s3a://{BUCKET}/cond/_LOCK"
    first = object_store.put(s3, uri, b"first", if_absent=True)
    with pytest.raises(ConditionFailed):
        object_store.put(s3, uri, b"second", if_absent=True)
    data, etag, _ = object_store.read(s3, uri)
    assert (data, etag) == (b"first", first)
    object_store.put(s3, uri, b"renewed", if_etag=etag)
    with pytest.raises(ConditionFailed):
        object_store.put(s3, uri, b"late", if_etag=etag)  # the version it read is gone
    assert object_store.read(s3, uri)[0] == b"renewed"
    object_store.delete(s3, uri)
    with pytest.raises(FileNotFoundError):
        object_store.read(s3, uri)


def test_listing_names_every_key_with_its_size_and_copies_stay_on_the_server(minio, keys):
    s3 = S3Settings(endpoint=minio.endpoint, path_style=True)
    payloads = {f"list/Training/{label}/{i}.jpg": os.urandom(100 + i) for label in ("Kiwi", "Pêche #2") for i in range(3)}
    for key, payload in payloads.items():
        minio.client().put_object(Bucket=BUCKET, Key=key, Body=payload)
    top = object_store.list_entries(s3, f"{BUCKET}/list/Training", recursive=False)
    assert sorted((e.name, e.is_folder) for e in top) == [("Kiwi", True), ("Pêche #2", True)]
    every = object_store.list_entries(s3, f"{BUCKET}/list", recursive=True)
    assert {e.key: e.size for e in every} == {f"{BUCKET}/{k}": len(v) for k, v in payloads.items()}
    assert all(e.modified_ms > 0 for e in every)
    object_store.copy(s3, f"s3a://{BUCKET}/list/Training/Kiwi/0.jpg", f"s3a://{BUCKET}/copied/0.jpg")
    assert object_store.get(s3, f"s3a://{BUCKET}/copied/0.jpg", 100) == payloads["list/Training/Kiwi/0.jpg"]
