"""A table of runs as an Apache Iceberg table: one run is one snapshot, found again by its run id.

Spark 4.3 has no Iceberg runtime, so the executors write plain Parquet data files under the
table's location and the driver commits them with PyIceberg: one manifest entry per data file
(its footer read for the statistics), never one per image. A run replaces the rows of the runs
before it by dropping their data files from the snapshot, or (an incremental run) only the files
that lost rows; the files themselves stay until their snapshots expire and the sweep removes them.

Two writers decide by the format's optimistic commit: a snapshot is committed only on top of the
snapshot its run started from, else `ConcurrentCommit` (the loser's files are not referenced by
any snapshot, so readers never see them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from fruits.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

# The snapshot summary key naming the run that made the snapshot (commit_run's `properties` add the rest).
RUN_ID = "fruits.run-id"
# Names the current metadata file, for readers that open the table's folder without a catalog (DuckDB).
VERSION_HINT = "metadata/version-hint.text"
# The embedded catalog of a local output: an SQLite file beside the tables.
LOCAL_CATALOG_FILE = "catalog.db"
CATALOG_NAME = "fruits"


class ConcurrentCommit(ConfigError):
    """Another writer committed to the table after this run started: this run's snapshot was refused
    (exit 2, as for a held lock: run again once the other run is done)."""


@dataclass(frozen=True)
class CatalogSettings:
    """Where the table is registered. `kind` sql (SQLAlchemy `uri`; none: SQLite beside the table),
    glue (AWS Glue, the pod's credentials) or rest (an Iceberg REST endpoint, S3 Tables among them)."""

    kind: str = "sql"
    uri: Optional[str] = None
    namespace: str = "fruits"
    properties: Mapping[str, str] = field(default_factory=dict)

    def validate(self) -> "CatalogSettings":
        if self.kind not in ("sql", "glue", "rest"):
            raise ConfigError(f"catalog {self.kind!r} is not one of sql, glue, rest")
        if self.kind == "rest" and not self.uri:
            raise ConfigError("a rest catalog needs its endpoint URI")
        if not self.namespace or "." in self.namespace:
            raise ConfigError(f"catalog namespace {self.namespace!r} must be one non-empty name without dots")
        return self


def open_catalog(settings: CatalogSettings, warehouse: str) -> "Catalog":
    """The catalog, by `settings`; a local SQLite one keeps its file in the `warehouse` folder (a path)."""
    from pyiceberg.catalog import load_catalog

    settings = settings.validate()
    properties = {"type": settings.kind, **settings.properties}
    if settings.kind == "sql":
        properties["uri"] = settings.uri or f"sqlite:///{warehouse}/{LOCAL_CATALOG_FILE}"
        properties.setdefault("warehouse", f"file://{warehouse}")
    elif settings.uri:
        properties["uri"] = settings.uri
    catalog = load_catalog(CATALOG_NAME, **properties)
    catalog.create_namespace_if_not_exists(settings.namespace)
    return catalog


def optional_schema(schema: "pa.Schema") -> "pa.Schema":
    """`schema` with every field and list element optional: Spark declares some fields required in
    one file and not in another, and an Iceberg table accepts both only when its fields are optional."""
    import pyarrow as pa

    def loosen(kind: "pa.DataType") -> "pa.DataType":
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return pa.list_(pa.field(kind.value_field.name, loosen(kind.value_type), nullable=True))
        if pa.types.is_struct(kind):
            return pa.struct([pa.field(f.name, loosen(f.type), nullable=True) for f in kind])
        return kind

    return pa.schema([pa.field(f.name, loosen(f.type), nullable=True) for f in schema])


def table_for(catalog: "Catalog", identifier: str, schema: "pa.Schema", location: str) -> "Table":
    """The table `identifier` (namespace.name), created at `location` with `schema` if it does not exist.

    An existing table at another location is refused: two outputs must not share one catalog entry.
    """
    from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError

    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        try:
            table = catalog.create_table(identifier, schema=optional_schema(schema), location=location)
        except TableAlreadyExistsError:  # another writer created it a moment ago
            table = catalog.load_table(identifier)
    if table.location().rstrip("/") != location.rstrip("/"):
        raise ConfigError(f"table {identifier} is registered at {table.location()}, not {location}: "
                          "choose another table name for this output")
    if table.metadata.name_mapping() is None:
        # Spark's files carry no Iceberg field ids: columns are matched by name.
        from pyiceberg.table import TableProperties

        with table.transaction() as transaction:
            transaction.set_properties(**{TableProperties.DEFAULT_NAME_MAPPING: table.schema().name_mapping.model_dump_json()})
    return table


def commit_run(table: "Table", run_id: str, added: Sequence[str], removed: Optional[Iterable[str]] = None,
               properties: Optional[Mapping[str, str]] = None) -> "Snapshot":
    """Commit one snapshot for `run_id` on top of the snapshot `table` was loaded at: `added` data
    files (URIs) in, and out either every file of the current snapshot (`removed` None: the run
    replaces all rows) or just the `removed` ones (an incremental run: the files that lost rows).

    Raises ConcurrentCommit when another writer committed first; nothing of this run is then
    referenced by the table.
    """
    from pyiceberg.exceptions import CommitFailedException, ValidationException
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    if len(set(added)) != len(added):
        raise ValueError("a data file is listed twice")
    summary = {RUN_ID: run_id, **{k: str(v) for k, v in (properties or {}).items()}}
    current = current_files(table)
    gone = list(current) if removed is None else list(removed)
    unknown = [path for path in gone if path not in current]
    if unknown:
        raise ValueError(f"{len(unknown)} file(s) to remove are not in the current snapshot, e.g. {unknown[0]}")
    try:
        with table.transaction() as transaction, \
                transaction.update_snapshot(snapshot_properties=summary).overwrite() as snapshot:
            for path in gone:
                snapshot.delete_data_file(current[path])
            for path in added:
                snapshot.append_data_file(parquet_file_to_data_file(table.io, table.metadata, path))
    except (CommitFailedException, ValidationException) as exc:
        # PyIceberg retries a refused commit on the newer snapshot; the overwrite's conflict check then
        # finds the other run's files and refuses it for good (ValidationException).
        raise ConcurrentCommit(f"another run committed to table {'.'.join(table.name())} first; "
                               f"run {run_id} was not committed ({exc})") from exc
    table.refresh()
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary.get(RUN_ID) == run_id
    write_version_hint(table)
    return snapshot


def write_version_hint(table: "Table") -> None:
    """Name the current metadata file in the table's folder, so that a reader with no catalog finds
    it (DuckDB's iceberg_scan on the folder). Written after the commit: a stale hint names an older
    snapshot, never an uncommitted one."""
    name = table.metadata_location.rsplit("/", 1)[-1].removesuffix(".metadata.json")
    with table.io.new_output(f"{table.location().rstrip('/')}/{VERSION_HINT}").create(overwrite=True) as out:
        out.write(name.encode())


def current_files(table: "Table") -> dict:
    """Path -> DataFile of every data file in the current snapshot (one entry per file)."""
    if table.current_snapshot() is None:
        return {}
    return {task.file.file_path: task.file for task in table.scan().plan_files()}


def run_snapshots(table: "Table") -> list[tuple[str, "Snapshot"]]:
    """(run id, snapshot) of every snapshot a run committed, oldest first."""
    snapshots = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
    return [(s.summary.get(RUN_ID), s) for s in snapshots if s.summary is not None and s.summary.get(RUN_ID)]


def snapshot_of(table: "Table", run_id: Optional[str] = None) -> "Snapshot":
    """The snapshot of `run_id`, or the current one; a run the table does not hold is named with the ones it does."""
    runs = run_snapshots(table)
    if not runs:
        raise ConfigError(f"table {'.'.join(table.name())} holds no run yet")
    if run_id is None:
        current = table.current_snapshot()
        assert current is not None
        return current
    for rid, snapshot in runs:
        if rid == run_id:
            return snapshot
    known = ", ".join(rid for rid, _ in runs[-5:])
    raise ConfigError(f"run {run_id} is not in table {'.'.join(table.name())} (its latest runs: {known}); "
                      "it may have expired")


def expire_runs(table: "Table", keep: int) -> list[str]:
    """Expire every snapshot but the latest `keep` runs' (the current one always stays); returns
    the expired run ids. Expiry removes snapshots from the metadata only: their files are the sweep's."""
    if keep < 1:
        raise ConfigError(f"keep at least one run, not {keep}")
    runs = run_snapshots(table)
    current = table.current_snapshot()
    kept = {s.snapshot_id for _, s in runs[-keep:]} | ({current.snapshot_id} if current else set())
    doomed = [s for s in table.snapshots() if s.snapshot_id not in kept]
    if doomed:
        table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in doomed]).commit()
    return [s.summary.get(RUN_ID) for s in doomed if s.summary is not None and s.summary.get(RUN_ID)]


def referenced_files(table: "Table") -> set[str]:
    """Every data file that a live snapshot of the table references: what a sweep must never delete."""
    paths: set[str] = set()
    for snapshot in table.snapshots():
        for manifest in snapshot.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                paths.add(entry.data_file.file_path)
    return paths
