"""Where the workers' S3 GETs go, by botocore's endpoint rules (no request is sent)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from fruits.config.job_config import S3Settings
from fruits.storage.s3_get import S3Getter


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


@pytest.mark.parametrize("region, settings, bucket, expected", [
    ("eu-west-1", S3Settings(), "fruits-lake", "https://fruits-lake.s3.eu-west-1.amazonaws.com/"),
    ("eu-west-1", S3Settings(), "my.dotted.lake", "https://s3.eu-west-1.amazonaws.com/my.dotted.lake/"),
    ("cn-north-1", S3Settings(), "fruits-lake", "https://fruits-lake.s3.cn-north-1.amazonaws.com.cn/"),
    ("eu-west-1", S3Settings(path_style=True), "fruits-lake", "https://s3.eu-west-1.amazonaws.com/fruits-lake/"),
    ("us-east-1", S3Settings(endpoint="http://minio:9000"), "lake", "http://minio:9000/lake/"),
    ("us-east-1", S3Settings(endpoint="minio.lake:9000", path_style=False), "lake", "https://lake.minio.lake:9000/"),
])
def test_bucket_addresses_follow_the_region_and_addressing(region, settings, bucket, expected):
    assert S3Getter(replace(settings, region=region))._bucket_url(bucket) == expected


def test_tensorflow_imported_first_gives_a_clear_error_on_s3_reads_only():
    """TensorFlow's own libcurl, loaded first, keeps pycurl from loading: say so, and only when S3 is read."""
    code = ("import tensorflow, fruits\n"
            "from fruits.config.job_config import S3Settings\nfrom fruits.storage.s3_get import S3Getter\n"
            "from fruits.storage.reads import StoreSpec, read_files\n"
            "assert fruits.PYCURL_ERROR is not None\n"
            "print(len(list(read_files(StoreSpec(), [])))) \n"
            "S3Getter(S3Settings(endpoint='http://127.0.0.1:9'))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stdout.strip() == "0", result.stderr[-2000:]
    assert "RuntimeError: S3 reads need pycurl" in result.stderr and "import fruits before tensorflow" in result.stderr
