"""Standardise the 2048-d features and project them with PCA, all with Spark ML.

The fitted PipelineModel (StandardScaler -> PCA on a vector column; array_to_vector is a column
function applied before it) is saved with the run so new images can be projected
the same way later. When a variance target is given, k is the smallest number of components whose
cumulative explained variance reaches it. Spark's PCA computes the covariance and its full
eigen-decomposition whatever k is, so we fit once with every component to read the spectrum, then
keep the first k components of that same fit (`leading_components`) instead of fitting again: the
second covariance pass cost as much as the first (90,000 x 2048: ~50 s each on 2 cores).
The eigen-decomposition of a 2048x2048 covariance takes ~3 s with a native BLAS/LAPACK (OpenBLAS)
and ~18 s with the pure-Java fallback: `scripts/system-deps.sh` installs OpenBLAS where it can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

VECTOR_COL = "features_vec"
SCALED_COL = "scaled"
PCA_COL = "pca_vec"


@dataclass(frozen=True)
class PcaSummary:
    k: int
    explained_variance: list[float]
    target_variance: Optional[float] = None

    @property
    def cumulative(self) -> list[float]:
        return [float(x) for x in np.cumsum(self.explained_variance)]

    def to_dict(self) -> dict:
        return {
            "k": self.k,
            "target_variance": self.target_variance,
            "explained_variance": self.explained_variance,
            "cumulative_explained_variance": self.cumulative,
            "total_explained_variance": self.cumulative[-1] if self.explained_variance else 0.0,
        }


def components_for_variance(ratios: Sequence[float], target: float) -> int:
    """Smallest k whose cumulative explained variance reaches `target` (all of them if none does).

    >>> components_for_variance([0.5, 0.3, 0.2], 0.8)
    2
    """
    cumulative = np.cumsum(np.asarray(ratios, dtype=np.float64))
    reached = np.nonzero(cumulative >= target - 1e-9)[0]
    return int(reached[0]) + 1 if reached.size else len(ratios)


def fit_reduce(features_df, dim: int, k: Optional[int], variance: Optional[float]):
    """Fit scaler + PCA on `features_df` (column `features`: array<float>).

    Returns (PipelineModel, PcaSummary). The scaler is fitted once and its output cached, because
    PCA reads it once or twice (twice when k comes from a variance target).
    """
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.functions import array_to_vector

    vectors = features_df.select(array_to_vector("features").alias(VECTOR_COL))
    scaler = StandardScaler(inputCol=VECTOR_COL, outputCol=SCALED_COL, withMean=True, withStd=True).fit(vectors)
    scaled = scaler.transform(vectors).select(SCALED_COL).cache()
    try:
        if k is None:
            assert variance is not None
            full = PCA(k=dim, inputCol=SCALED_COL, outputCol=PCA_COL).fit(scaled)
            k = components_for_variance(full.explainedVariance.toArray(), variance)
            pca = leading_components(full, k)
        else:
            pca = PCA(k=k, inputCol=SCALED_COL, outputCol=PCA_COL).fit(scaled)
    finally:
        scaled.unpersist()
    ratios = [float(x) for x in pca.explainedVariance.toArray()]
    return PipelineModel(stages=[scaler, pca]), PcaSummary(k=k, explained_variance=ratios, target_variance=variance)


def leading_components(model, k: int):
    """A PCAModel holding the first `k` components of `model` (a fitted Spark ML PCAModel).

    Equal to fitting PCA(k) on the same data: Spark sorts the components by eigenvalue and PCA(k)
    keeps the first k of the same decomposition (tests/spark checks the two give the same
    projection). Hand-rolled because Spark ML has no public way to cut a fitted PCAModel: this
    calls the JVM constructor of PCAModel (Scala `private[ml]`, public in bytecode). The result is
    an ordinary PCAModel: it saves, loads and transforms like a fitted one.
    """
    from pyspark.ml.common import _py2java
    from pyspark.ml.feature import PCAModel
    from pyspark.ml.linalg import DenseMatrix, DenseVector
    from pyspark.sql import SparkSession

    components = model.pc.toArray()[:, :k]
    ratios = model.explainedVariance.toArray()[:k]
    sc = SparkSession.getActiveSession().sparkContext
    java_pc = _py2java(sc, DenseMatrix(components.shape[0], k, components.ravel(order="F").tolist()))
    java_ratios = _py2java(sc, DenseVector(ratios))
    java_model = sc._jvm.org.apache.spark.ml.feature.PCAModel(model.uid, java_pc, java_ratios)
    cut = PCAModel(java_model)
    return cut.setInputCol(model.getInputCol()).setOutputCol(model.getOutputCol())._set(k=k)


def project(model, features_df):
    """Add `pca` (array<double>, k) to a frame with `features`."""
    from pyspark.ml.functions import array_to_vector, vector_to_array

    with_vec = features_df.withColumn(VECTOR_COL, array_to_vector("features"))
    return (
        model.transform(with_vec)
        .withColumn("pca", vector_to_array(PCA_COL, dtype="float64"))
        .drop(VECTOR_COL, SCALED_COL, PCA_COL)
    )
