"""The output as two Iceberg tables and a folder per run, the same on a local disk and on S3.

The layout is `fruits.config.layout`'s. A run writes its tables' Parquet files into fresh
`data/<attempt>/` folders and its model, metrics and pictures into `runs/<run_id>/`; it becomes
visible with one snapshot per table (`fruits.table.iceberg.commit_run`): the rejected table's
first, then the features table's, which is the commit point. Readers follow the catalog and see
the previous run whole until then. A run that dies before that leaves files no snapshot
references; the sweep removes them once they are older than any run can last.

Two writers: the lock (`fruits.table.lock`) keeps them apart; the commit fences the loser anyway,
since a table is committed only on top of the snapshot this run started from. Nothing the tool did
not write is ever deleted: run folders need the run-id name and the marker inside, data folders an
attempt name, and a data file is deleted only when no live snapshot references it.

Every small-file operation goes through `fruits.storage.files` (the local disk, or S3 by obstore: no
JVM, so a Spark Connect client works too); the tables' metadata through PyIceberg.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from functools import cached_property
from typing import TYPE_CHECKING, Optional, Sequence

from fruits.config.catalog import CatalogSettings
from fruits.config.job_config import S3Settings
from fruits.config.layout import (
    CATALOG_FILE,
    CONVERTED,
    CSV_EXPORT,
    FEATURES,
    LEGACY_POINTER,
    LOCK,
    MARKER,
    METRICS,
    RAW,
    REJECTED,
    RUN_ARTIFACTS,
    RUN_ID_PATTERN,
    RUNS,
    TABLE_DATA,
    TABLES,
    RunLocation,
    run_started,
)
from fruits.config.uris import normalize_uri, spark_uri, table_uri
from fruits.errors import ConfigError
from fruits.storage.files import Files
from fruits.table import iceberg

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

log = logging.getLogger(__name__)

# What the embedded SQLite catalog keeps beside the tables (the database and its journals).
_CATALOG_FILES = (CATALOG_FILE, f"{CATALOG_FILE}-journal", f"{CATALOG_FILE}-wal", f"{CATALOG_FILE}-shm")


class Lake:
    """The tables and runs of one output URI."""

    def __init__(self, spark, output_uri: str, catalog: CatalogSettings, s3: Optional[S3Settings] = None):
        """`spark` is not used (the lake's files need no JVM); it stays while callers still pass it."""
        self.output = normalize_uri(output_uri)
        self.files = Files(self.output, s3)
        self.catalog_settings = catalog.validate(self.output)
        self.s3 = s3
        # The snapshot each table was at when this process first looked: a commit goes on top of it or not at all.
        self._base: dict[str, Optional[int]] = {}

    # -- the tables ---------------------------------------------------------------------------

    @cached_property
    def catalog(self) -> "Catalog":
        return iceberg.open_catalog(self.catalog_settings, self.output, self.s3)

    def identifier(self, name: str) -> str:
        return f"{self.catalog_settings.namespace}.{name}"

    def location(self, name: str) -> str:
        """The table's location as the table records it (s3:// or file:///)."""
        return f"{table_uri(self.output)}/{name}"

    def table(self, name: str) -> Optional["Table"]:
        """The table `name` as the catalog has it now, or None before the first commit. The first
        look fixes the snapshot this process's commit must go on top of."""
        from pyiceberg.exceptions import NoSuchTableError

        if self.catalog_settings.embedded and not self.files.exists(f"{self.output}/{CATALOG_FILE}"):
            table = None  # nothing committed here yet: the catalog file is made by the first commit, not by a look
        else:
            try:
                table = self.catalog.load_table(self.identifier(name))
            except NoSuchTableError:
                table = None
        if table is not None and table.location().rstrip("/") != self.location(name):
            raise ConfigError(f"table {self.identifier(name)} of catalog {self.catalog_settings.describe()} lies at "
                              f"{table.location()}, not in {self.output}: give this output its own --catalog-namespace")
        if name not in self._base:
            snapshot = table.current_snapshot() if table is not None else None
            self._base[name] = snapshot.snapshot_id if snapshot is not None else None
        return table

    def begin(self) -> None:
        """Fix the snapshots this run's commit must go on top of: the tables as they are now."""
        for name in TABLES:
            self.table(name)

    def data_folder(self, name: str, attempt: str) -> str:
        """Where an attempt's Spark job writes the data files of table `name` (a Spark URI)."""
        return spark_uri(f"{self.location(name)}/{TABLE_DATA}/{attempt}")

    # -- runs ---------------------------------------------------------------------------------

    def current_run(self) -> Optional[RunLocation]:
        table = self.table(FEATURES)
        snapshot = table.current_snapshot() if table is not None else None
        run_id = snapshot.summary.get(iceberg.RUN_ID) if snapshot is not None and snapshot.summary is not None else None
        return RunLocation(self.output, run_id) if run_id else None

    def require_current_run(self) -> RunLocation:
        run = self.current_run()
        if run is None:
            self.refuse_legacy_layout()
            raise ConfigError(f"{self.output} holds no committed fruits run (table {self.identifier(FEATURES)} of catalog "
                              f"{self.catalog_settings.describe()} has no snapshot)")
        return run

    def run_of(self, run_id: Optional[str]) -> RunLocation:
        """The run `run_id` if the table still holds its snapshot (None: the current run)."""
        if run_id is None:
            return self.require_current_run()
        table = self.table(FEATURES)
        if table is None:
            return self.require_current_run()
        return RunLocation(self.output, iceberg.snapshot_of(table, run_id).summary[iceberg.RUN_ID])

    def committed_runs(self) -> list[str]:
        """The run ids the features table holds a snapshot of, oldest first."""
        table = self.table(FEATURES)
        return [] if table is None else list(dict.fromkeys(rid for rid, _ in iceberg.run_snapshots(table)))

    def list_runs(self) -> list[str]:
        return self.files.folders(f"{self.output}/{RUNS}")

    def refuse_legacy_layout(self) -> None:
        if self.files.exists(f"{self.output}/{LEGACY_POINTER}"):
            raise ConfigError(f"{self.output} was written by an earlier version (a {LEGACY_POINTER} file and tables inside "
                              f"{RUNS}/); convert it to tables first: fruits migrate {self.output}")

    def check_writable_output(self) -> None:
        """Refuse to write into a non-empty folder that is not a fruits output: it is someone's data."""
        self.refuse_legacy_layout()
        names = set(self.files.names(self.output))
        foreign = names - {RUNS, CONVERTED, LOCK, *TABLES, *_CATALOG_FILES} - {n for n in names if n.startswith(f".{LOCK}.")}
        if foreign:
            shown = ", ".join(sorted(foreign)[:5])
            raise ConfigError(
                f"output {self.output} already holds files that are not a fruits output ({shown}); "
                "choose a new or empty location"
            )

    def mark_run(self, run: RunLocation, settings: dict) -> None:
        """Write the marker that makes `run`'s folder ours to clean up later; `settings` are what a
        restarted run must share with it to reuse its work (`resumable_run`)."""
        record = {"run_id": run.run_id, "host": socket.gethostname(), "pid": os.getpid(), "settings": settings}
        self.files.write_text(run[MARKER], json.dumps(record, sort_keys=True) + "\n")

    def run_settings(self, run: RunLocation) -> Optional[dict]:
        """The settings recorded in `run`'s marker, or None when the folder is not one of ours."""
        if not self.is_ours(run.run_id):
            return None
        return json.loads(self.files.read_text(run[MARKER])).get("settings")

    def resumable_run(self, settings: dict) -> Optional[RunLocation]:
        """The newest uncommitted run of ours, newer than the current one, made with the same `settings`."""
        current = self.current_run()
        for run_id in reversed(self.list_runs()):
            if current is not None and run_id <= current.run_id:
                return None
            run = RunLocation(self.output, run_id)
            if not self.is_complete(run) and self.run_settings(run) == settings:
                return run
        return None

    def finished_waves(self, run: RunLocation) -> list[str]:
        """URIs of the raw-feature waves of `run` that Spark committed (their `_SUCCESS` exists);
        half-written ones are deleted."""
        done = []
        for name in self.files.names(run[RAW]):
            uri = f"{run[RAW]}/{name}"
            if self.files.exists(f"{uri}/_SUCCESS"):
                done.append(uri)
            else:
                log.info("removing %s: a wave that did not finish", uri)
                self.files.delete(uri)
        return sorted(done)

    def clear_outputs(self, run: RunLocation) -> None:
        """Delete what a lost attempt of `run` wrote into its folder after featurizing (rewritten whole).
        Its uncommitted data files are left to the sweep: no snapshot references them."""
        for artifact in (*RUN_ARTIFACTS, CSV_EXPORT):
            if self.files.exists(run[artifact]):
                log.info("removing %s, left by the attempt that did not finish", run[artifact])
                self.files.delete(run[artifact])

    def written_files(self, name: str, attempt: str) -> list[str]:
        """The data files Spark wrote for table `name` in `attempt` (table URIs), one entry per file."""
        folder = self.data_folder(name, attempt)
        files = [n for n in self.files.names(folder) if n.endswith(".parquet") and not n.startswith((".", "_"))]
        return [f"{self.location(name)}/{TABLE_DATA}/{attempt}/{n}" for n in files]

    def commit(self, run: RunLocation, attempt: str, summary: dict, removed_features: Optional[Sequence[str]] = None,
               artifacts: Sequence[str] = RUN_ARTIFACTS) -> None:
        """Commit the files `attempt` wrote as run `run`'s snapshots: rejected, then features (the commit point).

        `removed_features`: the features files that lost rows (an incremental run that keeps the
        others as they are); None replaces every row. Raises iceberg.ConcurrentCommit when another
        writer committed since this run started.
        """
        missing = [a for a in artifacts if not self.files.exists(run[a])]
        if missing:
            raise RuntimeError(f"run {run.run_id} is incomplete (missing {', '.join(missing)}); not committing")
        tables = {name: self.table(name) for name in TABLES}
        for name, table in tables.items():  # both still where this run found them, before either moves (each commit checks again)
            iceberg.check_base(table, run.run_id, self._base.get(name))
        for name, removed in ((REJECTED, None), (FEATURES, removed_features)):
            added = self.written_files(name, attempt)
            table = tables[name]
            if table is None:
                if not added:
                    raise RuntimeError(f"run {run.run_id} wrote no data file for table {name}; not committing")
                table = iceberg.table_for(self.catalog, self.identifier(name), iceberg.file_schema(self.catalog, added[0]),
                                          self.location(name))
            snapshot = iceberg.commit_run(table, run.run_id, added, removed, properties=summary, based_on=self._base.get(name))
            self._base[name] = snapshot.snapshot_id  # this process's own commit is what a next one goes on top of
        log.info("committed run %s: tables %s and %s (catalog %s)", run.run_id, self.identifier(FEATURES),
                 self.identifier(REJECTED), self.catalog_settings.describe())

    def is_complete(self, run: RunLocation) -> bool:
        return run.run_id in self.committed_runs()

    def is_ours(self, run_id: str) -> bool:
        """A folder this tool wrote: a run-id name and the marker inside."""
        return bool(RUN_ID_PATTERN.match(run_id)) and self.files.exists(RunLocation(self.output, run_id)[MARKER])

    # -- housekeeping, after a commit ---------------------------------------------------------

    def prune(self, keep: int, attempt: str, min_age_hours: float) -> list[str]:
        """Expire all but the latest `keep` runs' snapshots, delete the folders of runs of ours no
        snapshot holds (older than the current run), then sweep the data files nothing references.

        Runs newer than the current one are left alone: another writer may still be filling them.
        """
        current = self.current_run()
        if current is None:
            return []
        expired = []
        for name in TABLES:
            table = self.table(name)
            if table is not None:
                expired += iceberg.expire_runs(table, keep)
        kept = set(self.committed_runs())
        older = [r for r in self.list_runs() if r < current.run_id and r not in kept and self.is_ours(r)]
        for run_id in older:
            self.files.delete(RunLocation(self.output, run_id).root)
        if older:
            log.info("removed the folders of %d run(s) no snapshot holds any more: %s", len(older), ", ".join(older))
        swept = sum(self.sweep(name, attempt, min_age_hours) for name in TABLES)
        if swept:
            log.info("deleted %d data file(s) that no snapshot references", swept)
        return older

    def sweep(self, name: str, attempt: str, min_age_hours: float) -> int:
        """Delete the data files of table `name` that no live snapshot references, in attempt folders
        other than `attempt` and older than `min_age_hours` (never a running attempt's)."""
        table = self.table(name)
        if table is None:
            return 0
        table.refresh()
        referenced = iceberg.referenced_files(table)
        root = spark_uri(f"{self.location(name)}/{TABLE_DATA}")
        deadline = time.time() - min_age_hours * 3600
        deleted = 0
        for folder in self.files.folders(root):
            if folder == attempt or not RUN_ID_PATTERN.match(folder) or run_started(folder) > deadline:
                continue
            owned = [f"{self.location(name)}/{TABLE_DATA}/{folder}/{n}" for n in self.files.names(f"{root}/{folder}")]
            unreferenced = [f for f in owned if f not in referenced]
            if len(unreferenced) == len(owned):
                self.files.delete(f"{root}/{folder}")
            else:
                for uri in unreferenced:
                    self.files.delete(spark_uri(uri))
            deleted += sum(1 for f in unreferenced if f.endswith(".parquet"))
        return deleted

    def read_metrics(self, run: RunLocation) -> dict:
        return json.loads(self.files.read_text(run[METRICS]))

    def read(self, spark, name: str, run_id: Optional[str] = None):
        """Table `name` as a Spark DataFrame, at run `run_id`'s snapshot (None: the current one), read
        from the snapshot's file list (Spark 4.3 has no Iceberg runtime)."""
        table = self.table(name)
        if table is None:
            self.require_current_run()
        snapshot = iceberg.snapshot_of(table, run_id)
        files = iceberg.snapshot_files(table, snapshot.snapshot_id)
        if not files:
            from pyiceberg.io.pyarrow import schema_to_pyarrow
            from pyspark.sql.pandas.types import from_arrow_schema

            return spark.createDataFrame([], from_arrow_schema(schema_to_pyarrow(table.schema())))
        return spark.read.parquet(*[spark_uri(f) for f in files])
