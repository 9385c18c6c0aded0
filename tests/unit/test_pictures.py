"""The pictures of a run at Fruits-360's 131 classes: the largest 15 in colour and the rest grey (PNG
and interactive HTML, hover with label and path), and the explained variance with k marked."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from fruits.report.pictures import COLOURED_CLASSES, OTHER_COLOUR, coloured_classes, draw_run_pictures, plot_pca_2d, plot_variance, write_pca_html


@pytest.fixture()
def classes_131():
    """131 classes of 5 to 135 points each (class i has 5 + i points), as a stratified sample gives."""
    rng = np.random.default_rng(0)
    labels = [f"Class {i:03d}" for i in range(131) for _ in range(5 + i)]
    points = rng.normal(size=(len(labels), 2)) + np.repeat(np.arange(131.0), [5 + i for i in range(131)])[:, None] / 40
    paths = [f"file:///data/Training/{label}/{n}.jpg" for n, label in enumerate(labels)]
    sizes = {f"Class {i:03d}": 1000 * (131 - i) for i in range(131)}  # the table's counts: class 0 largest
    return points, labels, paths, sizes


def test_the_largest_classes_by_the_tables_counts_get_the_colours(classes_131):
    _, labels, _, sizes = classes_131
    assert coloured_classes(labels, sizes) == [f"Class {i:03d}" for i in range(COLOURED_CLASSES)]
    # Without the table's counts, the sample's: here the last classes have the most points.
    assert coloured_classes(labels)[:2] == ["Class 130", "Class 129"]


def test_png_at_131_classes_is_drawn_with_grey_for_the_rest(classes_131, tmp_path):
    points, labels, _, sizes = classes_131
    path = plot_pca_2d(points, labels, "131 classes", tmp_path / "p.png", sizes=sizes)
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    grey = tuple(int(OTHER_COLOUR[i:i + 2], 16) for i in (1, 3, 5))
    assert (pixels == grey).all(axis=1).sum() > 1_000, "the other classes are not drawn in grey"


def test_html_is_self_contained_with_a_trace_per_coloured_class_and_paths_on_hover(classes_131, tmp_path):
    points, labels, paths, sizes = classes_131
    path = write_pca_html(points, labels, paths, "131 classes", tmp_path / "p.html", sizes=sizes)
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=\"https?:", html), "the page loads scripts from the network"
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js inside
    start = html.index("[", html.rindex("Plotly.newPlot("))
    traces, _ = json.JSONDecoder().raw_decode(html[start:])  # the figure's data, as the page draws it
    assert [t["name"] for t in traces] == ["116 other classes"] + [f"Class {i:03d}" for i in range(COLOURED_CLASSES)]
    hover = {tuple(point) for t in traces for point in t["customdata"]}
    assert hover == set(zip(labels, paths, strict=True)), "every point hovers with its own label and path"
    assert all(t["hovertemplate"].startswith("%{customdata[0]}") for t in traces)


def test_variance_picture_marks_k_and_target_and_refuses_nothing_to_draw(tmp_path):
    ratios = list(np.linspace(0.2, 0.001, 256) / np.linspace(0.2, 0.001, 256).sum())
    with Image.open(plot_variance(ratios, 37, 0.9, "t", tmp_path / "v.png")) as image:
        assert image.format == "PNG" and image.size[0] > 500
    with pytest.raises(ValueError, match="no explained variance"):
        plot_variance([], 1, None, "t", tmp_path / "none.png")


def test_a_runs_three_pictures_by_their_output_names(classes_131, tmp_path):
    from fruits.config.layout import INTERACTIVE, PICTURE, VARIANCE

    points, labels, paths, sizes = classes_131
    drawn = draw_run_pictures(tmp_path, points[:, :1], labels, paths, "ResNet50 features, PCA (PC1 50%)", [0.5, 0.3, 0.2], 1, None,
                              sizes=sizes)
    assert set(drawn) == {PICTURE, INTERACTIVE, VARIANCE} and all(p.stat().st_size > 1_000 for p in drawn.values())
