"""The commit stage: metrics.json, then the atomic switch of `_CURRENT` (fruits.table.lake), then housekeeping."""

from __future__ import annotations

import logging
from typing import Callable

from fruits.config.layout import METRICS, RAW
from fruits.pipeline.run import Run
from fruits.report.text import metrics_json

log = logging.getLogger(__name__)


def commit_stage(r: Run, metrics: dict, fence: Callable[[], None]) -> None:
    """Write metrics.json, make the run current, then tidy up (failures there are warnings only).

    `fence` raises when this run may no longer commit (its lock was taken over: OutputLock.confirm).
    """
    r.lake.files.write_text(r.run[METRICS], metrics_json(metrics))
    fence()
    r.lake.commit(r.run)
    # The run is committed: what follows is housekeeping, and its failure must not fail the run
    # (a restart would recompute everything for nothing).
    try:
        if r.lake.files.exists(r.run[RAW]):
            r.lake.files.delete(r.run[RAW])
        r.lake.prune(r.config.keep_runs)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal after the commit
        log.warning("run %s is committed, but removing working files or old runs failed: %s", r.run.run_id, exc)
