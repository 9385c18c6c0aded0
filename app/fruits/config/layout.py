"""Where everything the job writes lies, written once: the output's folders and files, the image
pack's, run ids and this tool's temporary names. Every other module, the docs and the chart's
NOTES.txt name these constants or point here.

    OUTPUT/
      features/                 Apache Iceberg table (fruits.table.iceberg): FEATURE_COLUMNS + pca;
        data/<attempt>/         its Parquet data files, one folder per run attempt (a run id)
        metadata/               its metadata; version-hint.text names the current one
      rejected/                 Apache Iceberg table: REJECTED_COLUMNS, laid out as features/
      catalog.db                the embedded catalog (SQLite) of a local output with no other catalog
      _LOCK                     held by the one run writing here (fruits.table.lock)
      models/<key>/             converted models (.tflite) the workers run, one per key: a hash of the
        model.tflite            model, weights, precision, calibration and converter; found and checked
        model.json              by hash by every later run, which pays no conversion (fruits.pipeline.converted)
      runs/<run_id>/            what a run made beside the tables, named by the snapshot's run id:
        model/                  Spark ML PipelineModel (scaler + PCA)
        metrics.json            what the run did
        pca_2d.png              the first two components, the 15 largest classes in colour
        pca_2d.html             the same, interactive (zoom, hover: label and path), self-contained
        variance.png            explained variance per component and cumulative, k and the target marked
        confusion.png           with --evaluate
        features.csv/           with --format csv: the features with vectors flattened (f_0..., pca_0...)
        int8/                   an int8 run's quantized model (reused by later runs of the lake)
        _FRUITS_RUN             marker: this tool wrote the folder, and the settings a resumed run must share
        _raw/                   working: raw features, one folder per wave; removed after the commit

A run is committed when the features table's current snapshot carries its run id (the rejected
table's snapshot of the same run id is committed just before). Outputs of earlier versions had a
`_CURRENT` pointer and the tables inside each run folder: `fruits migrate` converts them.

    PACK/
      _PACK                     JSON: the committed generations, oldest first (fruits.inputs.image_pack)
      _LOCK                     held by the one `fruits pack` writing here
      gen-<run_id>/             Parquet, PACK_COLUMNS

A run id is sortable by time and unique enough for one output: 20261125T063000Z-3f2a1c.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

# The top of an output: the two tables, the runs' folders, the lock.
FEATURES = "features"
REJECTED = "rejected"
TABLES = (FEATURES, REJECTED)
TABLE_DATA = "data"  # inside a table: data/<attempt>/part-*.parquet
RUNS = "runs"
LOCK = "_LOCK"
CATALOG_FILE = "catalog.db"  # the embedded catalog of a local output (fruits.config.catalog)
# The pointer file of the layout before the tables (read by `fruits migrate` only).
LEGACY_POINTER = "_CURRENT"

# Converted models of the whole output, by key: models/<key>/model.tflite, and its manifest
# (sha256 of the file, what it was made from) written after it.
CONVERTED = "models"
CONVERTED_FILE = "model.tflite"
CONVERTED_MANIFEST = "model.json"

# Artifacts of a run folder, written before the commit.
MODEL = "model"
METRICS = "metrics.json"
PICTURE = "pca_2d.png"
CONFUSION = "confusion.png"
INTERACTIVE = "pca_2d.html"
VARIANCE = "variance.png"
CSV_EXPORT = "features.csv"
# What every run writes into its folder.
RUN_ARTIFACTS = (MODEL, METRICS, PICTURE, INTERACTIVE, VARIANCE)
# Inside a run: raw features by wave (read back by the reduce passes, kept until the commit so that a
# restarted run can reuse them, then removed), and the int8 model of an int8 run (kept: the next
# incremental run featurizes with it, so that its features stay comparable).
RAW = "_raw"
INT8 = "int8"
MARKER = "_FRUITS_RUN"

# An image pack.
PACK_MANIFEST = "_PACK"
GENERATION_PREFIX = "gen-"

_RUN_ID = r"\d{8}T\d{6}Z-[0-9a-f]{6}"
RUN_ID_PATTERN = re.compile(rf"^{_RUN_ID}$")
GENERATION_PATTERN = re.compile(rf"^{GENERATION_PREFIX}{_RUN_ID}$")
# The generation folder in a file's URI (Spark's input_file_name()), as a Spark SQL regular expression.
GENERATION_IN_PATH = rf"/({GENERATION_PREFIX}{_RUN_ID})/[^/]*$"


_RUN_ID_TIME = "%Y%m%dT%H%M%SZ"


def new_run_id(now: Optional[datetime] = None) -> str:
    """Sortable, unique enough for one output: 20261125T063000Z-3f2a1c.

    >>> bool(RUN_ID_PATTERN.match(new_run_id())), new_run_id(datetime(2026, 1, 2, 3, 4, 5))[:16]
    (True, '20260102T030405Z')
    """
    now = now or datetime.now(timezone.utc)
    return now.strftime(_RUN_ID_TIME) + "-" + os.urandom(3).hex()


def run_started(run_id: str) -> float:
    """When the run (or attempt) `run_id` started, in seconds since the epoch.

    >>> run_started("19700101T000001Z-3f2a1c")
    1.0
    """
    return datetime.strptime(run_id[:16], _RUN_ID_TIME).replace(tzinfo=timezone.utc).timestamp()


def temporary_name(final: str, tag: str) -> str:
    """The name a file is written under before it replaces `final` (`os.replace`), beside it."""
    return f".{final}.{tag}.tmp"


def aside_name(tag: str) -> str:
    """The name a lock file is renamed to while it is taken over (fruits.table.lock)."""
    return f".{LOCK}.{tag}.aside"


def is_own_temporary(name: str, final: str) -> bool:
    """A temporary of this tool's at the top of a pack (`final` = PACK_MANIFEST) or an output (the
    lock's), left by a killed process: never someone else's data.

    >>> is_own_temporary(temporary_name(PACK_MANIFEST, "x"), PACK_MANIFEST), is_own_temporary(aside_name("y"), PACK_MANIFEST)
    (True, True)
    >>> is_own_temporary(".other.tmp", PACK_MANIFEST)
    False
    """
    return (name.startswith(f".{final}.") and name.endswith(".tmp")) or (name.startswith(f".{LOCK}.") and name.endswith(".aside"))


@dataclass(frozen=True)
class RunLocation:
    """One run folder of an output; `run[FEATURES]` is the URI of its features table."""

    output: str
    run_id: str

    @property
    def root(self) -> str:
        return f"{self.output}/{RUNS}/{self.run_id}"

    def __getitem__(self, artifact: str) -> str:
        return f"{self.root}/{artifact}"
