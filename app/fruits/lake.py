"""The output layout and its commit step, the same on a local disk and on S3.

    OUTPUT/
      _CURRENT                  one line: the id of the last complete run
      runs/<run_id>/features/   Parquet (or CSV) rows of accepted images
      runs/<run_id>/rejected/   path, reason
      runs/<run_id>/model/      Spark ML PipelineModel (scaler + PCA)
      runs/<run_id>/metrics.json
      runs/<run_id>/pca_2d.png
      runs/<run_id>/_FRUITS_RUN  marker: this tool wrote the folder (cleanup deletes nothing else),
                                 and the settings a resumed run must share (fruits.stages.start)
      runs/<run_id>/_raw/        working: raw features, one folder per wave; removed after the commit
      _LOCK                     held by the one run writing here (fruits.lock)

Why a pointer file instead of writing `features/` straight under OUTPUT: S3 has no atomic rename
of a folder, so "write elsewhere, then move into place" can leave half a run visible. A run writes
into a fresh `runs/<run_id>/` and becomes visible only when `_CURRENT` is replaced, which is a
single atomic PUT on S3 and an `os.replace` locally. A run that dies before that leaves the previous
run untouched and readable. Old runs beyond `keep_runs` are deleted only after a successful commit,
and only folders this tool wrote: a run-id name and the marker file inside. `_CURRENT` never moves
to an older run.

All file operations go through Hadoop's FileSystem API (via the Spark JVM) so s3a:// and file://
behave alike; a local path is used directly only for the atomic pointer replace.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from fruits.config import ConfigError, is_remote, local_path, normalize_uri
from fruits.lock import LOCK
from fruits.schema import METRICS, RAW, REQUIRED_ARTIFACTS, RUN_ID_PATTERN

log = logging.getLogger(__name__)

POINTER = "_CURRENT"
RUNS = "runs"
ARTIFACTS = REQUIRED_ARTIFACTS
MARKER = "_FRUITS_RUN"
# This tool's own temporary files at the top of an output (the pointer's, the lock's): never foreign.
OWN_TEMPORARY = re.compile(r"^\.(_CURRENT\..+\.tmp|_LOCK\..+\.aside)$")


def new_run_id(now: Optional[datetime] = None) -> str:
    """Sortable, unique enough for one output: 20261125T063000Z-3f2a1c."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(3).hex()


@dataclass(frozen=True)
class RunLocation:
    output: str
    run_id: str

    @property
    def root(self) -> str:
        return f"{self.output}/{RUNS}/{self.run_id}"

    def __getitem__(self, artifact: str) -> str:
        return f"{self.root}/{artifact}"


