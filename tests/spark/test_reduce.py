"""Tier 2: the PCA shortcut of fruits.reduce against Spark ML's own PCA(k) fit."""

from __future__ import annotations

import numpy as np
import pytest

from fruits.reduce import fit_reduce, leading_components

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def vectors(spark):
    from pyspark.ml.linalg import Vectors

    rng = np.random.default_rng(3)
    rows = rng.normal(size=(300, 24)) @ rng.normal(size=(24, 24))
    return spark.createDataFrame([(Vectors.dense(r),) for r in rows], ["v"])


def projection(model, frame) -> np.ndarray:
    return np.array([r.p.toArray() for r in model.transform(frame).select("p").collect()])


def test_leading_components_of_a_full_fit_equal_a_fit_with_k(vectors, tmp_path):
    from pyspark.ml.feature import PCA, PCAModel

    full = PCA(k=24, inputCol="v", outputCol="p").fit(vectors)
    cut, fitted = leading_components(full, 6), PCA(k=6, inputCol="v", outputCol="p").fit(vectors)
    assert cut.getK() == 6 and cut.pc.numCols == 6
    np.testing.assert_allclose(cut.explainedVariance.toArray(), fitted.explainedVariance.toArray(), rtol=1e-12)
    np.testing.assert_allclose(projection(cut, vectors), projection(fitted, vectors), atol=1e-9)
    cut.write().save(str(tmp_path / "cut"))
    np.testing.assert_allclose(projection(PCAModel.load(str(tmp_path / "cut")), vectors), projection(fitted, vectors), atol=1e-9)


def test_variance_target_picks_k_from_the_spectrum_of_one_fit(spark):
    rng = np.random.default_rng(4)
    features = (rng.normal(size=(200, 5)) @ rng.normal(size=(5, 16)) + 0.01 * rng.normal(size=(200, 16))).astype(np.float32)
    frame = spark.createDataFrame([(row.tolist(),) for row in features], "features array<float>")
    model, summary = fit_reduce(frame, 16, None, 0.95)
    assert summary.k <= 5 and summary.cumulative[-1] >= 0.95
    assert len(summary.explained_variance) == summary.k == model.stages[-1].getK()
