"""Where the workers' S3 GETs go, by botocore's endpoint rules (no request is sent)."""

from __future__ import annotations

import pytest

from fruits.config import S3Settings
from fruits.s3_get import S3Getter


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
def test_bucket_addresses_follow_the_region_and_addressing(monkeypatch, region, settings, bucket, expected):
    monkeypatch.setenv("AWS_REGION", region)
    assert S3Getter(settings, connections=1)._bucket_url(bucket) == expected
