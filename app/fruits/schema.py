"""The data contract, written once: column names, the tables' Spark schemas and a run's artifact names.

Job, lake, CLI and tests import these names; the chart's NOTES.txt is checked against them.

    OUTPUT/runs/<run_id>/features/   FEATURE_COLUMNS + pca (Parquet, or CSV with vectors flattened)
    OUTPUT/runs/<run_id>/rejected/   REJECTED_COLUMNS
"""

from __future__ import annotations

import re

# Columns of the listing: one row per entry seen under the input; `reason` is set when the listing
# already knows the job will not read it (fruits.ingest).
LISTING_COLUMNS = ("path", "size", "modified", "reason")
LISTING_SCHEMA = "path string, size bigint, modified bigint, reason string"

# What the Python workers give back for each image they read: features, or the reason there are none.
RAW_COLUMNS = ("path", "size", "modified", "features", "error")
RAW_SCHEMA = "path string, size bigint, modified bigint, features array<float>, error string"

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

# Artifacts of a run folder. A run is complete when every REQUIRED_ARTIFACTS entry exists.
FEATURES = "features"
REJECTED = "rejected"
MODEL = "model"
METRICS = "metrics.json"
PICTURE = "pca_2d.png"
CONFUSION = "confusion.png"
REQUIRED_ARTIFACTS = (FEATURES, REJECTED, MODEL, METRICS, PICTURE)
# Inside a run: raw features by wave (read back by the reduce passes, kept until the commit so that a
# restarted run can reuse them, then removed), and the int8 model of an int8 run (kept: the next
# incremental run featurizes with it, so that its features stay comparable).
RAW = "_raw"
INT8 = "int8"

# A run folder's name: sortable by time, unique enough for one output (fruits.lake.new_run_id).
RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
