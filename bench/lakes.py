"""What the bench scripts read back from a local output: the current run's metrics.json, found
through the tables' catalog as any reader would (PyIceberg, the snapshot's run id)."""

from __future__ import annotations

import json
from pathlib import Path

RUN_ID = "fruits.run-id"  # the snapshot summary key naming the run (docs/operations.md)


def current_metrics(output: Path) -> dict:
    from pyiceberg.catalog.sql import SqlCatalog

    table = SqlCatalog("fruits", uri=f"sqlite:///{output.resolve()}/catalog.db").load_table("fruits.features")
    run_id = table.current_snapshot().summary[RUN_ID]
    return json.loads((output / "runs" / run_id / "metrics.json").read_text())
