"""Retries of S3 requests, counted: throttling, server errors and dropped connections get another
attempt after a jittered, growing pause; a missing or denied object does not. The counts reach
metrics.json, so an operator sees how often S3 pushed back.
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Optional

# SlowDown (503), server errors, timeouts and dropped connections: retried here with jittered
# exponential backoff (and counted), so that metrics.json can say how often S3 pushed back.
S3_ATTEMPTS = 10
BACKOFF_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 10.0
_RETRYABLE = re.compile(r"SlowDown|SLOW_DOWN|\b50[0-4]\b|InternalError|ServiceUnavailable|RequestTimeout|curl|timed? ?out|"
                        r"[Rr]eset|NETWORK_CONNECTION|[Cc]onnection|[Bb]roken pipe|EOF", re.IGNORECASE)


class RetryCount:
    """Retries made by a task's threads; taken by the task's own thread into the statistics it reports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1

    def take(self) -> int:
        with self._lock:
            value, self.value = self.value, 0
            return value


class FinalError(OSError):
    """A request refused for a reason another attempt cannot change (a bad request, a key S3 clients cannot address)."""


def is_retryable(exc: BaseException) -> bool:
    """Throttling, a server error or a network failure: worth another attempt. Not a missing object,
    a denied one, or a bad request.

    >>> (is_retryable(OSError("AWS Error SLOW_DOWN during GetObject operation: Please reduce your request rate.")),
    ...  is_retryable(OSError("AWS Error ACCESS_DENIED during GetObject operation")))
    (True, False)
    """
    if isinstance(exc, (FileNotFoundError, PermissionError, FinalError)):
        return False
    return isinstance(exc, OSError) and bool(_RETRYABLE.search(str(exc)))


def with_retries(call, retries: Optional[RetryCount] = None, attempts: int = S3_ATTEMPTS):
    """`call()`, again after a jittered, growing pause while it fails in a retryable way."""
    for attempt in range(attempts):
        try:
            return call()
        except OSError as exc:
            if attempt == attempts - 1 or not is_retryable(exc):
                raise
            if retries is not None:
                retries.add()
            time.sleep(min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")
