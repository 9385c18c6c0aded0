"""The covariance of standardised feature vectors, as block matrix products in the Python workers.

Why not Spark's own: `RowMatrix.computeCovariance` (behind Spark ML's `PCA.fit`) adds one packed
rank-1 update (`BLAS.spr`) per row. Each update reads and writes the whole 2048x2048 triangle
(17 MB), so the pass runs at memory speed, not at the speed of the cores: ~50 s for 90,000 x 2048
on 2 cores. Here each partition stacks its rows into blocks of `BLOCK_ROWS` and adds
`Z.T @ Z` (a matrix product, which a BLAS runs at near the cores' peak); the partial sums are added
with Spark's `treeReduce`. The result is the same matrix Spark computes (tests/spark compares the
two); `fruits.reduce` turns it into an ordinary Spark ML PCAModel.

Standardisation is Spark ML's `StandardScalerModel` arithmetic, `(x - mean) * (1 / std)`, with a
zero scale where `std` is 0, so the covariance is that of the scaler's output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

BLOCK_ROWS = 1024
FAN_IN = 8
PARTIAL_SCHEMA = "rows long, sums binary, gram binary"


@dataclass(frozen=True)
class Covariance:
    """Sample covariance (n - 1 in the denominator) of `rows` standardised vectors."""

    matrix: np.ndarray
    rows: int


def scale_factors(std: np.ndarray) -> np.ndarray:
    """Spark's StandardScalerModel: multiply by 1/std, or by 0 where std is 0 (a constant column)."""
    return np.divide(1.0, std, out=np.zeros_like(std, dtype=np.float64), where=std != 0)


def standardized_covariance(frame, column: str, mean: np.ndarray, std: np.ndarray) -> Covariance:
    """Covariance of `(frame[column] - mean) * scale_factors(std)`; `column` is array<float|double>.

    Raises ValueError when a row's length differs from `mean`'s, or when there are fewer than 2 rows.
    """
    dim = len(mean)
    mean = np.asarray(mean, dtype=np.float64)
    scale = scale_factors(np.asarray(std, dtype=np.float64))
    partitions = frame.rdd.getNumPartitions()
    # One partial (2 x 8 x dim^2 bytes on the way) per core is enough to keep every core busy.
    wanted = max(1, min(partitions, frame.sparkSession.sparkContext.defaultParallelism))
    source = frame.select(column).coalesce(wanted)

    def partial(batches: Iterator) -> Iterator:
        import pyarrow as pa

        gram, sums, rows = np.zeros((dim, dim)), np.zeros(dim), 0
        pending: list[np.ndarray] = []
        pending_rows = 0

        def flush() -> None:
            nonlocal gram, sums, pending, pending_rows
            if pending:
                z = (np.concatenate(pending) - mean) * scale
                gram += z.T @ z
                sums += z.sum(axis=0)
                pending, pending_rows = [], 0

        for batch in batches:
            values = batch.column(0)
            if values.null_count:
                raise ValueError(f"{values.null_count} rows have no {column}")
            lengths = values.value_lengths().to_numpy(zero_copy_only=False)
            if len(lengths) and (lengths.min() != dim or lengths.max() != dim):
                raise ValueError(f"{column} rows must have {dim} values, found lengths {sorted(set(lengths.tolist()))[:5]}")
            block = values.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, dim)
            pending.append(block)
            pending_rows += len(block)
            rows += len(block)
            if pending_rows >= BLOCK_ROWS:
                flush()
        flush()
        yield pa.RecordBatch.from_pydict(
            {"rows": [rows], "sums": [sums.tobytes()], "gram": [gram.tobytes()]},
            schema=pa.schema([("rows", pa.int64()), ("sums", pa.binary()), ("gram", pa.binary())]),
        )

    def unpack(row) -> tuple:
        return row.rows, np.frombuffer(row.sums), np.frombuffer(row.gram).reshape(dim, dim)

    def add(a: tuple, b: tuple) -> tuple:
        return a[0] + b[0], a[1] + b[1], a[2] + b[2]

    # Partials are added on the executors until at most FAN_IN of them reach the driver, whatever the cores.
    depth = max(2, math.ceil(math.log(max(wanted, 2)) / math.log(FAN_IN)))
    rows, sums, gram = source.mapInArrow(partial, PARTIAL_SCHEMA).rdd.map(unpack).treeReduce(add, depth=depth)
    if rows < 2:
        raise ValueError(f"a covariance needs at least 2 rows, got {rows}")
    centre = sums / rows  # ~0 already; subtracting it keeps the result exact
    matrix = (gram - rows * np.outer(centre, centre)) / (rows - 1)
    return Covariance(matrix=(matrix + matrix.T) / 2, rows=rows)
