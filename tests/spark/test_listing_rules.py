"""The listing's Spark SQL rules: labels and splits as fruits.inputs.entry_rules parses them, and the
skip reasons worded as its functions word them, for a run's own size cap too."""

from __future__ import annotations

import pytest

from fruits.config.schema import LISTING_SCHEMA
from fruits.inputs.entry_rules import EMPTY_FILE_REASON, non_image_reason, parse_image_path, too_large_reason
from fruits.inputs.listing import with_labels, with_skip_reason
from fruits.storage.reads import MAX_FILE_BYTES

pytestmark = pytest.mark.spark

LINK = "symbolic link, not followed"
# (path, size, the listing's own reason, the reason the rules give)
ENTRIES = [
    ("s3a://lake/fruits/Training/Apple Red 2/r_12_100.jpg", 5_000, None, None),
    ("s3a://lake/fruits/Test/Kiwi/1.JPG", 5_000, None, None),
    ("file:/data/Pêche/50%25 off.jpeg", 5_000, None, None),
    ("file:/data/Training/Kiwi/notes.txt", 10, None, non_image_reason(".txt")),
    ("file:/data/Training/Kiwi/README", 10, None, non_image_reason("")),
    ("file:/data/Training/Kiwi/empty.png", 0, None, EMPTY_FILE_REASON),
    ("file:/data/Training/Kiwi/huge.tif", MAX_FILE_BYTES + 1, None, too_large_reason(MAX_FILE_BYTES + 1, MAX_FILE_BYTES)),
    ("file:/data/Training/Kiwi/dot.", 10, None, non_image_reason(".")),
    ("file:/data/Training/Kiwi/a.b.WebP", 10, None, None),
    ("file:/data/Training/Kiwi/link.jpg", 10, LINK, LINK),
    ("s3a://lake/Validation/Kiwi/3.bmp", 7, None, None),
]


def test_sql_rules_give_the_entry_rules_reasons_labels_and_splits(spark):
    frame = spark.createDataFrame([(p, s, 1, r) for p, s, r, _ in ENTRIES], LISTING_SCHEMA)
    rows = {r.path: r for r in with_labels(with_skip_reason(frame)).collect()}
    assert len(rows) == len(ENTRIES)
    for path, _, _, reason in ENTRIES:
        expected = parse_image_path(path)
        row = rows[path]
        assert row.reason == reason, path
        assert (row.label, row.split) == (expected.label, expected.split), path


def test_a_runs_own_size_cap_decides_and_is_named(spark):
    frame = spark.createDataFrame([("file:/d/Kiwi/a.jpg", 2_000, 1, None), ("file:/d/Kiwi/b.jpg", 1_000, 1, None)], LISTING_SCHEMA)
    rows = {r.path: r.reason for r in with_skip_reason(frame, max_file_bytes=1_000).collect()}
    assert rows == {"file:/d/Kiwi/a.jpg": too_large_reason(2_000, 1_000), "file:/d/Kiwi/b.jpg": None}
