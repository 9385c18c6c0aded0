"""The data contract, written once: column names and the tables' Spark schemas.

Job, table, CLI and tests import these names; where the tables lie is `fruits.config.layout`.
"""

from __future__ import annotations

# Columns of the listing: one row per entry seen under the input; `reason` is set when the listing
# already knows the job will not read it (fruits.inputs.entry_rules).
# A file as the listing saw it (the key that names one image's version).
FILE_SCHEMA = "path string, size bigint, modified bigint"
LISTING_COLUMNS = ("path", "size", "modified", "reason")
LISTING_SCHEMA = f"{FILE_SCHEMA}, reason string"

# What the Python workers give back for each image they read: features, or the reason there are none.
RAW_COLUMNS = ("path", "size", "modified", "features", "error")
RAW_SCHEMA = f"{FILE_SCHEMA}, features array<float>, error string"

# An image pack (`fruits pack`): the listing's columns and the image's bytes (null when `reason` is set).
PACK_COLUMNS = (*LISTING_COLUMNS, "content")
PACK_SCHEMA = LISTING_SCHEMA + ", content binary"

# The tables of a run.
FEATURE_COLUMNS = ("path", "label", "split", "size", "modified", "features")
PCA_COLUMN = "pca"
TABLE_COLUMNS = (*FEATURE_COLUMNS, PCA_COLUMN)
REJECTED_COLUMNS = ("path", "size", "modified", "reason")
# A file is the same file as in an earlier run when these three match (incremental runs, resume).
FILE_KEY = ["path", "size", "modified"]
# The tables' `path` is a URI tools other than Hadoop open: `s3://` where Spark lists `s3a://`
# (local paths stay `file:` URIs). Spark SQL expressions, one for each way.
TABLE_PATH = r"regexp_replace(path, '^s3a://', 's3://')"
LISTING_PATH = r"regexp_replace(path, '^s3://', 's3a://')"
