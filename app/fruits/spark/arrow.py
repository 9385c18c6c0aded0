"""Rows a `mapInArrow` function makes, as the Arrow batches Spark takes back."""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator


def record_batches(rows: Iterable[tuple], names: list[str], types: list, size: int) -> Iterator:
    """`rows` (tuples in the order of `names`, of pyarrow `types`) in batches of at most `size` rows."""
    import pyarrow as pa

    stream = iter(rows)
    while chunk := list(islice(stream, size)):
        columns = zip(*chunk, strict=True)
        yield pa.RecordBatch.from_arrays([pa.array(column, kind) for column, kind in zip(columns, types, strict=True)], names=names)
