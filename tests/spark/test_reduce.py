"""Tier 2: fruits.pipeline.pca's scaler + PCA fit against Spark ML's own StandardScaler + PCA(k) fit."""

from __future__ import annotations

import numpy as np
import pytest

from fruits.pipeline.pca import PCA_COL, fit_reduce, project

pytestmark = pytest.mark.spark


def features_frame(spark, rows: np.ndarray, partitions: int = 3):
    frame = spark.createDataFrame([(r.tolist(),) for r in rows.astype(np.float32)], "features array<float>")
    return frame.repartition(partitions)


@pytest.fixture(scope="module")
def features(spark):
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(300, 24)) @ rng.normal(size=(24, 24)) + 5.0
    rows[:, 7] = 2.5  # a constant column: Spark's scaler maps it to 0
    return features_frame(spark, rows)


def spark_fit(frame, k: int):
    """The reference: Spark ML's StandardScaler -> PCA(k) on the same column."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.functions import array_to_vector

    vectors = frame.withColumn("features_vec", array_to_vector("features"))
    stages = [StandardScaler(inputCol="features_vec", outputCol="scaled", withMean=True, withStd=True),
              PCA(k=k, inputCol="scaled", outputCol=PCA_COL)]
    return Pipeline(stages=stages).fit(vectors)


def projection(model, frame) -> np.ndarray:
    rows = project(model, frame.orderBy("features")).select("pca").collect()
    return np.array([r.pca for r in rows])


def test_fit_matches_spark_pca_up_to_the_sign_of_each_component(features, tmp_path):
    from pyspark.ml import PipelineModel

    ours, summary = fit_reduce(features, 24, 6, None, str(tmp_path / "fitted"))
    reference = spark_fit(features, 6)
    scaler, spark_scaler = ours.stages[0], reference.stages[0]
    np.testing.assert_allclose(scaler.mean.toArray(), spark_scaler.mean.toArray(), rtol=1e-12)
    np.testing.assert_allclose(scaler.std.toArray(), spark_scaler.std.toArray(), rtol=1e-9)
    assert scaler.getWithMean() and scaler.getWithStd()
    pca = ours.stages[-1]
    assert pca.getK() == 6 and pca.pc.numRows == 24 and pca.pc.numCols == 6
    np.testing.assert_allclose(pca.explainedVariance.toArray(), reference.stages[-1].explainedVariance.toArray(), rtol=1e-9)
    np.testing.assert_allclose(summary.explained_variance, reference.stages[-1].explainedVariance.toArray(), rtol=1e-9)
    mine, theirs = projection(ours, features), projection(reference, features)
    signs = np.sign((mine * theirs).sum(axis=0))
    assert set(signs) <= {-1.0, 1.0}
    np.testing.assert_allclose(mine, theirs * signs, atol=1e-6)

    ours.write().save(str(tmp_path / "model"))
    np.testing.assert_allclose(projection(PipelineModel.load(str(tmp_path / "model")), features), mine, atol=1e-12)


def test_component_signs_do_not_depend_on_the_partitioning(spark, features, tmp_path):
    rows = np.array([r.features for r in features.collect()])
    one, _ = fit_reduce(features_frame(spark, rows, partitions=1), 24, 3, None, str(tmp_path / "one"))
    five, _ = fit_reduce(features_frame(spark, rows, partitions=5), 24, 3, None, str(tmp_path / "five"))
    np.testing.assert_allclose(one.stages[-1].pc.toArray(), five.stages[-1].pc.toArray(), atol=1e-9)
    largest = np.abs(one.stages[-1].pc.toArray()).argmax(axis=0)
    assert (one.stages[-1].pc.toArray()[largest, range(3)] > 0).all()


def test_variance_target_picks_k_from_the_spectrum(spark, tmp_path):
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 16)) + 0.01 * rng.normal(size=(200, 16))
    model, summary = fit_reduce(features_frame(spark, rows), 16, None, 0.95, str(tmp_path / "model"))
    assert summary.k <= 5 and summary.cumulative[-1] >= 0.95
    assert len(summary.explained_variance) == summary.k == model.stages[-1].getK()
    reference = spark_fit(features_frame(spark, rows), 16).stages[-1].explainedVariance.toArray()
    assert summary.k == int(np.argmax(np.cumsum(reference) >= 0.95 - 1e-9)) + 1


@pytest.mark.parametrize(
    "rows, message",
    [
        (np.ones((1, 4)), "at least 2 rows, got 1"),
        (np.tile(np.arange(4.0), (6, 1)), "do not vary"),
    ],
)
def test_data_pca_cannot_use_is_refused_with_the_reason(spark, rows, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        fit_reduce(features_frame(spark, rows, partitions=1), 4, 2, None, str(tmp_path / "model"))
    assert not (tmp_path / "model").exists()


def test_covariance_refuses_rows_of_the_wrong_length(spark):
    from fruits.pipeline.covariance import feature_moments

    frame = spark.createDataFrame([([1.0, 2.0, 3.0],), ([1.0, 2.0],), ([4.0, 0.0, 1.0],)], "features array<float>")
    with pytest.raises(Exception, match=r"must have 3 values, found lengths \[2, 3\]"):
        feature_moments(frame.coalesce(1), "features", 3)


def test_moments_stay_exact_far_from_zero(spark):
    """Blocks are centred on their own mean and merged pairwise: a large offset loses nothing."""
    from fruits.pipeline.covariance import BLOCK_ROWS, feature_moments

    rng = np.random.default_rng(5)
    rows = rng.normal(size=(BLOCK_ROWS + 300, 4)) * [1.0, 2.0, 0.5, 3.0] + 1e4
    moments = feature_moments(features_frame(spark, rows.astype(np.float32), partitions=3), "features", 4)
    exact = rows.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(moments.mean, exact.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.std, exact.std(axis=0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(moments.standardized_covariance(), np.corrcoef(exact, rowvar=False), atol=1e-9)
