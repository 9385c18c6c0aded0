"""The listing's Spark SQL rules (labels, splits, skip reasons) agree with fruits.inputs.entry_rules's Python ones."""

from __future__ import annotations

import pytest

from fruits.config.schema import LISTING_SCHEMA
from fruits.inputs.entry_rules import MAX_FILE_BYTES, ListedFile, parse_image_path
from fruits.inputs.listing import with_labels, with_skip_reason

pytestmark = pytest.mark.spark

ENTRIES = [
    ("s3a://lake/fruits/Training/Apple Red 2/r_12_100.jpg", 5_000, None),
    ("s3a://lake/fruits/Test/Kiwi/1.JPG", 5_000, None),
    ("file:/data/Pêche/50%25 off.jpeg", 5_000, None),
    ("file:/data/Training/Kiwi/notes.txt", 10, None),
    ("file:/data/Training/Kiwi/README", 10, None),
    ("file:/data/Training/Kiwi/empty.png", 0, None),
    ("file:/data/Training/Kiwi/huge.tif", MAX_FILE_BYTES + 1, None),
    ("file:/data/Training/Kiwi/dot.", 10, None),
    ("file:/data/Training/Kiwi/a.b.WebP", 10, None),
    ("file:/data/Training/Kiwi/link.jpg", 10, "symbolic link, not followed"),
    ("s3a://lake/Validation/Kiwi/3.bmp", 7, None),
]


def test_sql_rules_match_the_python_rules(spark):
    frame = spark.createDataFrame([(p, s, 1, r) for p, s, r in ENTRIES], LISTING_SCHEMA)
    rows = {r.path: r for r in with_labels(with_skip_reason(frame)).collect()}
    assert len(rows) == len(ENTRIES)
    for path, size, reason in ENTRIES:
        expected = parse_image_path(path)
        row = rows[path]
        assert row.reason == ListedFile(path, size, 1, reason).skip_reason, path
        assert (row.label, row.split) == (expected.label, expected.split), path
