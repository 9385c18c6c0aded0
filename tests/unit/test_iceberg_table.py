"""The Iceberg table of runs on local files: snapshots by run id, replacing and incremental commits,
the optimistic commit that refuses the second of two writers, expiry, and readers outside the project."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablekit
from fruits.config.catalog import CatalogSettings
from fruits.errors import ConfigError
from fruits.table.iceberg import (
    RUN_ID,
    ConcurrentCommit,
    commit_run,
    current_files,
    expire_runs,
    open_catalog,
    referenced_files,
    run_snapshots,
    snapshot_of,
    table_for,
)

# As Spark writes it: some fields required in the file, list elements too.
SPARK_SCHEMA = pa.schema([pa.field("path", pa.string()), pa.field("label", pa.string(), nullable=False),
                          pa.field("features", pa.list_(pa.field("element", pa.float32()))),
                          pa.field("pca", pa.list_(pa.field("element", pa.float64(), nullable=False)), nullable=False)])


def data_file(location: Path, paths: list[str]) -> str:
    """A Parquet data file under the table's data folder, as an executor would write it."""
    folder = location / "data"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"part-{uuid.uuid4().hex}.parquet"
    rows = {"path": paths, "label": ["Kiwi"] * len(paths), "features": [[1.0, float(i)] for i in range(len(paths))],
            "pca": [[0.5] for _ in paths]}
    pq.write_table(pa.table(rows, schema=SPARK_SCHEMA), target)
    return target.as_uri()


@pytest.fixture()
def lake(tmp_path):
    catalog = open_catalog(CatalogSettings(), str(tmp_path))
    location = tmp_path / "features"
    return catalog, location, table_for(catalog, "fruits.features", SPARK_SCHEMA, location.as_uri())


def paths_of(table, run_id=None) -> list[str]:
    snapshot = snapshot_of(table, run_id)
    return sorted(table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().column("path").to_pylist())


def test_each_run_is_one_snapshot_found_again_by_its_run_id(lake):
    _, location, table = lake
    first = commit_run(table, "r1", [data_file(location, ["a", "b"]), data_file(location, ["c"])], properties={"fruits.model": "resnet50"})
    assert first.summary[RUN_ID] == "r1" and first.summary["fruits.model"] == "resnet50"
    second = commit_run(table, "r2", [data_file(location, ["d"])])
    assert paths_of(table) == ["d"] and paths_of(table, "r1") == ["a", "b", "c"]
    assert [rid for rid, _ in run_snapshots(table)] == ["r1", "r2"] and table.current_snapshot().snapshot_id == second.snapshot_id
    with pytest.raises(ConfigError, match="run r0 is not in table fruits.features .*r1, r2"):
        snapshot_of(table, "r0")


def test_an_incremental_run_drops_only_the_files_that_lost_rows(lake):
    _, location, table = lake
    kept, changed = data_file(location, ["a", "b"]), data_file(location, ["c", "d"])
    commit_run(table, "r1", [kept, changed])
    rewritten, new = data_file(location, ["c"]), data_file(location, ["e"])  # d was removed from the input
    commit_run(table, "r2", [rewritten, new], removed=[changed])
    assert paths_of(table) == ["a", "b", "c", "e"]
    assert set(current_files(table)) == {kept, rewritten, new}
    with pytest.raises(ValueError, match="not in the current snapshot"):
        commit_run(table, "r3", [], removed=[changed])


def test_of_two_writers_the_second_commit_is_refused_and_leaves_nothing_referenced(lake):
    catalog, location, mine = lake
    theirs = catalog.load_table("fruits.features")  # both loaded before either commits
    commit_run(theirs, "theirs", [data_file(location, ["t"])])
    late = data_file(location, ["m"])
    with pytest.raises(ConcurrentCommit, match="another run committed to table fruits.features first; run mine was not committed"):
        commit_run(mine, "mine", [late])
    table = catalog.load_table("fruits.features")
    assert paths_of(table) == ["t"] and late not in referenced_files(table)


