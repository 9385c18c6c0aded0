"""The driver's files on a local disk (fruits.storage.files), as plain paths and as `file:` URIs; the
same checks run on MinIO in tests/s3/test_files_s3.py."""

from __future__ import annotations

import os

import pytest

from fileskit import CHECKS, check_round_trip
from fruits.errors import ConfigError
from fruits.storage.conditional import conditional_file
from fruits.storage.files import Files


@pytest.fixture(params=["path", "file:", "file://"])
def root(request, tmp_path) -> str:
    folder = tmp_path / "out #1 50%"
    return {"path": str(folder), "file:": f"file:{folder}", "file://": f"file://{folder}"}[request.param]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_files_contract_locally(check, root):
    check(Files(root), root)


def test_round_trip_locally(root, tmp_path):
    check_round_trip(Files(root), root, tmp_path)


def test_a_failed_replace_leaves_the_old_content_and_no_temporary(tmp_path, monkeypatch):
    files = Files(str(tmp_path))
    files.replace(f"{tmp_path}/_PACK", b"old", tag="g1")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        files.replace(f"{tmp_path}/_PACK", b"new", tag="g2")
    assert (tmp_path / "_PACK").read_bytes() == b"old" and os.listdir(tmp_path) == ["_PACK"]


def test_a_link_is_deleted_never_followed_nor_counted_as_a_folder(tmp_path):
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "data.csv").write_text("someone's")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "theirs")
    files = Files(str(tmp_path / "out"))
    assert files.folders(str(tmp_path / "out")) == [] and files.count_files(str(tmp_path / "out")) == 1
    files.delete(str(tmp_path / "out" / "link"))
    assert (tmp_path / "theirs" / "data.csv").read_text() == "someone's" and not (tmp_path / "out" / "link").exists()


@pytest.mark.parametrize("uri", ["hdfs://namenode/fruits", "gs://bucket/fruits", "abfss://c@a.dfs.core.windows.net/f"])
def test_other_stores_are_refused_by_name(uri):
    message = r"is not supported; give a local path, a file: URI or an s3:// \(s3a://\) URI"
    with pytest.raises(ConfigError, match=message):
        Files(uri)
    with pytest.raises(ConfigError, match=message):
        conditional_file(f"{uri}/_LOCK")
