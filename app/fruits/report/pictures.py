"""The pictures a person looks at after a run: the 2-D PCA scatter (PNG, and an interactive HTML
page) and the explained variance per component, the plot people choose k from.

Pure functions over plain data (lists, numpy arrays, dicts), so they are tested without Spark and
reused by `fruits report` to redraw the pictures from an existing output.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

MAX_POINTS = 20_000  # enough for a readable scatter; the picture of 90k images samples down to this
# Classes drawn in colour, the largest first; the others are grey. Twenty colours cannot tell 131
# classes apart, and a legend of 131 entries covers the plot.
COLOURED_CLASSES = 15
OTHER_COLOUR = "#c8c8c8"
# Components shown in the variance picture: enough to see the elbow and the chosen k.
VARIANCE_COMPONENTS = 100


MODEL_TITLES = {"resnet50": "ResNet50", "efficientnet-lite0": "EfficientNet-Lite0"}


def pca_title(weights_kind: str, ratios: Sequence[float], model: str = "resnet50") -> str:
    """Title naming the model and weights (so a random-weights picture never passes for a real one)."""
    parts = [f"PC{i + 1} {r:.1%}" for i, r in enumerate(ratios[:2])]
    warning = " - RANDOM WEIGHTS, not ImageNet" if weights_kind == "random" else f" ({weights_kind} weights)"
    return f"{MODEL_TITLES.get(model, model)} features, PCA ({', '.join(parts)}){warning}"


def coloured_classes(labels: Sequence[str], sizes: Optional[Mapping[str, int]] = None) -> list[str]:
    """The COLOURED_CLASSES largest classes (by `sizes`, else by their points), largest first, ties by name.

    >>> coloured_classes(["b", "a", "b", "c"])[:2]
    ['b', 'a']
    """
    counts = dict(sizes) if sizes else Counter(labels)
    present = set(labels)
    ranked = sorted((name for name in counts if name in present), key=lambda name: (-counts[name], name))
    return ranked[:COLOURED_CLASSES]


def _sampled(points, labels, seed: int, *extra):
    points = np.asarray(points, dtype=np.float64).reshape(len(labels), -1)
    columns = [np.asarray(labels, dtype=object)] + [np.asarray(e, dtype=object) for e in extra]
    if len(labels) > MAX_POINTS:
        keep = np.random.default_rng(seed).choice(len(labels), MAX_POINTS, replace=False)
        points, columns = points[keep], [c[keep] for c in columns]
    ys = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
    return points[:, 0], ys, points.shape[1], columns


def class_groups(labels_arr: np.ndarray, sizes: Optional[Mapping[str, int]] = None) -> list[tuple[str, np.ndarray, str]]:
    """(legend name, mask, colour) per group of points, drawn in this order: the other classes in
    grey first (underneath), then each coloured class; the same colours in the PNG and the HTML."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    named = coloured_classes(labels_arr.tolist(), sizes)
    others = len(set(labels_arr.tolist()) - set(named))
    cmap = colormaps["tab20" if len(named) > 10 else "tab10"]
    groups = [(f"{others} other classes", ~np.isin(labels_arr, named), OTHER_COLOUR)] if others else []
    return groups + [(name, labels_arr == name, to_hex(cmap(i % cmap.N))) for i, name in enumerate(named)]


def plot_pca_2d(points: np.ndarray, labels: Sequence[str], title: str, path: Path, seed: int = 0,
                sizes: Optional[Mapping[str, int]] = None) -> Path:
    """Scatter of the first two components ((n, 2) or (n, 1)) as PNG: the largest classes in colour
    with a legend, the rest grey underneath, so that 131 classes stay readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys, dims, (labels_arr,) = _sampled(points, labels, seed)
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    for name, mask, colour in class_groups(labels_arr, sizes):
        grey = colour == OTHER_COLOUR
        ax.scatter(xs[mask], ys[mask], s=6 if grey else 12, alpha=1.0 if grey else 0.8, color=colour, label=name)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2" if dims > 1 else "(one component)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def write_pca_html(points: np.ndarray, labels: Sequence[str], paths: Sequence[str], title: str, path: Path,
                   seed: int = 0, sizes: Optional[Mapping[str, int]] = None) -> Path:
    """The same scatter as one self-contained HTML page (plotly.js inside, no network needed): zoom,
    pan, and each point's label and image path on hover; a click on a legend entry hides a class."""
    import plotly.graph_objects as go

    xs, ys, _, (labels_arr, paths_arr) = _sampled(points, labels, seed, paths)
    figure = go.Figure()
    for name, mask, colour in class_groups(labels_arr, sizes):
        figure.add_trace(go.Scattergl(
            x=xs[mask], y=ys[mask], mode="markers", name=name, marker={"size": 5, "color": colour},
            customdata=np.stack([labels_arr[mask], paths_arr[mask]], axis=1),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="PC1", yaxis_title="PC2", template="plotly_white")
    path = Path(path)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def plot_variance(ratios: Sequence[float], k: int, target: Optional[float], title: str, path: Path) -> Path:
    """Explained variance per component (bars) and cumulative (line) over the first components,
    with the chosen k and the variance target marked: the picture to choose k from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = np.asarray(ratios[:max(VARIANCE_COMPONENTS, min(k + 10, len(ratios)))], dtype=np.float64)
    if len(shown) == 0:
        raise ValueError("no explained variance to draw")
    cumulative = np.cumsum(shown)
    steps = np.arange(1, len(shown) + 1)
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    ax.bar(steps, shown, color="#1f77b4", alpha=0.6, label="per component")
    ax.plot(steps, cumulative, color="#d62728", label="cumulative")
    if target:
        ax.axhline(target, color="#555555", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    if 1 <= k <= len(shown):
        ax.axvline(k, color="#2ca02c", linestyle=":", linewidth=1.5, label=f"k = {k} ({cumulative[k - 1]:.1%})")
    ax.set_xlabel("component")
    ax.set_ylabel("share of the variance")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0.5, len(shown) + 0.5)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def draw_run_pictures(folder: Path, points, labels: Sequence[str], paths: Sequence[str], title: str,
                      spectrum: Sequence[float], k: int, target: Optional[float],
                      sizes: Optional[Mapping[str, int]] = None) -> dict[str, Path]:
    """A run's three pictures drawn into `folder`, by their names in the output (fruits.config.layout)."""
    from fruits.config.layout import INTERACTIVE, PICTURE, VARIANCE

    folder = Path(folder)
    return {
        PICTURE: plot_pca_2d(points, labels, title, folder / PICTURE, sizes=sizes),
        INTERACTIVE: write_pca_html(points, labels, paths, title, folder / INTERACTIVE, sizes=sizes),
        VARIANCE: plot_variance(spectrum, k, target, f"{title.split(', PCA')[0]}: explained variance", folder / VARIANCE),
    }
