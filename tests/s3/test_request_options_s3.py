"""The job's own S3 client sends the encryption headers it is told to, as MinIO shows: this MinIO
has no KMS, so it refuses a PUT that asks for server-side encryption, and takes the same PUT
without it. (SSE-KMS itself would need a MinIO with a KMS; tests/unit/test_s3_request_options.py
checks the mapping of every setting.)"""

from __future__ import annotations

import pytest

from fruits.config.job_config import S3Settings
from fruits.storage import object_store
from s3kit import ACCESS_KEY, BUCKET, SECRET_KEY

pytestmark = pytest.mark.s3


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    object_store.clear_clients()
    yield
    object_store.clear_clients()


def test_encryption_headers_reach_the_server(minio):
    plain = S3Settings(endpoint=minio.endpoint, path_style=True)
    uri = f"s3a://{BUCKET}/options/plain.txt"
    object_store.put(plain, uri, b"plain")
    assert object_store.get(plain, uri, 5) == b"plain"

    encrypted = S3Settings(endpoint=minio.endpoint, path_style=True, encryption="SSE-S3")
    with pytest.raises(OSError) as refused:
        object_store.put(encrypted, f"s3a://{BUCKET}/options/encrypted.txt", b"secret")
    # MinIO's answer to an encryption header it cannot honour without a KMS.
    assert str(refused.value).startswith("HTTP 501 NotImplemented"), refused.value
    listed = [o["Key"] for o in minio.client().list_objects_v2(Bucket=BUCKET, Prefix="options/").get("Contents", [])]
    assert listed == ["options/plain.txt"]


def test_requester_pays_reads_from_the_server(minio):
    """MinIO ignores the header, but takes requests that carry it: a read still works."""
    payer = S3Settings(endpoint=minio.endpoint, path_style=True, requester_pays=True)
    uri = f"s3a://{BUCKET}/options/paid.txt"
    object_store.put(payer, uri, b"paid")
    assert object_store.get(payer, uri, 4) == b"paid"
