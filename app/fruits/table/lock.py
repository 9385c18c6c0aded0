"""One writer per output: `OUTPUT/_LOCK`, taken atomically, with an owner and a lease.

Two runs on one output would race on `_CURRENT` and on cleanup, so a run takes the lock before it
reads or writes anything there, and gives it back at the end. Taking it is one atomic create
(`fruits.storage.conditional`: O_EXCL locally, a conditional PUT on S3).

The lock file holds JSON: who holds it (host, pid, run id), where that pid means something (the
`instance`: the pod's UID in a pod, else this boot of this machine and its PID namespace) and until
when (`expires`, epoch seconds). The holder renews the lease every third of its length from a
daemon thread, so a live run keeps it however long it lasts, and a killed run's lock expires after
one lease (at once when the dead holder ran in this same instance: its process id is gone; two pods
of one name in two namespaces are two instances). An expired lock is taken over with a
compare-and-swap: `If-Match: <etag>` on S3, and locally a rename of that exact file out of the way
(`fruits.storage.conditional`).

A holder that stalled past its lease may have lost the lock without knowing: before it commits it
renews the lease once more by that compare-and-swap (`confirm`), and stops with `LockLost` if the
lock is no longer its own, so a run that was taken over never commits.

A second run either waits its turn (`--lock-wait SECONDS`) or stops at once with a message that
names the holder.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from fruits.config.job_config import S3Settings
from fruits.config.layout import LOCK
from fruits.config.settings import Settings
from fruits.errors import ConfigError
from fruits.storage.conditional import conditional_file

log = logging.getLogger(__name__)

LEASE_SECONDS = Settings.lock_lease_seconds  # the default; a run's own is `OutputLock(lease_seconds=...)`
POLL_SECONDS = 2.0


class OutputLockedError(ConfigError):
    """Another run holds the output's lock; the message names it."""


class LockLost(ConfigError):
    """This run's lease ran out and another run took the lock: this run must not commit (exit 2)."""


def process_instance(pod_uid: Optional[str] = None) -> str:
    """Where this process's id names this process: its pod (by UID), else this boot of this machine
    and its PID namespace. A host name alone is not enough: two pods of one name in two namespaces
    share it."""
    if pod_uid:
        return f"pod/{pod_uid}"
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:  # not Linux: the host name and nothing more
        return f"host/{socket.gethostname()}"
    return f"boot/{boot}/{namespace}"


@dataclass(frozen=True)
class LockRecord:
    """What the lock file says: who holds the output and until when."""

    owner: str  # host:pid, so an operator can find the process
    run_id: str
    acquired: float
    expires: float
    instance: str = ""  # where `owner`'s pid is meaningful (process_instance); "" in older lock files

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, written_at: float, lease_seconds: float = LEASE_SECONDS) -> "LockRecord":
        """Parse a lock file. An unreadable one (a run killed between creating and writing it) is held
        by 'unknown' for one lease from when it was written, then expires like any other."""
        try:
            raw = json.loads(data.decode("utf-8"))
            return cls(owner=str(raw["owner"]), run_id=str(raw["run_id"]), acquired=float(raw["acquired"]),
                       expires=float(raw["expires"]), instance=str(raw.get("instance", "")))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return cls(owner="unknown (unreadable lock file)", run_id="?", acquired=written_at,
                       expires=written_at + lease_seconds)

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def holder_is_gone(self, instance: str) -> bool:
        """True when the holder ran in `instance` (this process's, process_instance) and its process
        no longer exists (a killed run), so its lock need not wait out the lease. Holders elsewhere,
        or of unknown instance, only expire."""
        host, _, pid = self.owner.rpartition(":")
        if not self.instance or self.instance != instance or host != socket.gethostname() or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.acquired))
        left = max(0, round(self.expires - time.time()))
        return f"{self.owner}, run {self.run_id}, since {since}; its lease ends in {left} s unless renewed"


