"""One writer per output: `OUTPUT/_LOCK`, taken atomically, with an owner and a lease.

Two runs on one output would race on `_CURRENT` and on cleanup, so a run takes the lock before it
reads or writes anything there, and gives it back at the end. Taking it is one atomic create:

- local disk: `open(O_CREAT | O_EXCL)`;
- S3 (s3a://): a conditional PUT, `If-None-Match: *` (S3A's `fs.option.create.conditional.overwrite`,
  Hadoop 3.4.2+; AWS S3 and MinIO honour it);
- other Hadoop filesystems (hdfs://): `create(overwrite=false)`, atomic there.

The lock file holds JSON: who holds it (host, pid, run id) and until when (`expires`, epoch
seconds). The holder renews the lease every third of its length from a daemon thread, so a live
run keeps it however long it lasts, and a killed run's lock expires after one lease (at once when
the dead holder ran on the same host: its process id is gone). An expired
lock is taken over with a compare-and-swap: `If-Match: <etag>` on S3, and locally a rename of that
exact file out of the way (only one contender's rename can succeed) before the O_EXCL create.

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

from fruits.config import ConfigError, is_remote, is_s3, local_path
from fruits.settings import Settings

log = logging.getLogger(__name__)

LOCK = "_LOCK"
LEASE_SECONDS = Settings.from_env().lock_lease_seconds
POLL_SECONDS = 2.0


class OutputLockedError(ConfigError):
    """Another run holds the output's lock; the message names it."""


