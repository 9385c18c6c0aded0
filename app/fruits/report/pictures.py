"""The 2-D PCA picture a person looks at after a run.

Pure functions over plain data (lists, numpy arrays, dicts), so they are tested without Spark and
reused by `fruits report` to redraw the picture from an existing output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

MAX_POINTS = 20_000  # enough for a readable scatter; the picture of 90k images samples down to this


MODEL_TITLES = {"resnet50": "ResNet50", "efficientnet-lite0": "EfficientNet-Lite0"}


def pca_title(weights_kind: str, ratios: Sequence[float], model: str = "resnet50") -> str:
    """Title naming the model and weights (so a random-weights picture never passes for a real one)."""
    parts = [f"PC{i + 1} {r:.1%}" for i, r in enumerate(ratios[:2])]
    warning = " - RANDOM WEIGHTS, not ImageNet" if weights_kind == "random" else f" ({weights_kind} weights)"
    return f"{MODEL_TITLES.get(model, model)} features, PCA ({', '.join(parts)}){warning}"


def plot_pca_2d(points: np.ndarray, labels: Sequence[str], title: str, path: Path, seed: int = 0) -> Path:
    """Scatter of the first two components ((n, 2) or (n, 1)), one colour per label, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = np.asarray(points, dtype=np.float64).reshape(len(labels), -1)
    labels_arr = np.asarray(labels, dtype=object)
    if len(labels_arr) > MAX_POINTS:
        keep = np.random.default_rng(seed).choice(len(labels_arr), MAX_POINTS, replace=False)
        points, labels_arr = points[keep], labels_arr[keep]
    ys = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
    names = sorted(set(labels_arr.tolist()))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    for i, name in enumerate(names):
        mask = labels_arr == name
        ax.scatter(points[mask, 0], ys[mask], s=12, alpha=0.75, color=cmap(i % cmap.N), label=name)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2" if points.shape[1] > 1 else "(one component)")
    ax.set_title(title, fontsize=10)
    if len(names) <= 40:
        ax.legend(fontsize=7, markerscale=1.5, loc="best", ncol=2 if len(names) > 12 else 1)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
