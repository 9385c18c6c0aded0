"""The single-writer lock on a local output: atomic create, a holder named in the refusal, leases
that expire, take-over of a dead run's lock, waiting a turn, and release of only our own lock."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from fruits.config.layout import LOCK
from fruits.storage.conditional import LocalConditionalFile
from fruits.table.lock import LockLost, LockRecord, OutputLock, OutputLockedError, process_instance


def lock_for(tmp_path, run_id: str, **kwargs) -> OutputLock:
    return OutputLock(LocalConditionalFile(tmp_path / LOCK), str(tmp_path), run_id, **kwargs)


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    first = lock_for(tmp_path, "20260101T000000Z-aaaaaa")
    first.acquire()
    try:
        with pytest.raises(OutputLockedError, match=r"locked by another run \(.*:\d+, run 20260101T000000Z-aaaaaa"):
            lock_for(tmp_path, "20260101T000001Z-bbbbbb").acquire()
        held = json.loads((tmp_path / LOCK).read_text())
        assert held["run_id"] == "20260101T000000Z-aaaaaa" and held["expires"] > time.time()
    finally:
        first.release()
    assert not (tmp_path / LOCK).exists()


def test_expired_lock_of_a_killed_run_is_taken_over(tmp_path):
    dead = LockRecord(owner="gone:1", run_id="20250101T000000Z-dead00", acquired=time.time() - 900, expires=time.time() - 1)
    (tmp_path / LOCK).write_bytes(dead.to_bytes())
    with lock_for(tmp_path, "20260101T000000Z-cccccc"):
        assert json.loads((tmp_path / LOCK).read_text())["run_id"] == "20260101T000000Z-cccccc"
    assert not list(tmp_path.glob(f".{LOCK}.*")), "the take-over left its aside file behind"


def test_half_written_lock_expires_one_lease_after_it_was_written(tmp_path):
    (tmp_path / LOCK).write_bytes(b"")  # a run killed between creating the file and writing it
    with pytest.raises(OutputLockedError, match="unknown"):
        lock_for(tmp_path, "20260101T000000Z-dddddd").acquire()
    old = time.time() - 3600
    os.utime(tmp_path / LOCK, (old, old))
    with lock_for(tmp_path, "20260101T000000Z-dddddd", lease_seconds=60):
        pass


def test_a_waiting_writer_gets_the_lock_when_the_holder_releases_it(tmp_path):
    holder = lock_for(tmp_path, "20260101T000000Z-eeeeee")
    holder.acquire()
    timer = threading.Timer(1.0, holder.release)
    timer.start()
    try:
        started = time.monotonic()
        with lock_for(tmp_path, "20260101T000002Z-ffffff", wait_seconds=60):
            assert json.loads((tmp_path / LOCK).read_text())["run_id"] == "20260101T000002Z-ffffff"
        assert time.monotonic() - started >= 1.0
    finally:
        timer.cancel()


def test_the_lease_is_renewed_while_the_run_lasts(tmp_path):
    with lock_for(tmp_path, "20260101T000000Z-abcdef", lease_seconds=0.6):
        first = json.loads((tmp_path / LOCK).read_text())["expires"]
        time.sleep(1.0)
        later = json.loads((tmp_path / LOCK).read_text())
        assert later["expires"] > first and later["run_id"] == "20260101T000000Z-abcdef"
        assert LockRecord.from_bytes(lock_for(tmp_path, "x").store.read()[0], 0.0).owner == later["owner"]


def test_release_never_deletes_a_lock_another_run_took_over(tmp_path):
    mine = lock_for(tmp_path, "20260101T000000Z-111111", lease_seconds=3600)
    mine.acquire()
    mine._stop.set()  # no renewals from here on
    theirs = LockRecord(owner="other:2", run_id="20260101T000009Z-222222", acquired=time.time(), expires=time.time() + 3600)
    (tmp_path / LOCK).write_bytes(theirs.to_bytes())
    mine.release()
    assert json.loads((tmp_path / LOCK).read_text())["run_id"] == "20260101T000009Z-222222"


def test_take_over_loses_cleanly_when_the_lock_changed_meanwhile(tmp_path):
    store = LocalConditionalFile(tmp_path / LOCK)
    stale = LockRecord(owner="gone:1", run_id="r1", acquired=0.0, expires=1.0)
    fresh = LockRecord(owner="live:2", run_id="r2", acquired=time.time(), expires=time.time() + 600)
    store.create(fresh.to_bytes())
    assert not store.replace(stale.to_bytes(), LockRecord("me:3", "r3", 0.0, 9e9).to_bytes())
    assert LockRecord.from_bytes(store.read()[0], 0.0).run_id == "r2", "a lock that changed under the take-over must be put back"


def dead_pid() -> str:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True).stdout.strip()


def test_lock_of_a_dead_process_of_this_instance_is_taken_over_at_once(tmp_path):
    import socket

    dead = LockRecord(owner=f"{socket.gethostname()}:{dead_pid()}", run_id="20260101T000000Z-dead01",
                      acquired=time.time(), expires=time.time() + 3600, instance=process_instance())
    (tmp_path / LOCK).write_bytes(dead.to_bytes())
    with lock_for(tmp_path, "20260101T000001Z-a11ve0"):
        assert json.loads((tmp_path / LOCK).read_text())["run_id"] == "20260101T000001Z-a11ve0"


@pytest.mark.parametrize("instance", ["pod/another-pod-of-the-same-name", ""])
def test_same_host_name_and_a_pid_not_seen_here_is_not_taken_for_dead_elsewhere(tmp_path, instance):
    """Two pods of one name in two namespaces (or a lock file without an instance): the pid says
    nothing here, so the lock is held until its lease ends."""
    import socket

    other = LockRecord(owner=f"{socket.gethostname()}:{dead_pid()}", run_id="20260101T000000Z-0ther1",
                       acquired=time.time(), expires=time.time() + 3600, instance=instance)
    (tmp_path / LOCK).write_bytes(other.to_bytes())
    with pytest.raises(OutputLockedError, match="20260101T000000Z-0ther1"):
        lock_for(tmp_path, "20260101T000001Z-b11ve0", pod_uid="this-pod").acquire()


def test_the_instance_is_the_pod_when_there_is_one():
    assert process_instance("3f2a-uid") == "pod/3f2a-uid"
    assert process_instance() == process_instance() != process_instance("3f2a-uid")
    assert json.loads(LockRecord("h:1", "r", 0.0, 1.0, process_instance("u")).to_bytes())["instance"] == "pod/u"


def test_a_holder_whose_lock_was_taken_over_cannot_confirm_it_before_committing(tmp_path):
    mine = lock_for(tmp_path, "20260101T000000Z-333333", lease_seconds=3600)
    mine.acquire()
    try:
        mine.confirm()  # still ours: renewed
        theirs = LockRecord(owner="other:2", run_id="20260101T000009Z-444444", acquired=time.time(), expires=time.time() + 3600)
        (tmp_path / LOCK).write_bytes(theirs.to_bytes())  # our lease ran out while we stalled; they took over
        with pytest.raises(LockLost, match="taken over by another run .*20260101T000000Z-333333.*nothing was committed"):
            mine.confirm()
        assert json.loads((tmp_path / LOCK).read_text())["run_id"] == "20260101T000009Z-444444"
    finally:
        mine.release()
    assert json.loads((tmp_path / LOCK).read_text())["run_id"] == "20260101T000009Z-444444", "release took their lock"
