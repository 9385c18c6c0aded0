"""Mean, standard deviation and the standardised covariance of feature vectors, in one pass of block
matrix products in the Python workers.

Why not Spark's own: `RowMatrix.computeCovariance` (behind Spark ML's `PCA.fit`) adds one packed
rank-1 update (`BLAS.spr`) per row. Each update reads and writes the whole 2048x2048 triangle
(17 MB), so the pass runs at memory speed, not at the speed of the cores: ~50 s for 90,000 x 2048
on 2 cores. Here each partition stacks its rows into blocks of `BLOCK_ROWS`, centres each block on
its own mean and adds `Z.T @ Z` (a matrix product, which a BLAS runs at near the cores' peak);
blocks are merged with the pairwise update of Chan, Golub and LeVeque (the centred sums stay
exact, whatever the features' offset). The partitions' sums are merged by the executors too, as
DataFrames (so on a Spark Connect session as well): each partition's matrix travels as
`MERGE_BLOCKS` slices of rows, one group per slice merges every partition's slice of it, and the
driver receives the merged matrix only.

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
# Slices of each partition's dim x dim matrix merged in parallel (2 MB each at 2048 features).
MERGE_BLOCKS = 16
PARTIAL_SCHEMA = "slice int, rows long, mean binary, centred binary"


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


def merge_many(rows: np.ndarray, means: np.ndarray, centred: list[np.ndarray], lines: slice) -> Moments:
    """The moments of several groups at once, for the rows `lines` of the centred sum only:
    sum of the groups' centred sums plus each group's `rows * (mean_i - mean)(mean_i - mean)^T`."""
    total = int(rows.sum())
    if total == 0:
        return Moments(0, np.zeros(means.shape[1]), np.zeros((lines.stop - lines.start, means.shape[1])))
    mean = (rows[:, None] * means).sum(axis=0) / total
    delta = means - mean
    merged = sum(centred) + (rows[:, None] * delta[:, lines]).T @ delta
    return Moments(total, mean, merged)


def slices_of(dim: int) -> list[slice]:
    """The row ranges of a dim x dim matrix merged as separate groups."""
    step = math.ceil(dim / min(dim, MERGE_BLOCKS))
    return [slice(first, min(first + step, dim)) for first in range(0, dim, step)]


def feature_moments(frame, column: str, dim: int) -> Moments:
    """Mean and centred outer-product sum of `frame[column]` (array<float|double> of `dim` values).

    Raises ValueError when a row's length differs from `dim`, or when there are fewer than 2 rows.
    """
    from fruits.spark.portable import default_parallelism

    # One partial (8 x dim^2 bytes on the way) per core is enough to keep every core busy.
    source = frame.select(column).coalesce(default_parallelism(frame.sparkSession))
    parts = slices_of(dim)

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
        if total.rows:
            yield pa.RecordBatch.from_pydict(
                {"slice": list(range(len(parts))), "rows": [total.rows] * len(parts), "mean": [total.mean.tobytes()] * len(parts),
                 "centred": [np.ascontiguousarray(total.centred[lines]).tobytes() for lines in parts]},
                schema=pa.schema([("slice", pa.int32()), ("rows", pa.int64()), ("mean", pa.binary()), ("centred", pa.binary())]),
            )

    def merge_slice(group):
        import pandas as pd

        lines = parts[int(group["slice"].iloc[0])]
        rows = group["rows"].to_numpy(dtype=np.int64)
        means = np.stack([np.frombuffer(m) for m in group["mean"]])
        centred = [np.frombuffer(c).reshape(-1, dim) for c in group["centred"]]
        merged = merge_many(rows, means, centred, lines)
        return pd.DataFrame({"slice": [int(group["slice"].iloc[0])], "rows": [merged.rows], "mean": [merged.mean.tobytes()],
                             "centred": [merged.centred.tobytes()]})

    merged = (source.mapInArrow(partial, PARTIAL_SCHEMA).groupBy("slice").applyInPandas(merge_slice, PARTIAL_SCHEMA)
              .orderBy("slice").collect())
    rows = merged[0].rows if merged else 0
    if rows < 2:
        raise ValueError(f"a covariance needs at least 2 rows, got {rows}")
    centred = np.concatenate([np.frombuffer(row.centred).reshape(-1, dim) for row in merged])
    return Moments(rows, np.frombuffer(merged[0].mean).copy(), centred)