@dataclass(frozen=True)
class LockRecord:
    """What the lock file says: who holds the output and until when."""

    owner: str  # host:pid, so an operator can find the process
    run_id: str
    acquired: float
    expires: float

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, written_at: float) -> "LockRecord":
        """Parse a lock file. An unreadable one (a run killed between creating and writing it) is held
        by 'unknown' for one lease from when it was written, then expires like any other."""
        try:
            raw = json.loads(data.decode("utf-8"))
            return cls(owner=str(raw["owner"]), run_id=str(raw["run_id"]), acquired=float(raw["acquired"]),
                       expires=float(raw["expires"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return cls(owner="unknown (unreadable lock file)", run_id="?", acquired=written_at,
                       expires=written_at + LEASE_SECONDS)

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def holder_is_gone(self) -> bool:
        """True when the holder ran on this host and its process no longer exists (a killed run),
        so its lock need not wait out the lease. Other hosts' holders only expire."""
        host, _, pid = self.owner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
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


class LocalLockStore:
    """The lock file on a local disk or a POSIX shared filesystem."""

    def __init__(self, path: Path):
        self.path = path

    def create(self, record: LockRecord) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(record.to_bytes())
            f.flush()
            os.fsync(f.fileno())
        return True

    def read(self) -> Optional[tuple[LockRecord, bytes]]:
        """The current record and its exact bytes (the version compared on take-over), or None."""
        try:
            data = self.path.read_bytes()
            written_at = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        return LockRecord.from_bytes(data, written_at), data

    def replace(self, version: bytes, record: LockRecord) -> bool:
        """Swap the lock file for `record` only if it still holds exactly `version`."""
        aside = self.path.with_name(f".{LOCK}.{record.run_id}.{os.urandom(4).hex()}.aside")
        try:
            os.rename(self.path, aside)  # atomic: of two contenders, one gets the file
        except FileNotFoundError:
            return False
        try:
            if aside.read_bytes() != version:
                # Someone renewed or took it between our read and our rename: put it back untouched.
                try:
                    os.link(aside, self.path)
                except FileExistsError:
                    log.warning("lock file %s changed under us and was replaced meanwhile", self.path)
                return False
            return self.create(record)
        finally:
            aside.unlink(missing_ok=True)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


class HadoopLockStore:
    """The lock object on s3a:// (conditional PUTs) or another Hadoop filesystem, through the JVM."""

    def __init__(self, spark, uri: str):
        jvm = spark.sparkContext._jvm
        self._jvm = jvm
        self._path = jvm.org.apache.hadoop.fs.Path(uri)
        self._fs = self._path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self._s3 = is_s3(uri)

    def _write(self, record: LockRecord, etag: Optional[str]) -> bool:
        """Create (etag None) or overwrite the version `etag`; False when the condition fails."""
        builder = self._fs.createFile(self._path)
        if self._s3:
            builder.overwrite(etag is not None)
            if etag is None:
                builder.must("fs.option.create.conditional.overwrite", True)
            else:
                builder.must("fs.option.create.conditional.overwrite.etag", etag)
        else:
            builder.overwrite(False)
            if etag is not None:
                self._fs.delete(self._path, False)  # no compare-and-swap there: best effort
        try:
            out = builder.build()
            out.write(bytearray(record.to_bytes()))
            out.close()
        except Exception as exc:  # py4j wraps the Java exception
            if _is_precondition_failure(exc):
                return False
            raise
        return True

    def create(self, record: LockRecord) -> bool:
        return self._write(record, etag=None)

    def read(self) -> Optional[tuple[LockRecord, str]]:
        try:
            status = self._fs.getFileStatus(self._path)
        except Exception as exc:
            if "FileNotFoundException" in str(exc):
                return None
            raise
        # Opened with its status, S3A reads exactly that version (change detection by etag).
        stream = self._fs.openFile(self._path).withFileStatus(status).build().get()
        try:
            data = bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()
        etag = status.getEtag() if self._s3 else str(status.getModificationTime())
        return LockRecord.from_bytes(data, status.getModificationTime() / 1000), etag

    def replace(self, version: str, record: LockRecord) -> bool:
        return self._write(record, etag=version)

    def delete(self) -> None:
        self._fs.delete(self._path, False)


def _is_precondition_failure(exc: Exception) -> bool:
    text = str(exc)
    return any(marker in text for marker in ("FileAlreadyExistsException", "RemoteFileChangedException", "Status Code: 412",
                                             "PreconditionFailed", "ConditionalRequestConflict"))


def lock_store(spark, output: str):
    lock_uri = f"{output}/{LOCK}"
    return HadoopLockStore(spark, lock_uri) if is_remote(output) else LocalLockStore(local_path(lock_uri))


class OutputLock:
    """Hold `OUTPUT/_LOCK` for one run: `with OutputLock(...):` or acquire()/release()."""

    def __init__(self, store, output: str, run_id: str, wait_seconds: float = 0.0, lease_seconds: float = LEASE_SECONDS,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.output = output
        self.wait_seconds = wait_seconds
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._record = LockRecord(owner=f"{socket.gethostname()}:{os.getpid()}", run_id=run_id, acquired=0.0, expires=0.0)
        self._version = None
        self._stop = threading.Event()
        self._renewer: Optional[threading.Thread] = None

    def _fresh(self) -> LockRecord:
        now = self._clock()
        return LockRecord(self._record.owner, self._record.run_id, self._record.acquired or now, now + self.lease_seconds)

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        told: Optional[str] = None
        while True:
            record = self._fresh()
            if self.store.create(record):
                break
            held = self.store.read()
            if held is None:
                continue  # released between our create and our read
            holder, version = held
            if holder.expired(self._clock()) or holder.holder_is_gone():
                log.warning("taking over the expired lock of %s on %s", holder.describe(), self.output)
                if self.store.replace(version, record):
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
        self._version = self.store.read()[1]
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

    def renew(self) -> None:
        record = self._fresh()
        if not self.store.replace(self._version, record):
            log.error("the lock on %s is no longer ours (taken over after its lease ran out)", self.output)
            self._stop.set()
            return
        self._record = record
        self._version = self.store.read()[1]

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        held = self.store.read()
        if held is not None and held[0].owner == self._record.owner and held[0].run_id == self._record.run_id:
            self.store.delete()
            log.info("released the lock on %s", self.output)

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
