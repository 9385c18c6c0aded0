"""Do the features mean something? A Spark ML logistic regression on them, scored per class.

Trained on the `Training` split and scored on `Test` (or, without a Test split, on a seeded 20%
held out), twice: on the raw features and on the PCA components. Reports accuracy, per-class
recall, the explained variance at 2/10/50/100 components, and draws the confusion matrix of the
worst classes next to `pca_2d.png`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

VARIANCE_AT = (2, 10, 50, 100)
WORST_CLASSES = 10
HOLD_OUT = 0.2


def evaluate_table(spark, table, feature_dim: int, seed: int = 42) -> tuple[dict, dict]:
    """Evaluate a features table (label, split, features, pca).

    Returns (evaluation summary for metrics.json, confusion counts of the worst classes for
    `plot_confusion`).
    """
    from pyspark.sql import functions as F

    has_test = table.filter(F.col("split") == "Test").limit(1).count() > 0
    if has_test:
        train, test, how = table.filter(F.col("split") == "Training"), table.filter(F.col("split") == "Test"), "Test split"
    else:
        train, test = table.randomSplit([1 - HOLD_OUT, HOLD_OUT], seed=seed)
        how = f"held-out {HOLD_OUT:.0%} (no Test split)"
    train, test = train.cache(), test.cache()
    n_train, n_test = train.count(), test.count()
    if n_train == 0 or n_test == 0:
        raise ValueError(f"cannot evaluate: {n_train} training and {n_test} test rows")
    results, confusion = {}, {}
    for column in ("features", "pca"):
        results[column], confusion[column] = _score(train, test, column, seed)
        log.info("logistic regression on %s: accuracy %.1f%% on %d test images", column,
                 100 * results[column]["accuracy"], n_test)
    summary = {
        "evaluated_on": how,
        "train_rows": n_train,
        "test_rows": n_test,
        "classes": len(results["features"]["recall_per_class"]),
        "accuracy": {"raw": results["features"]["accuracy"], "pca": results["pca"]["accuracy"]},
        "recall_per_class": {"raw": results["features"]["recall_per_class"], "pca": results["pca"]["recall_per_class"]},
        "explained_variance_at": variance_at(table, feature_dim),
    }
    train.unpersist()
    test.unpersist()
    return summary, confusion["features"]


def _score(train, test, column: str, seed: int) -> tuple[dict, dict]:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, StringIndexer
    from pyspark.ml.functions import array_to_vector

    prepare = lambda frame: frame.select("label", array_to_vector(column).alias("x"))  # noqa: E731
    pipeline = Pipeline(stages=[
        StringIndexer(inputCol="label", outputCol="y", handleInvalid="keep"),
        StandardScaler(inputCol="x", outputCol="xs", withMean=True, withStd=True),
        LogisticRegression(featuresCol="xs", labelCol="y", maxIter=200, regParam=0.01, elasticNetParam=0.0),
    ])
    model = pipeline.fit(prepare(train))
    labels = model.stages[0].labels
    predicted = model.transform(prepare(test)).select("label", "y", "prediction").cache()
    rows = predicted.groupBy("label", "prediction").count().collect()
    predicted.unpersist()
    names = [*labels, "(unseen)"]
    pairs = {(r.label, names[int(r.prediction)]): r["count"] for r in rows}
    per_class: dict[str, float] = {}
    for label in sorted({a for a, _ in pairs}):
        total = sum(n for (a, _), n in pairs.items() if a == label)
        per_class[label] = pairs.get((label, label), 0) / total
    correct = sum(n for (a, b), n in pairs.items() if a == b)
    accuracy = correct / sum(pairs.values())
    return {"accuracy": accuracy, "recall_per_class": per_class}, pairs


def variance_at(table, feature_dim: int) -> dict[str, float]:
    """Cumulative explained variance of the standardised features at 2, 10, 50 and 100 components."""
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.functions import array_to_vector

    vectors = table.select(array_to_vector("features").alias("v"))
    scaled = StandardScaler(inputCol="v", outputCol="s", withMean=True, withStd=True).fit(vectors).transform(vectors)
    k = min(max(VARIANCE_AT), feature_dim)
    ratios = np.cumsum(PCA(k=k, inputCol="s", outputCol="p").fit(scaled.select("s")).explainedVariance.toArray())
    return {str(n): float(ratios[n - 1]) for n in VARIANCE_AT if n <= k}


def worst_classes(recall: dict[str, float], n: int = WORST_CLASSES) -> list[str]:
    """The `n` classes with the lowest recall, worst first (ties by name).

    >>> worst_classes({"Kiwi": 1.0, "Pear": 0.5, "Lemon": 0.5}, 2)
    ['Lemon', 'Pear']
    """
    return [name for name, _ in sorted(recall.items(), key=lambda item: (item[1], item[0]))[:n]]


def plot_confusion(pairs: dict, classes: Sequence[str], title: str, path: Path) -> Path:
    """Rows: true class (the worst ones); columns: predicted class; cells: share of the row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predicted = sorted({b for (a, b) in pairs if a in classes} | set(classes))
    grid = np.zeros((len(classes), len(predicted)))
    for i, true in enumerate(classes):
        total = sum(n for (a, _), n in pairs.items() if a == true) or 1
        for j, guess in enumerate(predicted):
            grid[i, j] = pairs.get((true, guess), 0) / total
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(predicted), 1.5 + 0.5 * len(classes)), dpi=110)
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(predicted)), predicted, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    for i in range(len(classes)):
        for j in range(len(predicted)):
            if grid[i, j] > 0:
                ax.text(j, i, f"{grid[i, j]:.0%}", ha="center", va="center", fontsize=6,
                        color="white" if grid[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (worst recall first)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return Path(path)


def format_evaluation(summary: dict) -> str:
    """A short table for the terminal."""
    acc = summary["accuracy"]
    lines = [
        f"evaluation ({summary['evaluated_on']}: {summary['train_rows']} train, {summary['test_rows']} test, "
        f"{summary['classes']} classes)",
        f"  accuracy: raw features {acc['raw']:.1%}, PCA components {acc['pca']:.1%}",
        "  explained variance at " + ", ".join(f"{k}: {v:.1%}" for k, v in summary["explained_variance_at"].items()),
        "  recall, worst classes (raw / pca):",
    ]
    raw, pca = summary["recall_per_class"]["raw"], summary["recall_per_class"]["pca"]
    for name in worst_classes(raw, 5):
        lines.append(f"    {name:24s} {raw[name]:6.1%} / {pca.get(name, float('nan')):6.1%}")
    return "\n".join(lines)


def evaluate_run(spark, files, run, table, feature_dim: int, seed: int) -> dict:
    """Logistic regression on the run's table; draws confusion.png into the run (`files`:
    fruits.storage.files.Files), returns the summary."""
    import tempfile

    from fruits.config.layout import CONFUSION

    summary, confusion = evaluate_table(spark, table.cache(), feature_dim, seed)
    worst = worst_classes(summary["recall_per_class"]["raw"])
    with tempfile.TemporaryDirectory() as tmp:
        picture = plot_confusion(confusion, worst, f"worst classes, raw features (accuracy {summary['accuracy']['raw']:.1%})",
                                 Path(tmp) / CONFUSION)
        files.replace(run[CONFUSION], picture.read_bytes(), tag=run.run_id)
    table.unpersist()
    return summary
