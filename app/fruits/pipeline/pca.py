"""Standardise the 2048-d features and project them with PCA; the fitted model is Spark ML's.

The saved model is a Spark ML PipelineModel (StandardScaler -> PCA on a vector column;
array_to_vector is a column function applied before it), so new images are projected the same way
later and any Spark ML user can load it. Both are fitted here, in one pass over the features:
`fruits.pipeline.covariance` gives the mean, the standard deviation and the covariance of the scaler's
output (block matrix products, ~10x faster than Spark's per-row updates), NumPy's LAPACK the
eigen-decomposition on the driver; they become a Spark ML StandardScalerModel and PCAModel
(`save_model`), the first k components. Spark's `PCA.fit`
does the same three steps (covariance, decomposition of the whole matrix, first k columns); the
spark tier checks that both give the same explained variance and the same projection, up to the
sign of each component. Signs are fixed here (the largest entry of each component is positive)
so the same data always gives the same picture.
When a variance target is given, k is the smallest number of components whose cumulative
explained variance reaches it.
"""

from __future__ import annotations

import json
import time
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


def fit_reduce(features_df, dim: int, k: Optional[int], variance: Optional[float], folder: str):
    """Fit scaler + PCA on `features_df` (column `features`: array<float> of `dim` values), in one pass;
    the model is saved in `folder` (a URI the Spark session can write) and loaded from there.

    Returns (PipelineModel, PcaSummary). Raises ValueError for fewer than 2 rows or features that
    do not vary.
    """
    from fruits.pipeline.covariance import feature_moments

    moments = feature_moments(features_df, "features", dim)
    spectrum = principal_components(moments.standardized_covariance())
    if k is None:
        assert variance is not None
        k = components_for_variance(spectrum.ratios, variance)
    model = save_model(features_df.sparkSession, folder, moments.mean, moments.std, spectrum.components[:, :k], spectrum.ratios[:k])
    ratios = [float(x) for x in spectrum.ratios[:k]]
    kept = [float(x) for x in spectrum.ratios[:SPECTRUM_COMPONENTS]]
    return model, PcaSummary(k=k, explained_variance=ratios, target_variance=variance, spectrum=kept)


def save_model(spark, folder: str, mean: np.ndarray, std: np.ndarray, components: np.ndarray, ratios: np.ndarray):
    """Save a Spark ML PipelineModel (StandardScalerModel withMean/withStd -> PCAModel onto
    `components`, dim x k) in `folder`, and load it back: an ordinary fitted model.

    Hand-rolled because Spark ML builds these models only by fitting, which would read every
    feature vector again for numbers `fruits.pipeline.covariance` already has. What is written is
    Spark ML's own persistence format (JSON metadata, Parquet data with its vector and matrix
    types), which Spark keeps loadable across versions, through DataFrames only, so it works on a
    Spark Connect session too; tests/spark compares it with models Spark fitted itself.
    """
    from pyspark.ml import PipelineModel
    from pyspark.ml.linalg import DenseMatrix, DenseVector, MatrixUDT, VectorUDT
    from pyspark.sql.types import StructField, StructType

    dim, k = components.shape
    scaler_uid, pca_uid = f"StandardScaler_{uuid.uuid4().hex[-12:]}", f"PCA_{uuid.uuid4().hex[-12:]}"  # Spark's uid forms
    stages = [
        (scaler_uid, "org.apache.spark.ml.feature.StandardScalerModel",
         {"inputCol": VECTOR_COL, "outputCol": SCALED_COL, "withMean": True, "withStd": True},
         {"outputCol": f"{scaler_uid}__output", "withMean": False, "withStd": True},
         StructType([StructField("std", VectorUDT()), StructField("mean", VectorUDT())]),
         (DenseVector(np.asarray(std, dtype=np.float64)), DenseVector(np.asarray(mean, dtype=np.float64)))),
        (pca_uid, "org.apache.spark.ml.feature.PCAModel",
         {"inputCol": SCALED_COL, "k": int(k), "outputCol": PCA_COL}, {"outputCol": f"{pca_uid}__output"},
         StructType([StructField("pc", MatrixUDT()), StructField("explainedVariance", VectorUDT())]),
         (DenseMatrix(dim, k, np.asarray(components, dtype=np.float64).ravel(order="F").tolist()),
          DenseVector(np.asarray(ratios, dtype=np.float64)))),
    ]
    for index, (uid, cls, params, defaults, schema, row) in enumerate(stages):
        stage = f"{folder}/stages/{index}_{uid}"
        spark.createDataFrame([row], schema).coalesce(1).write.mode("overwrite").parquet(f"{stage}/data")
        _write_metadata(spark, f"{stage}/metadata", cls, uid, params, defaults)
    # The pipeline's own metadata last: a folder without it is no model (PipelineModel.load fails).
    _write_metadata(spark, f"{folder}/metadata", "org.apache.spark.ml.PipelineModel", f"PipelineModel_{uuid.uuid4().hex[-12:]}",
                    {"stageUids": [scaler_uid, pca_uid]}, {})
    return PipelineModel.load(folder)


def _write_metadata(spark, uri: str, cls: str, uid: str, params: dict, defaults: dict) -> None:
    """One line of JSON in a text file: what Spark ML's DefaultParamsWriter writes for a stage."""
    line = json.dumps({"class": cls, "timestamp": int(time.time() * 1000), "sparkVersion": spark.version, "uid": uid,
                       "paramMap": params, "defaultParamMap": defaults}, separators=(",", ":"))
    spark.createDataFrame([(line,)], "value string").coalesce(1).write.mode("overwrite").text(uri)


def project(model, features_df):
    """Add `pca` (array<double>, k) to a frame with `features`."""
    from pyspark.ml.functions import array_to_vector, vector_to_array

    with_vec = features_df.withColumn(VECTOR_COL, array_to_vector("features"))
    return (
        model.transform(with_vec)
        .withColumn("pca", vector_to_array(PCA_COL, dtype="float64"))
        .drop(VECTOR_COL, SCALED_COL, PCA_COL)
    )
