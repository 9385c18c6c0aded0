"""The processes of this machine as /proc/PID/stat gives them, for the benches' memory and CPU
accounting (Linux only, like the benches)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, NamedTuple


class ProcessStat(NamedTuple):
    pid: int
    name: str  # /proc/PID/comm: the first 15 characters of the executable's name
    ppid: int
    cpu_seconds: float  # user + system


def process_stats() -> Iterator[ProcessStat]:
    """Every process readable now; one that ends while being read is skipped."""
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        yield ProcessStat(int(stat.parent.name), name, int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
