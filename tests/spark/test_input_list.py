"""`--input-list`: the input's files named by a text, CSV, Parquet or S3 Inventory list, every entry one row."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fruits.config.job_config import S3Settings
from fruits.inputs.entry_rules import HIDDEN_KEY_REASON
from fruits.inputs.input_list import MISSING_REASON, OUTSIDE_REASON
from fruits.inputs.listing import list_files, with_skip_reason
from fruits.pipeline.job import run_job
from sparkkit import job_config, table_of

pytestmark = pytest.mark.spark


def rows(spark, input_dir, input_list) -> dict:
    listing = list_files(spark, str(input_dir), S3Settings(), input_list=str(input_list))
    found = {r.path: r for r in with_skip_reason(listing.files).collect()}
    assert len(found) == listing.listed
    listing.files.unpersist()
    return found


def images_of(sample, count: int) -> list:
    return sorted(p for p in sample.rglob("*.jpg") if p.parent.name != "Apple Red 2")[:count]


def test_text_list_names_files_relative_or_absolute_and_reports_the_rest(spark, small_sample, tmp_path):
    chosen = images_of(small_sample, 4)
    lines = ["# four images, one twice, one missing, one outside, one hidden", str(chosen[0]),
             str(chosen[1].relative_to(small_sample)), f"./{chosen[2].relative_to(small_sample)}", str(chosen[3]), str(chosen[3]),
             "Training/Kiwi/missing.jpg", str(tmp_path / "elsewhere.jpg"), "Training/.cache/x.jpg", ""]
    listed = tmp_path / "files.txt"
    listed.write_text("\n".join(lines))
    found = rows(spark, small_sample, listed)
    for image in chosen:
        row = found[f"file:{image}"]
        assert row.reason is None and row.size == image.stat().st_size and row.modified > 0
    assert found[f"file:{small_sample}/Training/Kiwi/missing.jpg"].reason == MISSING_REASON
    assert found[f"file:{tmp_path}/elsewhere.jpg"].reason == OUTSIDE_REASON
    assert found[f"file:{small_sample}/Training/.cache/x.jpg"].reason == HIDDEN_KEY_REASON
    assert len(found) == 7


def test_csv_and_parquet_lists_take_sizes_from_the_list(spark, small_sample, tmp_path):
    chosen = images_of(small_sample, 3)
    csv = tmp_path / "files.csv"
    csv.write_text("path,size,modified\n" + "".join(f"{p},{p.stat().st_size},1700000000000\n" for p in chosen))
    assert {r.size for r in rows(spark, small_sample, csv).values()} == {p.stat().st_size for p in chosen}
    table = tmp_path / "files.parquet"
    pq.write_table(pa.table({"key": [str(p.relative_to(small_sample)) for p in chosen]}), table)
    found = rows(spark, small_sample, table)
    assert sorted(found) == sorted(f"file:{p}" for p in chosen) and all(r.reason is None for r in found.values())


def test_a_list_without_a_path_column_is_refused_by_name(spark, small_sample, tmp_path):
    bad = tmp_path / "files.csv"
    bad.write_text("name,size\nx.jpg,1\n")
    from fruits.errors import ConfigError

    with pytest.raises(ConfigError, match="no 'path'"):
        rows(spark, small_sample, bad)


def test_s3_inventory_manifest_lists_its_report_files(spark, tmp_path):
    """A CSV inventory report (URL-encoded keys), read from a local copy: keys map to s3a:// paths."""
    dest = tmp_path / "inventory-bucket"
    report = dest / "fruits" / "daily" / "data" / "part-0.csv.gz"
    report.parent.mkdir(parents=True)
    with gzip.open(report, "wt") as file:
        file.write('"fruits","in/Training/Apple%20Red/1.jpg","631","2026-12-01T10:00:00.000Z"\n')
        file.write('"fruits","in/Training/_tmp/2.jpg","10","2026-12-01T10:00:00.000Z"\n')
        file.write('"fruits","other/3.jpg","10","2026-12-01T10:00:00.000Z"\n')
    manifest = dest / "fruits" / "daily" / "2026-12-02T01-00Z" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"sourceBucket": "fruits", "destinationBucket": "arn:aws:s3:::inventory-bucket",
                                    "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, LastModifiedDate",
                                    "files": [{"key": "fruits/daily/data/part-0.csv.gz", "size": 1, "MD5checksum": "x"}]}))
    from fruits.inputs.input_list import read_input_list

    found = {r.path: r for r in read_input_list(spark, str(manifest), "s3a://fruits/in", S3Settings()).collect()}
    apple = found["s3a://fruits/in/Training/Apple Red/1.jpg"]
    assert apple.size == 631 and apple.modified == 1796119200000 and apple.reason is None
    assert found["s3a://fruits/in/Training/_tmp/2.jpg"].reason == HIDDEN_KEY_REASON
    assert found["s3a://fruits/other/3.jpg"].reason == OUTSIDE_REASON


def test_job_reads_just_the_listed_files(spark, small_sample, tmp_path):
    chosen = images_of(small_sample, 12)
    listed = tmp_path / "files.txt"
    listed.write_text("\n".join(str(p) for p in chosen))
    result = run_job(job_config(small_sample, tmp_path / "out", input_list=str(listed), pca_k=2, pca_variance=None), spark)
    counts = result.metrics["counts"]
    assert (counts["listed"], counts["accepted"], counts["rejected"]) == (12, 12, 0)
    table = table_of(spark, result)
    assert sorted(r.path for r in table.select("path").collect()) == sorted(f"file:{p}" for p in chosen)
