"""A quiet console for a local run: the job's own lines, not its libraries' start-up chatter.

Hidden by default and shown again by `--verbose`:
- TensorFlow's C++ INFO lines (the oneDNN notice, twice per process). TensorFlow writes them through
  absl before absl is initialised, where TF_CPP_MIN_LOG_LEVEL is not consulted, so a worker builds
  its model with its stderr passed through a filter that drops exactly those lines
  (`native_info_lines_hidden`); anything else written meanwhile is passed on.
- Spark's start-up hints and warnings: "Using Spark's default log4j profile", the setLogLevel hint,
  NativeCodeLoader, the loopback host name. The local driver JVM gets `QUIET_LOG4J` instead of
  Spark's default log4j2 profile (`fruits.session`).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Optional

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
        os.environ[TF_LOG_LEVEL] = VERBOSE_TF_LEVEL
    else:
        os.environ.setdefault(TF_LOG_LEVEL, QUIET_TF_LEVEL)


def native_info_hidden(environ: Optional[Mapping[str, str]] = None) -> bool:
    """True unless TF_CPP_MIN_LOG_LEVEL asks for INFO lines (0); unset counts as the quiet default.

    >>> native_info_hidden({}), native_info_hidden({"TF_CPP_MIN_LOG_LEVEL": "0"})
    (True, False)
    """
    environ = os.environ if environ is None else environ
    return environ.get(TF_LOG_LEVEL, QUIET_TF_LEVEL).strip() not in ("", VERBOSE_TF_LEVEL)


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
def native_info_lines_hidden() -> Iterator[None]:
    """Run the block with file descriptor 2 captured, then pass on what it wrote, less absl's INFO lines.

    The capture is a file, not a pipe, so a block that writes a lot cannot block on a full pipe.
    Does nothing when TF_CPP_MIN_LOG_LEVEL is 0 (`--verbose`) or when there is no fd 2 to capture.
    """
    if not native_info_hidden():
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


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
