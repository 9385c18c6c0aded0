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
from typing import TYPE_CHECKING, Optional

from fruits.config.catalog import CatalogSettings
from fruits.config.job_config import S3Settings
from fruits.config.layout import CATALOG_FILE
from fruits.config.uris import is_s3, local_path
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
LOCAL_CATALOG_FILE = CATALOG_FILE
CATALOG_NAME = "fruits"


class ConcurrentCommit(ConfigError):
    """Another writer committed to the table after this run started: this run's snapshot was refused
    (exit 2, as for a held lock: run again once the other run is done)."""


def catalog_properties(settings: CatalogSettings, output: str, s3: Optional[S3Settings] = None) -> dict[str, str]:
    """PyIceberg's properties for the catalog of `output` (a path or URI) and its files.

    >>> catalog_properties(CatalogSettings(), "/data/out")["uri"]
    'sqlite:////data/out/catalog.db'
    >>> sorted(catalog_properties(CatalogSettings(kind="glue"), "s3a://lake/out", S3Settings(region="eu-west-1")).items())
    [('glue.region', 'eu-west-1'), ('s3.region', 'eu-west-1'), ('type', 'glue')]
    """
    settings = settings.validate(output)
    properties = {"type": settings.kind}
    if settings.embedded:
        properties["uri"] = f"sqlite:///{local_path(output)}/{LOCAL_CATALOG_FILE}"
    elif settings.uri:
        properties["uri"] = settings.uri
    if settings.warehouse:
        properties["warehouse"] = settings.warehouse
    if s3 is not None and is_s3(output):
        properties["s3.region"] = s3.region
        if settings.kind == "glue":
            properties["glue.region"] = s3.region
        if s3.endpoint:
            properties["s3.endpoint"] = s3.endpoint
            if s3.path_style is False:
                properties["s3.force-virtual-addressing"] = "true"
    return properties


def open_catalog(settings: CatalogSettings, output: str, s3: Optional[S3Settings] = None) -> "Catalog":
    """The catalog of `output`'s tables, its namespace created if missing."""
    from pyiceberg.catalog import load_catalog

    properties = catalog_properties(settings, output, s3)
    if settings.embedded:
        local_path(output).mkdir(parents=True, exist_ok=True)
    try:
        catalog = load_catalog(CATALOG_NAME, **properties)
        catalog.create_namespace_if_not_exists(settings.namespace)
    except ImportError as exc:
        raise ConfigError(f"catalog {settings.describe()}: a library it needs is missing ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, boto3 and HTTP clients raise their own kinds
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cannot open catalog {settings.describe()}: {type(exc).__name__}: {exc}") from exc
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


# `commit_run(based_on=ANY_BASE)`: no expectation about the snapshot the table is at.
ANY_BASE = -1


def file_schema(catalog: "Catalog", path: str) -> "pa.Schema":
    """The Arrow schema of one Parquet data file (the first file of a table's first run), read with
    the catalog's file IO: its footer only."""
    import pyarrow.parquet as pq
    from pyiceberg.io import load_file_io

    with load_file_io(catalog.properties, path).new_input(path).open() as stream:
        return pq.ParquetFile(stream).schema_arrow


def check_base(table: Optional["Table"], run_id: str, based_on: Optional[int]) -> None:
    """Raise ConcurrentCommit unless `table` (None: not created yet) is at snapshot `based_on`, the
    one run `run_id` started from."""
    now = table.current_snapshot() if table is not None else None
    if (now.snapshot_id if now is not None else None) != based_on:
        other = now.summary.get(RUN_ID, "?") if now is not None and now.summary is not None else "?"
        name = ".".join(table.name()) if table is not None else "?"
        raise ConcurrentCommit(f"run {other} committed to table {name} after run {run_id} started; "
                               f"run {run_id} was not committed: run it again")


def commit_run(table: "Table", run_id: str, added: Sequence[str], removed: Optional[Iterable[str]] = None,
               properties: Optional[Mapping[str, str]] = None, based_on: Optional[int] = ANY_BASE) -> "Snapshot":
    """Commit one snapshot for `run_id` on top of the snapshot `table` was loaded at: `added` data
    files (URIs) in, and out either every file of the current snapshot (`removed` None: the run
    replaces all rows) or just the `removed` ones (an incremental run: the files that lost rows).

    `based_on`: the snapshot id (None: no snapshot yet) the run started from; when the table has
    moved on since, another writer committed in between and this run must not replace its rows.

    Raises ConcurrentCommit when another writer committed first; nothing of this run is then
    referenced by the table.
    """
    from pyiceberg.exceptions import CommitFailedException, ValidationException
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    if len(set(added)) != len(added):
        raise ValueError("a data file is listed twice")
    summary = {RUN_ID: run_id, **{k: str(v) for k, v in (properties or {}).items()}}
    if based_on != ANY_BASE:
        check_base(table, run_id, based_on)
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


def snapshot_files(table: "Table", snapshot_id: int) -> list[str]:
    """The data files (URIs) of one snapshot: one entry per file, never one per row."""
    return sorted(task.file.file_path for task in table.scan(snapshot_id=snapshot_id).plan_files())


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
    for rid, snapshot in reversed(runs):  # a resumed run may have committed one table twice: the last one counts
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
