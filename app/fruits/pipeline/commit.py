"""The commit stage: metrics.json, then one snapshot per table (fruits.table.lake), then housekeeping."""

from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

from fruits.config.layout import METRICS, RAW
from fruits.pipeline.run import Run
from fruits.report.text import metrics_json

log = logging.getLogger(__name__)

# Snapshot summary keys: what a reader of the table's history sees of each run without opening metrics.json.
SUMMARY_PREFIX = "fruits."


def snapshot_summary(metrics: dict) -> dict[str, str]:
    """The run's model, weights, k and explained variance, as the snapshot summary carries them.

    >>> snapshot_summary({"model": "resnet50", "weights": {"kind": "random"}, "precision": {"mode": "fp32"},
    ...                   "pca": {"k": 3, "explained_variance": [0.5, 0.2, 0.1]}, "counts": {"accepted": 9, "rejected": 1}})["fruits.explained-variance"]
    '0.800000'
    """
    pca = metrics["pca"]
    return {f"{SUMMARY_PREFIX}{key}": str(value) for key, value in {
        "model": metrics["model"],
        "weights": metrics["weights"]["kind"],
        "precision": metrics["precision"]["mode"],
        "k": pca["k"],
        "explained-variance": f"{sum(pca['explained_variance']):.6f}",
        "accepted": metrics["counts"]["accepted"],
        "rejected": metrics["counts"]["rejected"],
    }.items()}


def commit_stage(r: Run, metrics: dict, fence: Callable[[], None], replaced: Optional[Sequence[str]] = None) -> None:
    """Write metrics.json, commit the run's snapshots, then tidy up (failures there are warnings only).

    `fence` raises when this run may no longer commit (its lock was taken over: OutputLock.confirm).
    `replaced`: the previous features files that lost rows, when the others stay (None: all go).
    """
    r.lake.files.write_text(r.run[METRICS], metrics_json(metrics))
    fence()
    r.lake.commit(r.run, r.attempt, snapshot_summary(metrics), replaced)
    # The run is committed: what follows is housekeeping, and its failure must not fail the run
    # (a restart would recompute everything for nothing).
    try:
        if r.lake.files.exists(r.run[RAW]):
            r.lake.files.delete(r.run[RAW])
        r.lake.prune(r.config.keep_runs, r.attempt, r.config.settings.sweep_min_age_hours)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal after the commit
        log.warning("run %s is committed, but removing working files or old runs failed: %s", r.run.run_id, exc)
