"""Read an output's tables as a reader outside the project does: PyIceberg through the catalog, no
code of the job's. Shared by the spark and s3 tiers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog

RUN_ID = "fruits.run-id"  # the snapshot summary key, as docs/operations.md names it
Output = Union[Path, str]


def open_catalog(output: Output, uri: Optional[str] = None, **properties: str) -> Catalog:
    """The catalog of `output`: the embedded SQLite file of a local output, or the one at `uri`."""
    uri = uri or f"sqlite:///{Path(output)}/catalog.db"
    return load_catalog("fruits", type="sql", uri=uri, **properties)


def table(output: Output, name: str = "features", namespace: str = "fruits", **catalog):
    return open_catalog(output, **catalog).load_table(f"{namespace}.{name}")


def run_snapshot(tbl, run_id: Optional[str] = None):
    """The snapshot of `run_id` (the last one with it), or the current one."""
    if run_id is None:
        return tbl.current_snapshot()
    matches = [s for s in sorted(tbl.snapshots(), key=lambda s: s.timestamp_ms) if s.summary and s.summary.get(RUN_ID) == run_id]
    assert matches, f"no snapshot of run {run_id}"
    return matches[-1]


def current_run_id(output: Output, **catalog) -> Optional[str]:
    """The run id of the features table's current snapshot; None when nothing is committed."""
    if isinstance(output, Path) and not (output / "catalog.db").exists() and "uri" not in catalog:
        return None
    from pyiceberg.exceptions import NoSuchTableError

    try:
        snapshot = table(output, "features", **catalog).current_snapshot()
    except NoSuchTableError:
        return None
    return snapshot.summary.get(RUN_ID) if snapshot is not None else None


def rows(output: Output, name: str = "features", columns: Optional[list[str]] = None, run_id: Optional[str] = None,
         **catalog) -> pa.Table:
    tbl = table(output, name, **catalog)
    scan = tbl.scan(snapshot_id=run_snapshot(tbl, run_id).snapshot_id, selected_fields=tuple(columns) if columns else ("*",))
    return scan.to_arrow()


def files(output: Output, name: str = "features", run_id: Optional[str] = None, **catalog) -> list[str]:
    """The data files (URIs) of a run's snapshot of table `name`."""
    tbl = table(output, name, **catalog)
    return sorted(t.file.file_path for t in tbl.scan(snapshot_id=run_snapshot(tbl, run_id).snapshot_id).plan_files())


def local_files(output: Path, name: str = "features", run_id: Optional[str] = None) -> list[Path]:
    return [Path(uri.removeprefix("file://")) for uri in files(output, name, run_id)]


def metrics(output: Path, run_id: Optional[str] = None) -> dict:
    run_id = run_id or current_run_id(output)
    return json.loads((output / "runs" / run_id / "metrics.json").read_text())


def duckdb_with(*names: str):
    """A DuckDB connection with extensions loaded from their PyPI packages (duckdb-extension-NAME),
    since the tests cannot download them."""
    import importlib

    import duckdb

    con = duckdb.connect()
    version = con.execute("PRAGMA version").fetchone()[0]
    for name in names:
        package = importlib.import_module(f"duckdb_extension_{name}")
        con.execute(f"INSTALL '{Path(package.__file__).parent / 'extensions' / version / f'{name}.duckdb_extension'}'")
        con.execute(f"LOAD {name}")
    return con
