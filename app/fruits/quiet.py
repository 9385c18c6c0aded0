"""A quiet console for a local run: the job's own lines, not its libraries' start-up chatter.

Hidden by default and shown again by `--verbose`:
- TensorFlow's C++ INFO lines (the oneDNN notice, twice per process). TensorFlow writes them through
  absl before absl is initialised, where TF_CPP_MIN_LOG_LEVEL is not consulted, so a worker builds
  its model with its stderr passed through a filter that drops exactly those lines
  (`native_info_lines_hidden`); anything else written meanwhile is passed on.
- Spark's start-up hints and warnings: "Using Spark's default log4j profile", the setLogLevel hint,
  NativeCodeLoader, the loopback host name. The local driver JVM gets `QUIET_LOG4J` instead of
  Spark's default log4j2 profile (`fruits.spark.session`).
- The JVM's "WARNING: Using incubator modules: jdk.incubator.vector": Spark's launcher always adds
  that module and no JVM option silences the notice, so the local JVM is started with its stderr
  passed through a filter that drops that one line (`jvm_startup_notice_hidden`).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator, Optional

from fruits.config.settings import set_process_env

QUIET_LOG4J = Path(__file__).with_name("log4j2-quiet.properties")
TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# 0 shows TensorFlow's INFO lines, 2 hides INFO and WARNING (errors still show).
VERBOSE_TF_LEVEL, QUIET_TF_LEVEL = "0", "2"

_ABSL_INFO = re.compile(
    rb"I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\n]+\] .*"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
)


def set_tensorflow_log_level(verbose: bool) -> None:
    """TF_CPP_MIN_LOG_LEVEL for this process and the local workers, which inherit it.

    Verbose: 0, everything. Otherwise 2, unless the caller chose a level.
    """
    if verbose:
        set_process_env(TF_LOG_LEVEL, VERBOSE_TF_LEVEL)
    else:
        set_process_env(TF_LOG_LEVEL, QUIET_TF_LEVEL, overwrite=False)


def drop_native_info_lines(text: bytes) -> bytes:
    """`text` without absl's INFO lines and its not-initialised notice; every other line kept.

    >>> drop_native_info_lines(
    ...     b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n"
    ...     b"I0000 00:00:1796288742.391964   18985 port.cc:153] oneDNN custom operations are on.\\n"
    ...     b"E0000 00:00:1796288742.391964   18985 cuda.cc:1] a real error\\n")
    b'E0000 00:00:1796288742.391964   18985 cuda.cc:1] a real error\\n'
    """
    return b"".join(line for line in text.splitlines(keepends=True) if not _ABSL_INFO.fullmatch(line.rstrip(b"\r\n")))


@contextmanager
def native_info_lines_hidden(hide: bool = True) -> Iterator[None]:
    """Run the block with file descriptor 2 captured, then pass on what it wrote, less absl's INFO lines.

    The capture is a file, not a pipe, so a block that writes a lot cannot block on a full pipe.
    Does nothing when `hide` is False (`--verbose`: the driver says so in the model's spec) or when
    there is no fd 2 to capture.
    """
    if not hide:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _write_all(2, drop_native_info_lines(capture.read()))


JVM_STARTUP_NOTICE = b"WARNING: Using incubator modules: jdk.incubator.vector"


@contextmanager
def jvm_startup_notice_hidden(hidden: bool = True) -> Iterator[Optional[threading.Thread]]:
    """Run the block (which starts the local JVM) with fd 2 a pipe whose reader drops the JVM's
    incubator-module notice and passes on everything else.

    A JVM started in the block keeps the pipe as its stderr for its whole life (its Python workers
    inherit it too), so a daemon thread forwards to the real stderr until the last writer closes
    the pipe; after the first notice it forwards without looking. This process's own fd 2 is the
    real stderr again when the block ends. Yields the thread (None when nothing is filtered: not
    `hidden`, or no fd 2).
    """
    if not hidden:
        yield None
        return
    try:
        real = os.dup(2)
    except OSError:
        yield None
        return
    read_end, write_end = os.pipe()
    forwarder = threading.Thread(target=_forward_without_notice, args=(read_end, real), name="jvm-stderr", daemon=True)
    forwarder.start()
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield forwarder
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # the forwarder keeps `real` open for the JVM's lines


def _forward_without_notice(read_fd: int, write_fd: int) -> None:
    """Copy read_fd to write_fd, less the first line equal to JVM_STARTUP_NOTICE; then close both.

    Only a partial line that could still become the notice is held back, so output without
    newlines (a progress bar) is not delayed.
    """
    pending, dropped = b"", False
    try:
        while chunk := os.read(read_fd, 65536):
            if dropped:
                _write_all(write_fd, chunk)
                continue
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            out = []
            for line in lines:
                if not dropped and line.rstrip(b"\r") == JVM_STARTUP_NOTICE:
                    dropped = True
                else:
                    out.append(line + b"\n")
            if pending and (dropped or not JVM_STARTUP_NOTICE.startswith(pending)):
                out.append(pending)
                pending = b""
            _write_all(write_fd, b"".join(out))
    except OSError:
        pass  # the real stderr went away: nothing left to forward to
    finally:
        with suppress(OSError):
            _write_all(write_fd, pending)
        os.close(read_fd)
        os.close(write_fd)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
