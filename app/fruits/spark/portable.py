"""What the job asks of a SparkSession, answered the same on a classic session and a Spark Connect one.

A Spark Connect client (`SparkSession.builder.remote("sc://...")`) has no JVM and no SparkContext:
no RDDs, accumulators, `addFile` or `_jvm`. The stages therefore speak DataFrames only, and the
few things they need from the session itself come from here: the cluster's parallelism, a file
shipped to every worker, a configuration value, progress while an action runs.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

from fruits.config.job_config import S3Settings
from fruits.config.uris import is_remote, local_path

log = logging.getLogger(__name__)


def is_connect(spark: Any) -> bool:
    """Whether `spark` is a Spark Connect session (a client of a server elsewhere)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def conf_value(spark: Any, key: str, default: Optional[str] = None) -> Optional[str]:
    """A setting of the session (spark-submit's, the chart's or the Connect server's)."""
    value = spark.conf.get(key, None)
    return default if value is None or value == "" else value


def default_parallelism(spark: Any) -> int:
    """The task slots the session's executors have now: the classic `defaultParallelism`; over
    Connect, the partitions Spark gives a range by default (the same number, asked of the server)."""
    if not is_connect(spark):
        return int(spark.sparkContext.defaultParallelism)
    from pyspark.sql import functions as F

    last = spark.range(1 << 16).select(F.spark_partition_id().alias("p")).agg(F.max("p")).first()[0]
    return max(1, int(last or 0) + 1)


def task_cpus(spark: Any) -> int:
    return int(conf_value(spark, "spark.task.cpus", "1"))


def ship_file(spark: Any, uri: str, s3: Optional[S3Settings] = None) -> str:
    """Send the file at `uri` to every worker; returns the name workers open with `SparkFiles.get`.

    Classic: `SparkContext.addFile` (local or any Hadoop URI). Connect: the client uploads it as a
    session artifact, so a remote file is fetched here first.
    """
    name = os.path.basename(uri.rstrip("/"))
    if not is_connect(spark):
        spark.sparkContext.addFile(uri)
        return name
    if is_remote(uri):
        from fruits.storage.files import Files

        folder = Path(tempfile.mkdtemp(prefix="fruits-ship-"))
        Files(uri, s3).download(uri, folder / name)
        path = folder / name
    else:
        path = local_path(uri)
    spark.addArtifacts(str(path), file=True)
    return name


def set_log_level(spark: Any, level: str) -> None:
    """The driver JVM's log level; a Connect client has no JVM of its own (the server keeps its own)."""
    if not is_connect(spark):
        spark.sparkContext.setLogLevel(level)


def driver_heap(spark: Any) -> dict:
    """The driver JVM's old-generation peak and maximum heap, in MB; {} over Spark Connect (the
    driver is the server's, not in this process).

    The old generation's peak is what survived collections, which is what grows when something is
    held per image (the young generation fills and empties whatever is held). In local mode the
    executors share that JVM, so it counts their blocks too.
    """
    if is_connect(spark):
        return {}
    jvm = spark.sparkContext._jvm
    pools = [p for p in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
             if str(p.getType().toString()) == "Heap memory"]
    old = [p for p in pools if any(word in p.getName() for word in ("Old", "Tenured"))] or pools
    retained = sum(p.getPeakUsage().getUsed() for p in old)
    return {"jvm_old_gen_peak_mb": round(retained / 2**20, 1),
            "jvm_heap_max_mb": round(jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20, 1)}


class TaskProgress:
    """Tasks finished so far by the actions run inside a `with` block, for progress lines.

    Classic sessions: the block's jobs carry a job group, and Spark's status tracker is asked for
    their stages. Connect sessions: the server reports each action's stages as it runs
    (`registerProgressHandler`). Either way a stage's progress is its finished tasks, as exact as
    Spark's own progress bar.
    """

    _GROUP = "spark.jobGroup.id"

    def __init__(self, spark: Any, name: str = "fruits") -> None:
        self._spark = spark
        self._group = f"{name}-{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        self._seen: dict[tuple[Optional[str], int], tuple[int, int]] = {}
        self._handler: Optional[Callable[..., None]] = None
        self._previous_group: Optional[str] = None

    def __enter__(self) -> "TaskProgress":
        if is_connect(self._spark):
            def handler(stages=None, inflight_tasks=0, operation_id=None, done=False, **_: Any) -> None:
                with self._lock:
                    for stage in stages or ():
                        self._seen[(operation_id, stage.stage_id)] = (stage.num_completed_tasks, stage.num_tasks)
                    # The client's last report of an action may predate its last tasks: an action
                    # that ended has finished its stages (a failed one ends the block, unreported).
                    if done:
                        for key, (_, total) in list(self._seen.items()):
                            if key[0] == operation_id:
                                self._seen[key] = (total, total)

            self._handler = handler
            self._spark.registerProgressHandler(handler)
        else:
            sc = self._spark.sparkContext
            self._previous_group = sc.getLocalProperty(self._GROUP)
            sc.setLocalProperty(self._GROUP, self._group)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handler is not None:
            try:
                self._spark.removeProgressHandler(self._handler)
            except Exception:  # a closed session: nothing left to remove
                log.debug("progress handler not removed", exc_info=True)
        else:
            self._spark.sparkContext.setLocalProperty(self._GROUP, self._previous_group)

    def stages(self) -> dict[tuple[Optional[str], int], tuple[int, int]]:
        """(finished, total) tasks of each stage the block's actions ran so far, by (action, stage id)."""
        if self._handler is None:
            tracker = self._spark.sparkContext.statusTracker()
            for job_id in tracker.getJobIdsForGroup(self._group):
                job = tracker.getJobInfo(job_id)
                for stage_id in job.stageIds if job is not None else ():
                    info = tracker.getStageInfo(stage_id)
                    if info is not None:
                        with self._lock:
                            self._seen[(str(job_id), stage_id)] = (info.numCompletedTasks, info.numTasks)
        with self._lock:
            return dict(self._seen)

    def finished_tasks(self, stage_tasks: int) -> int:
        """Tasks finished so far in the stage of `stage_tasks` tasks of each action (the work's own
        stage, a `repartition(stage_tasks)` away from its input), summed over the actions.

        Stages are told apart by their task count only (a Connect client learns nothing else): where
        the stage reading the input has the same count, a line may run ahead until the work starts.
        """
        best: dict[Optional[str], int] = {}
        for (action, _), (done, total) in self.stages().items():
            if total == stage_tasks:
                best[action] = max(best.get(action, 0), min(done, total))
        return sum(best.values())