class OutputLock:
    """Hold `OUTPUT/_LOCK` for one run: `with OutputLock(...):` or acquire()/release()."""

    def __init__(self, store, output: str, run_id: str, wait_seconds: float = 0.0, lease_seconds: float = LEASE_SECONDS,
                 clock: Callable[[], float] = time.time, pod_uid: Optional[str] = None):
        self.store = store
        self.output = output
        self.wait_seconds = wait_seconds
        self.lease_seconds = lease_seconds
        self._clock = clock
        self.instance = process_instance(pod_uid)
        self._record = LockRecord(owner=f"{socket.gethostname()}:{os.getpid()}", run_id=run_id, acquired=0.0, expires=0.0,
                                  instance=self.instance)
        self._version = None
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._renewing = threading.Lock()  # the renewer thread and confirm() take turns
        self._renewer: Optional[threading.Thread] = None

    def _fresh(self) -> LockRecord:
        now = self._clock()
        return LockRecord(self._record.owner, self._record.run_id, self._record.acquired or now, now + self.lease_seconds,
                          self.instance)

    def _held(self) -> Optional[tuple[LockRecord, object]]:
        """The record in the lock file and its version, or None when there is no lock file."""
        found = self.store.read()
        if found is None:
            return None
        data, version, written_at = found
        return LockRecord.from_bytes(data, written_at, self.lease_seconds), version

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        told: Optional[str] = None
        while True:
            record = self._fresh()
            if self.store.create(record.to_bytes()):
                break
            held = self._held()
            if held is None:
                continue  # released between our create and our read
            holder, version = held
            if holder.expired(self._clock()) or holder.holder_is_gone(self.instance):
                log.warning("taking over the expired lock of %s on %s", holder.describe(), self.output)
                if self.store.replace(version, record.to_bytes()):
                    break
                continue
            if time.monotonic() >= deadline:
                hint = "wait for it to finish, or retry with --lock-wait SECONDS" if not self.wait_seconds else \
                    f"still held after waiting {self.wait_seconds:.0f} s"
                raise OutputLockedError(f"output {self.output} is locked by another run ({holder.describe()}); {hint}")
            if told != holder.run_id:
                log.info("waiting for the lock on %s, held by %s (up to %.0f s)", self.output, holder.describe(),
                         self.wait_seconds)
                told = holder.run_id
            time.sleep(POLL_SECONDS)
        self._record = record
        self._version = self._held()[1]
        log.info("took the lock on %s (run %s, lease %.0f s, renewed while it runs)", self.output, record.run_id,
                 self.lease_seconds)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="fruits-lock-renewer", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except Exception:  # a missed renewal is retried; the lease has two more thirds to go
                log.warning("could not renew the lock on %s", self.output, exc_info=True)

    def renew(self) -> bool:
        """Extend the lease if the lock is still ours (compare-and-swap on the version we wrote)."""
        with self._renewing:
            if self._lost.is_set():
                return False
            record = self._fresh()
            if not self.store.replace(self._version, record.to_bytes()):
                log.error("the lock on %s is no longer ours (taken over after its lease ran out)", self.output)
                self._lost.set()
                self._stop.set()
                return False
            self._record = record
            self._version = self._held()[1]
            return True

    def confirm(self) -> None:
        """Renew the lease now, or raise LockLost: called just before a commit, so that a run whose
        lease ran out while it stalled (and whose lock another run took) commits nothing. After a
        renewal the lock stays ours for a whole lease, far longer than a commit takes."""
        if not self.renew():
            raise LockLost(f"the lock on {self.output} was taken over by another run after this run's lease ran out "
                           f"(run {self._record.run_id} stalled longer than {self.lease_seconds:.0f} s); nothing was committed")

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        held = self._held()
        if held is not None and held[0].owner == self._record.owner and held[0].run_id == self._record.run_id:
            self.store.delete()
            log.info("released the lock on %s", self.output)

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_store(spark, output: str, s3: Optional[S3Settings] = None):
    """The conditional file that holds `output`'s lock (fruits.storage.conditional). `spark` is not
    used (no JVM is needed); it stays while callers still pass it."""
    return conditional_file(f"{output}/{LOCK}", s3)
