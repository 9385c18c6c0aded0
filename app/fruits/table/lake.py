"""The output as a table of runs, and its commit step, the same on a local disk and on S3.

The layout is `fruits.config.layout`'s. Why a pointer file instead of writing `features/` straight
under OUTPUT: S3 has no atomic rename of a folder, so "write elsewhere, then move into place" can
leave half a run visible. A run writes into a fresh `runs/<run_id>/` and becomes visible only
when `_CURRENT` is replaced, which is a single atomic PUT on S3 and an `os.replace` locally. A run
that dies before that leaves the previous run untouched and readable. Old runs beyond `keep_runs`
are deleted only after a successful commit, and only folders this tool wrote: a run-id name and
the marker file inside. `_CURRENT` never moves to an older run.

Every file operation goes through `fruits.storage.hadoop`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Optional

from fruits.config.layout import LOCK, MARKER, METRICS, POINTER, RAW, REQUIRED_ARTIFACTS, RUN_ARTIFACTS, RUN_ID_PATTERN, RUNS, RunLocation, is_own_temporary
from fruits.config.uris import normalize_uri
from fruits.errors import ConfigError
from fruits.storage.hadoop import HadoopFiles

log = logging.getLogger(__name__)


class Lake:
    """The runs of one output URI."""

    def __init__(self, spark, output_uri: str):
        self.output = normalize_uri(output_uri)
        self.files = HadoopFiles(spark, self.output)

    def current_run(self) -> Optional[RunLocation]:
        pointer = f"{self.output}/{POINTER}"
        if not self.files.exists(pointer):
            return None
        run_id = self.files.read_text(pointer).strip()
        return RunLocation(self.output, run_id) if run_id else None

    def require_current_run(self) -> RunLocation:
        run = self.current_run()
        if run is None:
            raise ConfigError(f"{self.output} holds no complete fruits run (no {POINTER} file)")
        return run

    def list_runs(self) -> list[str]:
        return self.files.folders(f"{self.output}/{RUNS}")

    def check_writable_output(self) -> None:
        """Refuse to write into a non-empty folder that is not a fruits output: it is someone's data."""
        names = set(self.files.names(self.output))
        foreign = {n for n in names - {POINTER, RUNS, LOCK} if not is_own_temporary(n, POINTER)}
        if foreign:
            shown = ", ".join(sorted(foreign)[:5])
            raise ConfigError(
                f"output {self.output} already holds files that are not a fruits output ({shown}); "
                "choose a new or empty location"
            )

    def remove_stale_temporaries(self) -> None:
        """Delete the pointer's temporary files left at the top by killed runs (the caller holds the lock)."""
        for name in self.files.names(self.output):
            if is_own_temporary(name, POINTER) and name.startswith(f".{POINTER}."):
                log.info("removing %s/%s, left by a run that did not finish", self.output, name)
                self.files.delete(f"{self.output}/{name}")

    def mark_run(self, run: RunLocation, settings: dict) -> None:
        """Write the marker that makes `run`'s folder ours to clean up later; `settings` are what a
        restarted run must share with it to reuse its work (`resumable_run`)."""
        record = {"run_id": run.run_id, "host": socket.gethostname(), "pid": os.getpid(), "settings": settings}
        self.files.write_text(run[MARKER], json.dumps(record, sort_keys=True) + "\n")

    def run_settings(self, run: RunLocation) -> Optional[dict]:
        """The settings recorded in `run`'s marker, or None when the folder is not one of ours."""
        if not self.is_ours(run.run_id):
            return None
        return json.loads(self.files.read_text(run[MARKER])).get("settings")

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
        done = []
        for name in self.files.names(run[RAW]):
            uri = f"{run[RAW]}/{name}"
            if self.files.exists(f"{uri}/_SUCCESS"):
                done.append(uri)
            else:
                log.info("removing %s: a wave that did not finish", uri)
                self.files.delete(uri)
        return sorted(done)

    def clear_outputs(self, run: RunLocation) -> None:
        """Delete what a lost attempt of `run` wrote after featurizing (the tables are rewritten whole)."""
        for artifact in RUN_ARTIFACTS:
            if self.files.exists(run[artifact]):
                log.info("removing %s, left by the attempt that did not finish", run[artifact])
                self.files.delete(run[artifact])

    def commit(self, run: RunLocation) -> None:
        """Make `run` the current one atomically; refuse to move the pointer back to an older run."""
        if not self.is_complete(run):
            missing = [a for a in REQUIRED_ARTIFACTS if not self.files.exists(run[a])]
            raise RuntimeError(f"run {run.run_id} is incomplete (missing {', '.join(missing)}); not committing")
        current = self.current_run()
        if current is not None and current.run_id > run.run_id:
            raise RuntimeError(f"{self.output}/{POINTER} names run {current.run_id}, newer than {run.run_id}; "
                               "not moving it back (are two clocks or two writers at odds?)")
        pointer = f"{self.output}/{POINTER}"
        self.files.replace(pointer, (run.run_id + "\n").encode("utf-8"), tag=run.run_id)  # readers see the old or the new id
        log.info("committed run %s: %s now points to it", run.run_id, pointer)

    def is_complete(self, run: RunLocation) -> bool:
        return all(self.files.exists(run[a]) for a in REQUIRED_ARTIFACTS)

    def is_ours(self, run_id: str) -> bool:
        """A folder this tool wrote: a run-id name and the marker inside."""
        return bool(RUN_ID_PATTERN.match(run_id)) and self.files.exists(RunLocation(self.output, run_id)[MARKER])

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
            self.files.delete(RunLocation(self.output, run_id).root)
        if removed:
            log.info("removed %d old run(s): %s", len(removed), ", ".join(removed))
        return removed

    def read_metrics(self, run: RunLocation) -> dict:
        return json.loads(self.files.read_text(run[METRICS]))