class Lake:
    """File operations on one output URI through the JVM's Hadoop FileSystem."""

    def __init__(self, spark, output_uri: str):
        self.output = normalize_uri(output_uri)
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._path(self.output).getFileSystem(self._conf)

    def _path(self, uri: str):
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def exists(self, uri: str) -> bool:
        return bool(self._fs.exists(self._path(uri)))

    def read_text(self, uri: str) -> str:
        stream = self._fs.open(self._path(uri))
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            stream.close()

    def upload(self, local_file: Path, uri: str) -> None:
        self._fs.copyFromLocalFile(False, True, self._path(str(local_file)), self._path(uri))

    def download(self, uri: str, local_file: Path) -> None:
        self._fs.copyToLocalFile(False, self._path(uri), self._path(str(local_file)), True)

    def replace_file(self, local_file: Path, uri: str) -> None:
        """Overwrite `uri` so a reader sees the old or the new content, never a mix."""
        if is_remote(uri):
            self.upload(local_file, uri)  # one PUT
            return
        target = local_path(uri)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(Path(local_file).read_bytes())
        os.replace(tmp, target)

    def write_text(self, uri: str, text: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / "content"
            file.write_text(text, encoding="utf-8")
            self.upload(file, uri)

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def names(self, uri: str) -> list[str]:
        """Names of the entries directly in the folder `uri`, sorted ([] when there is no such folder)."""
        folder = self._path(uri)
        if not self._fs.exists(folder):
            return []
        return sorted(status.getPath().getName() for status in self._fs.listStatus(folder))

    def list_runs(self) -> list[str]:
        runs_dir = self._path(f"{self.output}/{RUNS}")
        if not self._fs.exists(runs_dir):
            return []
        return sorted(status.getPath().getName() for status in self._fs.listStatus(runs_dir) if status.isDirectory())

    def current_run(self) -> Optional[RunLocation]:
        pointer = f"{self.output}/{POINTER}"
        if not self.exists(pointer):
            return None
        run_id = self.read_text(pointer).strip()
        return RunLocation(self.output, run_id) if run_id else None

    def require_current_run(self) -> RunLocation:
        run = self.current_run()
        if run is None:
            raise ConfigError(f"{self.output} holds no complete fruits run (no {POINTER} file)")
        return run

    def check_writable_output(self) -> None:
        """Refuse to write into a non-empty folder that is not a fruits output: it is someone's data."""
        names = set(self.names(self.output))
        foreign = {n for n in names - {POINTER, RUNS, LOCK} if not OWN_TEMPORARY.match(n)}
        if foreign:
            shown = ", ".join(sorted(foreign)[:5])
            raise ConfigError(
                f"output {self.output} already holds files that are not a fruits output ({shown}); "
                "choose a new or empty location"
            )

    def remove_stale_temporaries(self) -> None:
        """Delete this tool's temporary files left at the top by killed runs (the caller holds the lock)."""
        if is_remote(self.output) or not local_path(self.output).is_dir():
            return
        for entry in local_path(self.output).iterdir():
            if OWN_TEMPORARY.match(entry.name) and entry.name.startswith(f".{POINTER}."):
                log.info("removing %s, left by a run that did not finish", entry)
                entry.unlink(missing_ok=True)

    def mark_run(self, run: RunLocation, settings: dict) -> None:
        """Write the marker that makes `run`'s folder ours to clean up later; `settings` are what a
        restarted run must share with it to reuse its work (`resumable_run`)."""
        record = {"run_id": run.run_id, "host": socket.gethostname(), "pid": os.getpid(), "settings": settings}
        self.write_text(run[MARKER], json.dumps(record, sort_keys=True) + "\n")

    def run_settings(self, run: RunLocation) -> Optional[dict]:
        """The settings recorded in `run`'s marker, or None when the folder is not one of ours."""
        if not self.is_ours(run.run_id):
            return None
        return json.loads(self.read_text(run[MARKER])).get("settings")

    def resumable_run(self, settings: dict) -> Optional[RunLocation]:
        """The newest unfinished run of ours, newer than the current one, made with the same `settings`."""
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
        folder = self._path(run[RAW])
        if not self._fs.exists(folder):
            return []
        done = []
        for status in self._fs.listStatus(folder):
            uri = status.getPath().toString()
            if self._fs.exists(self._path(f"{uri}/_SUCCESS")):
                done.append(uri)
            else:
                log.info("removing %s: a wave that did not finish", uri)
                self.delete(uri)
        return sorted(done)

    def clear_outputs(self, run: RunLocation) -> None:
        """Delete what a lost attempt of `run` wrote after featurizing (the tables are rewritten whole)."""
        for artifact in ARTIFACTS:
            if self.exists(run[artifact]):
                log.info("removing %s, left by the attempt that did not finish", run[artifact])
                self.delete(run[artifact])

    def commit(self, run: RunLocation) -> None:
        """Make `run` the current one atomically; refuse to move the pointer back to an older run."""
        if not self.is_complete(run):
            missing = [a for a in ARTIFACTS if not self.exists(run[a])]
            raise RuntimeError(f"run {run.run_id} is incomplete (missing {', '.join(missing)}); not committing")
        current = self.current_run()
        if current is not None and current.run_id > run.run_id:
            raise RuntimeError(f"{self.output}/{POINTER} names run {current.run_id}, newer than {run.run_id}; "
                               "not moving it back (are two clocks or two writers at odds?)")
        pointer = f"{self.output}/{POINTER}"
        if is_remote(self.output):
            self.write_text(pointer, run.run_id + "\n")  # one PUT: readers see the old or the new id
        else:
            target = local_path(self.output) / POINTER
            tmp = target.with_name(f".{POINTER}.{run.run_id}.tmp")
            tmp.write_text(run.run_id + "\n", encoding="utf-8")
            os.replace(tmp, target)
        log.info("committed run %s: %s now points to it", run.run_id, pointer)

    def is_complete(self, run: RunLocation) -> bool:
        return all(self.exists(run[a]) for a in ARTIFACTS)

    def is_ours(self, run_id: str) -> bool:
        """A folder this tool wrote: a run-id name and the marker inside."""
        return bool(RUN_ID_PATTERN.match(run_id)) and self.exists(RunLocation(self.output, run_id)[MARKER])

    def prune(self, keep: int) -> list[str]:
        """Keep the current run and the `keep - 1` complete runs before it; delete older ones of ours.

        Only folders this tool wrote are candidates (`is_ours`): anything else under runs/ stays.
        Runs newer than the current one are left alone: another writer may still be filling them.
        Failed runs of ours older than the current one are deleted.
        """
        current = self.current_run()
        if current is None:
            return []
        older = [r for r in self.list_runs() if r < current.run_id and self.is_ours(r)]
        complete = [r for r in older if self.is_complete(RunLocation(self.output, r))]
        keep_ids = set(complete[len(complete) - (keep - 1):]) if keep > 1 else set()
        removed = [r for r in older if r not in keep_ids]
        for run_id in removed:
            self.delete(RunLocation(self.output, run_id).root)
        if removed:
            log.info("removed %d old run(s): %s", len(removed), ", ".join(removed))
        return removed

    def read_metrics(self, run: RunLocation) -> dict:
        return json.loads(self.read_text(run[METRICS]))
