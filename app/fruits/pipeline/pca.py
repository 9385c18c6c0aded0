"""Standardise the 2048-d features and project them with PCA; the fitted model is Spark ML's.

The saved model is a Spark ML PipelineModel (StandardScaler -> PCA on a vector column;
array_to_vector is a column function applied before it), so new images are projected the same way
later and any Spark ML user can load it. Both are fitted here, in one pass over the features:
`fruits.pipeline.covariance` gives the mean, the standard deviation and the covariance of the scaler's
output (block matrix products, ~10x faster than Spark's per-row updates), NumPy's LAPACK the
eigen-decomposition on the driver; they become a Spark ML StandardScalerModel (`scaler_model`)
and PCAModel (`pca_model`), the first k components. Spark's `PCA.fit`
does the same three steps (covariance, decomposition of the whole matrix, first k columns); the
spark tier checks that both give the same explained variance and the same projection, up to the
sign of each component. Signs are fixed here (the largest entry of each component is positive)
so the same data always gives the same picture.
When a variance target is given, k is the smallest number of components whose cumulative
explained variance reaches it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

VECTOR_COL = "features_vec"
SCALED_COL = "scaled"
PCA_COL = "pca_vec"
# Explained variance ratios kept beyond k (metrics.json, the variance picture): where the curve bends.
SPECTRUM_COMPONENTS = 256


@dataclass(frozen=True)
class PcaSummary:
    k: int
    explained_variance: list[float]
    target_variance: Optional[float] = None
    spectrum: list[float] = field(default_factory=list)  # the first SPECTRUM_COMPONENTS ratios, k or not

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
            "spectrum": self.spectrum,
        }


def components_for_variance(ratios: Sequence[float], target: float) -> int:
    """Smallest k whose cumulative explained variance reaches `target` (all of them if none does).

    >>> components_for_variance([0.5, 0.3, 0.2], 0.8)
    2
    """
    cumulative = np.cumsum(np.asarray(ratios, dtype=np.float64))
    reached = np.nonzero(cumulative >= target - 1e-9)[0]
    return int(reached[0]) + 1 if reached.size else len(ratios)


@dataclass(frozen=True)
class Spectrum:
    """Principal axes of a covariance matrix: `components[:, i]` explains `ratios[i]` of the variance."""

    components: np.ndarray
    ratios: np.ndarray


def principal_components(covariance: np.ndarray) -> Spectrum:
    """Every principal axis of a symmetric covariance matrix, largest variance first.

    Like Spark's PCA, the ratios are |eigenvalue| / sum |eigenvalues| (singular values of the
    matrix). Raises ValueError when nothing varies (all ratios would be 0/0).
    """
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    values, vectors = np.abs(values[order]), vectors[:, order]
    total = values.sum()
    if not total > 0:
        raise ValueError("the features do not vary at all (every image gave the same vector); PCA has nothing to explain")
    largest = np.abs(vectors).argmax(axis=0)
    vectors = vectors * np.sign(vectors[largest, np.arange(vectors.shape[1])])
    return Spectrum(components=vectors, ratios=values / total)


def fit_reduce(features_df, dim: int, k: Optional[int], variance: Optional[float]):
    """Fit scaler + PCA on `features_df` (column `features`: array<float> of `dim` values), in one pass.

    Returns (PipelineModel, PcaSummary). Raises ValueError for fewer than 2 rows or features that
    do not vary.
    """
    from pyspark.ml import PipelineModel

    from fruits.pipeline.covariance import feature_moments

    moments = feature_moments(features_df, "features", dim)
    spectrum = principal_components(moments.standardized_covariance())
    if k is None:
        assert variance is not None
        k = components_for_variance(spectrum.ratios, variance)
    scaler = scaler_model(moments.mean, moments.std, VECTOR_COL, SCALED_COL)
    pca = pca_model(spectrum.components[:, :k], spectrum.ratios[:k], SCALED_COL, PCA_COL)
    ratios = [float(x) for x in spectrum.ratios[:k]]
    kept = [float(x) for x in spectrum.ratios[:SPECTRUM_COMPONENTS]]
    return PipelineModel(stages=[scaler, pca]), PcaSummary(k=k, explained_variance=ratios, target_variance=variance, spectrum=kept)


def scaler_model(mean: np.ndarray, std: np.ndarray, input_col: str, output_col: str):
    """A Spark ML StandardScalerModel (withMean, withStd) with the given mean and std.

    Hand-rolled like `pca_model`, for the same reason: Spark ML builds one only by fitting, which
    would read every feature vector again for numbers `fruits.pipeline.covariance` already has.
    """
    from pyspark.ml.common import _py2java
    from pyspark.ml.feature import StandardScalerModel
    from pyspark.ml.linalg import DenseVector
    from pyspark.sql import SparkSession

    sc = SparkSession.getActiveSession().sparkContext
    java_std = _py2java(sc, DenseVector(np.asarray(std, dtype=np.float64)))
    java_mean = _py2java(sc, DenseVector(np.asarray(mean, dtype=np.float64)))
    uid = f"StandardScaler_{uuid.uuid4().hex[-12:]}"  # Spark's own form of a scaler uid
    model = StandardScalerModel(sc._jvm.org.apache.spark.ml.feature.StandardScalerModel(uid, java_std, java_mean))
    return model.setInputCol(input_col).setOutputCol(output_col)._set(withMean=True, withStd=True)


def pca_model(components: np.ndarray, ratios: np.ndarray, input_col: str, output_col: str):
    """A Spark ML PCAModel projecting onto `components` (dim x k), with `ratios` as its explained variance.

    Hand-rolled because Spark ML has no public way to build a PCAModel from given components:
    this calls its JVM constructor (Scala `private[ml]`, public in bytecode). The result is an
    ordinary PCAModel: it saves, loads and transforms like a fitted one (tests/spark checks it).
    """
    from pyspark.ml.common import _py2java
    from pyspark.ml.feature import PCAModel
    from pyspark.ml.linalg import DenseMatrix, DenseVector
    from pyspark.sql import SparkSession

    dim, k = components.shape
    sc = SparkSession.getActiveSession().sparkContext
    java_pc = _py2java(sc, DenseMatrix(dim, k, np.asarray(components, dtype=np.float64).ravel(order="F").tolist()))
    java_ratios = _py2java(sc, DenseVector(np.asarray(ratios, dtype=np.float64)))
    uid = f"pca_{uuid.uuid4().hex[-12:]}"  # Spark's own form of a PCA uid
    model = PCAModel(sc._jvm.org.apache.spark.ml.feature.PCAModel(uid, java_pc, java_ratios))
    return model.setInputCol(input_col).setOutputCol(output_col)._set(k=k)


def project(model, features_df):
    """Add `pca` (array<double>, k) to a frame with `features`."""
    from pyspark.ml.functions import array_to_vector, vector_to_array

    with_vec = features_df.withColumn(VECTOR_COL, array_to_vector("features"))
    return (
        model.transform(with_vec)
        .withColumn("pca", vector_to_array(PCA_COL, dtype="float64"))
        .drop(VECTOR_COL, SCALED_COL, PCA_COL)
    )