def test_expiry_keeps_the_latest_runs_and_the_sweep_knows_what_is_still_referenced(lake):
    _, location, table = lake
    files = [data_file(location, [name]) for name in ("a", "b", "c")]
    for number, path in enumerate(files):
        commit_run(table, f"r{number}", [path])
    assert referenced_files(table) == set(files)
    assert expire_runs(table, keep=2) == ["r0"]
    assert [rid for rid, _ in run_snapshots(table)] == ["r1", "r2"] and referenced_files(table) == set(files[1:])
    assert paths_of(table, "r1") == ["b"]
    with pytest.raises(ConfigError, match="keep at least one run"):
        expire_runs(table, keep=0)


def test_one_catalog_entry_cannot_name_two_locations(lake, tmp_path):
    catalog, _, _ = lake
    with pytest.raises(ConfigError, match="is registered at .*choose another table name"):
        table_for(catalog, "fruits.features", SPARK_SCHEMA, (tmp_path / "elsewhere").as_uri())


def test_bad_catalog_settings_are_named():
    with pytest.raises(ConfigError, match="not one of sql, glue, rest"):
        CatalogSettings(kind="hive").validate()
    with pytest.raises(ConfigError, match="rest needs the endpoint"):
        CatalogSettings(kind="rest").validate()
    with pytest.raises(ConfigError, match="embedded SQLite catalog cannot live.*--catalog-uri postgresql"):
        CatalogSettings().validate("s3a://lake/out")
    with pytest.raises(ConfigError, match="without dots"):
        CatalogSettings(namespace="a.b").validate()
    CatalogSettings(uri="sqlite:////tmp/c.db").validate("s3a://lake/out")  # an explicit catalog is fine
    CatalogSettings(kind="glue").validate("s3a://lake/out")


def test_a_commit_on_top_of_a_moved_table_is_refused(lake):
    """The run started at one snapshot; another writer committed since: the format's commit decides."""
    _, location, table = lake
    first = commit_run(table, "r1", [data_file(location, ["a"])])
    commit_run(table, "r2", [data_file(location, ["b"])])
    with pytest.raises(ConcurrentCommit, match="run r2 committed.*after run r3 started"):
        commit_run(table, "r3", [data_file(location, ["c"])], based_on=first.snapshot_id)
    assert paths_of(table) == ["b"]


def test_readers_outside_the_project_read_the_current_and_a_past_run(lake, monkeypatch):
    """pyarrow through PyIceberg, Polars and DuckDB (its iceberg extension from PyPI), none of them
    through this project's code: the catalog, the metadata file or the table's folder is enough."""
    import polars as pl
    from pyiceberg.catalog.sql import SqlCatalog

    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")  # the planner plugin is another package
    catalog, location, table = lake
    commit_run(table, "r1", [data_file(location, ["a", "b"])])
    first = table.current_snapshot().snapshot_id
    commit_run(table, "r2", [data_file(location, ["c"])])
    warehouse = location.parent

    theirs = SqlCatalog("fruits", uri=f"sqlite:///{warehouse}/catalog.db").load_table("fruits.features")
    assert sorted(theirs.scan().to_arrow().column("path").to_pylist()) == ["c"]
    assert sorted(theirs.scan(snapshot_id=first).to_arrow().column("path").to_pylist()) == ["a", "b"]

    frame = pl.scan_iceberg(theirs.metadata_location).collect()
    assert frame.get_column("path").to_list() == ["c"] and frame.schema["features"] == pl.List(pl.Float32)

    con = tablekit.duckdb_with("avro", "iceberg")
    assert con.execute(f"SELECT path FROM iceberg_scan('{location}')").fetchall() == [("c",)]
    assert [r[0] for r in con.execute(f"SELECT snapshot_id FROM iceberg_snapshots('{location}') ORDER BY sequence_number").fetchall()][0] == first
