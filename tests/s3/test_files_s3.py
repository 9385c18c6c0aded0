"""The driver's files on the real MinIO (fruits.storage.files through obstore, no JVM): the same
contract as on a local disk (tests/fileskit.py), plus what only a bucket can get wrong."""

from __future__ import annotations

import uuid

import pytest

from fileskit import CHECKS, ODD_NAME, check_round_trip
from fruits.config.job_config import S3Settings
from fruits.storage import object_store
from fruits.storage.files import Files
from s3kit import ACCESS_KEY, BUCKET, SECRET_KEY

pytestmark = pytest.mark.s3


@pytest.fixture
def s3(minio, monkeypatch) -> S3Settings:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    object_store.clear_clients()
    yield S3Settings(endpoint=minio.endpoint, path_style=True)
    object_store.clear_clients()


@pytest.fixture(params=["s3a", "s3"])
def root(request) -> str:
    return f"{request.param}://{BUCKET}/files-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_files_contract_on_s3(check, s3, root):
    check(Files(root, s3), root)


def test_round_trip_on_s3(s3, root, tmp_path):
    check_round_trip(Files(root, s3), root, tmp_path)


def test_keys_are_the_names_given(s3, root, minio):
    """Spaces and non-ASCII reach S3 as they are (another client finds them by the same key)."""
    Files(root, s3).write_text(f"{root}/{ODD_NAME}", "x")
    key = f"{root.split('/', 3)[3]}/{ODD_NAME}"
    assert minio.client().get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"x"


def test_a_large_upload_arrives_whole(s3, root, tmp_path):
    """Past 5 MB the upload is multipart; the object appears once, complete."""
    local = tmp_path / "model.tflite"
    local.write_bytes(bytes(range(251)) * 50_000)
    files = Files(root, s3)
    files.upload(local, f"{root}/int8/model.tflite")
    files.download(f"{root}/int8/model.tflite", tmp_path / "back.tflite")
    assert (tmp_path / "back.tflite").read_bytes() == local.read_bytes()


def test_the_whole_bucket_is_never_deleted(s3):
    with pytest.raises(OSError, match="whole bucket"):
        Files(f"s3a://{BUCKET}", s3).delete(f"s3a://{BUCKET}/")
