import json

import numpy as np
import pytest
from PIL import Image

from fruits.errors import explain
from fruits.pipeline.pca import PcaSummary, components_for_variance
from fruits.report.pictures import pca_title, plot_pca_2d
from fruits.report.text import metrics_json, summarize


@pytest.mark.parametrize("ratios, target, k", [([0.5, 0.3, 0.2], 0.8, 2), ([0.5, 0.3, 0.2], 0.81, 3),
                                               ([0.9, 0.1], 0.5, 1), ([0.4, 0.3], 0.95, 2), ([1.0], 1.0, 1)])
def test_components_for_variance_is_the_smallest_k_reaching_the_target(ratios, target, k):
    assert components_for_variance(ratios, target) == k


def test_pca_summary_reports_cumulative_variance():
    summary = PcaSummary(k=3, explained_variance=[0.5, 0.25, 0.125], target_variance=0.8).to_dict()
    assert summary["cumulative_explained_variance"] == [0.5, 0.75, 0.875]
    assert summary["total_explained_variance"] == 0.875


def test_random_weights_are_named_in_the_picture_title():
    assert "RANDOM WEIGHTS" in pca_title("random", [0.4, 0.2])
    assert "RANDOM" not in pca_title("imagenet", [0.4, 0.2])
    assert "PC1 40.0%" in pca_title("imagenet", [0.4, 0.2])
    assert pca_title("imagenet", [0.4, 0.2], "efficientnet-lite0").startswith("EfficientNet-Lite0 features")


def test_picture_is_a_png_with_one_colour_per_label(tmp_path):
    points = np.random.default_rng(0).normal(size=(60, 2))
    labels = ["Kiwi"] * 30 + ["Pêche"] * 30
    path = plot_pca_2d(points, labels, "title", tmp_path / "p.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 500


def test_picture_works_with_a_single_component(tmp_path):
    plot_pca_2d(np.arange(10.0).reshape(10, 1), ["a"] * 10, "t", tmp_path / "one.png")
    assert (tmp_path / "one.png").stat().st_size > 0


def test_summary_names_counts_weights_and_variance(tmp_path):
    metrics = {
        "run_id": "r1", "model": "resnet50", "weights": {"kind": "random"}, "images_per_second": 12.5, "total_seconds": 40.0,
        "counts": {"listed": 10, "accepted": 9, "rejected": 1, "consistent": True, "by_label": {"Kiwi": 9},
                   "rejected_by_reason": {"empty file (0 bytes)": 1}},
        "pca": {"k": 2, "total_explained_variance": 0.7, "target_variance": None, "explained_variance": [0.5, 0.2]},
        "stage_seconds": {"list": 1.0, "featurize": 2.0},
    }
    text = summarize(metrics)
    for fragment in ("random weights", "listed 10, accepted 9, rejected 1", "k=2", "1 x empty file",
                     "featurize stage 12.5 images/s, whole run 40.0 s"):
        assert fragment in text
    assert json.loads(metrics_json(metrics))["pca"]["k"] == 2


def test_known_s3_failures_get_a_hint():
    assert "check FRUITS_S3_ENDPOINT" in explain(ConnectionError("java.net.ConnectException: Connection refused"))
    assert "AWS_ACCESS_KEY_ID" in explain(RuntimeError("InvalidAccessKeyId: the key does not exist"))
    assert explain(ValueError("plain")) == "ValueError: plain"


def test_confusion_picture_and_evaluation_table(tmp_path):
    from fruits.report.evaluate import format_evaluation, plot_confusion, worst_classes

    pairs = {("Kiwi", "Kiwi"): 3, ("Kiwi", "Pear"): 1, ("Pear", "Pear"): 4}
    path = plot_confusion(pairs, worst_classes({"Kiwi": 0.75, "Pear": 1.0}), "t", tmp_path / "c.png")
    assert path.stat().st_size > 1_000
    summary = {"evaluated_on": "Test split", "train_rows": 10, "test_rows": 8, "classes": 2,
               "accuracy": {"raw": 0.875, "pca": 0.75}, "explained_variance_at": {"2": 0.5},
               "recall_per_class": {"raw": {"Kiwi": 0.75, "Pear": 1.0}, "pca": {"Kiwi": 0.5, "Pear": 1.0}}}
    text = format_evaluation(summary)
    assert "raw features 87.5%" in text and text.index("Kiwi") < text.index("Pear")
