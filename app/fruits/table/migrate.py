"""`fruits migrate`: an output of the layout before the tables (`_CURRENT` naming a run folder that
holds its own `features/` and `rejected/` Parquet tables) becomes the two Iceberg tables.

Each complete run, oldest first, up to the one `_CURRENT` names, becomes one snapshot: its data
files move (a rename locally; a copy and a delete on S3) into the tables' `data/<run_id>/` folders,
where the tables own them, and are committed as they are. `_CURRENT` goes last: a migration that is
killed is finished by running it again (committed runs are skipped, moved files stay moved).
"""

from __future__ import annotations

import logging

from fruits.config.layout import FEATURES, LEGACY_POINTER, MARKER, METRICS, REJECTED, TABLE_DATA, RunLocation
from fruits.config.uris import spark_uri
from fruits.errors import ConfigError
from fruits.table.lake import Lake

log = logging.getLogger(__name__)


def legacy_summary(metrics: dict) -> dict[str, str]:
    """The snapshot summary of a migrated run, from what its metrics.json has."""
    pca = metrics.get("pca", {})
    return {"fruits.model": str(metrics.get("model", "resnet50")), "fruits.weights": str(metrics.get("weights", {}).get("kind")),
            "fruits.k": str(pca.get("k")), "fruits.explained-variance": f"{sum(pca.get('explained_variance', [])):.6f}",
            "fruits.migrated-from": LEGACY_POINTER}


def migrate(lake: Lake) -> list[str]:
    """Convert `lake` in place (the caller holds its lock); returns the run ids committed."""
    pointer = f"{lake.output}/{LEGACY_POINTER}"
    if not lake.files.exists(pointer):
        if lake.current_run() is not None:
            return []
        raise ConfigError(f"{lake.output} holds no {LEGACY_POINTER} file: nothing to migrate")
    current = lake.files.read_text(pointer).strip()
    lake.begin()
    committed = set(lake.committed_runs())
    runs = [r for r in lake.list_runs() if r <= current and lake.is_ours(r) and lake.files.exists(RunLocation(lake.output, r)[METRICS])]
    if current not in runs and current not in committed:
        raise ConfigError(f"{pointer} names run {current}, which is not a complete run folder of this tool")
    done = []
    for run_id in runs:
        run = RunLocation(lake.output, run_id)
        if run_id in committed:
            continue
        metrics = lake.read_metrics(run)
        if metrics.get("format", "parquet") != "parquet":
            raise ConfigError(f"run {run_id} wrote CSV tables, which cannot become Iceberg tables: "
                              "featurize the input again into a new output")
        for name in (REJECTED, FEATURES):
            move_data_files(lake, run, name)
        lake.commit(run, run_id, legacy_summary(metrics), None, artifacts=(METRICS, MARKER))
        done.append(run_id)
        log.info("migrated run %s into the tables", run_id)
    lake.files.delete(pointer)
    return done


def move_data_files(lake: Lake, run: RunLocation, name: str) -> None:
    """Move the Parquet files of the run folder's table `name` into the table's data/<run_id>/."""
    source = run[name]
    target = spark_uri(f"{lake.location(name)}/{TABLE_DATA}/{run.run_id}")
    for file in lake.files.names(source):
        if file.endswith(".parquet") and not file.startswith((".", "_")):
            lake.files.move(f"{source}/{file}", f"{target}/{file}")
    if not any(f.endswith(".parquet") for f in lake.files.names(source)):
        lake.files.delete(source)
