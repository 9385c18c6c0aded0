"""Mean, standard deviation and the standardised covariance of feature vectors, in one pass of block
matrix products in the Python workers.

Why not Spark's own: `RowMatrix.computeCovariance` (behind Spark ML's `PCA.fit`) adds one packed
rank-1 update (`BLAS.spr`) per row. Each update reads and writes the whole 2048x2048 triangle
(17 MB), so the pass runs at memory speed, not at the speed of the cores: ~50 s for 90,000 x 2048
on 2 cores. Here each partition stacks its rows into blocks of `BLOCK_ROWS`, centres each block on
its own mean and adds `Z.T @ Z` (a matrix product, which a BLAS runs at near the cores' peak);
blocks and partitions are merged with the pairwise update of Chan, Golub and LeVeque (the centred
sums stay exact, whatever the features' offset), the partitions with Spark's `treeReduce`.

Why one pass: Spark ML's `StandardScaler.fit` would read every feature vector once more only to
get the mean and standard deviation, which the centred sums already hold. The standardised
covariance is that of Spark ML's `StandardScalerModel` output, `(x - mean) * (1 / std)`, with a zero
scale where `std` is 0; tests/spark compares mean, std and matrix with Spark's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

BLOCK_ROWS = 1024
FAN_IN = 8
PARTIAL_SCHEMA = "rows long, mean binary, centred binary"


@dataclass(frozen=True)
class Moments:
    """`rows` vectors summarised: their mean and their centred sum of outer products."""

    rows: int
    mean: np.ndarray
    centred: np.ndarray  # sum over rows of (x - mean)(x - mean)^T

    @property
    def std(self) -> np.ndarray:
        """The sample standard deviation (n - 1 in the denominator), as Spark ML's StandardScaler's."""
        return np.sqrt(np.maximum(np.diag(self.centred), 0.0) / (self.rows - 1))

    def standardized_covariance(self) -> np.ndarray:
        """Sample covariance of `(x - mean) * scale_factors(std)`."""
        scale = scale_factors(self.std)
        matrix = self.centred / (self.rows - 1) * np.outer(scale, scale)
        return (matrix + matrix.T) / 2


def merge(a: Moments, b: Moments) -> Moments:
    """The moments of two groups of rows together (Chan, Golub and LeVeque's pairwise update)."""
    if not a.rows or not b.rows:
        return a if b.rows == 0 else b
    rows = a.rows + b.rows
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.rows / rows)
    centred = a.centred + b.centred + np.outer(delta, delta) * (a.rows * b.rows / rows)
    return Moments(rows, mean, centred)


def scale_factors(std: np.ndarray) -> np.ndarray:
    """Spark's StandardScalerModel: multiply by 1/std, or by 0 where std is 0 (a constant column)."""
    return np.divide(1.0, std, out=np.zeros_like(std, dtype=np.float64), where=std != 0)


def feature_moments(frame, column: str, dim: int) -> Moments:
    """Mean and centred outer-product sum of `frame[column]` (array<float|double> of `dim` values).

    Raises ValueError when a row's length differs from `dim`, or when there are fewer than 2 rows.
    """
    partitions = frame.rdd.getNumPartitions()
    # One partial (8 x dim^2 bytes on the way) per core is enough to keep every core busy.
    wanted = max(1, min(partitions, frame.sparkSession.sparkContext.defaultParallelism))
    source = frame.select(column).coalesce(wanted)

    def partial(batches: Iterator) -> Iterator:
        import pyarrow as pa

        total = Moments(0, np.zeros(dim), np.zeros((dim, dim)))
        pending: list[np.ndarray] = []
        pending_rows = 0

        def flush() -> None:
            nonlocal total, pending, pending_rows
            if pending:
                block = np.concatenate(pending)
                mean = block.mean(axis=0)
                z = block - mean
                total = merge(total, Moments(len(block), mean, z.T @ z))
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
            if pending_rows >= BLOCK_ROWS:
                flush()
        flush()
        yield pa.RecordBatch.from_pydict(
            {"rows": [total.rows], "mean": [total.mean.tobytes()], "centred": [total.centred.tobytes()]},
            schema=pa.schema([("rows", pa.int64()), ("mean", pa.binary()), ("centred", pa.binary())]),
        )

    def unpack(row) -> Moments:
        return Moments(row.rows, np.frombuffer(row.mean), np.frombuffer(row.centred).reshape(dim, dim))

    # Partials are merged on the executors until at most FAN_IN of them reach the driver, whatever the cores.
    depth = max(2, math.ceil(math.log(max(wanted, 2)) / math.log(FAN_IN)))
    moments = source.mapInArrow(partial, PARTIAL_SCHEMA).rdd.map(unpack).treeReduce(merge, depth=depth)
    if moments.rows < 2:
        raise ValueError(f"a covariance needs at least 2 rows, got {moments.rows}")
    return moments
