"""What a person reads in a terminal after a run: the digest of metrics.json, and its file's text."""

from __future__ import annotations

import json


def summarize(metrics: dict) -> str:
    """A short, human-readable digest of metrics.json for the terminal."""
    counts, pca, stages = metrics["counts"], metrics["pca"], metrics["stage_seconds"]
    lines = [
        f"run {metrics['run_id']}  ({metrics['weights']['kind']} weights, {metrics['model']})",
        f"  images listed {counts['listed']}, accepted {counts['accepted']}, rejected {counts['rejected']}"
        f" ({'consistent' if counts['consistent'] else 'INCONSISTENT'})",
        f"  classes {len(counts['by_label'])}, featurize stage {metrics['images_per_second']:.1f} images/s"
        + (f", whole run {metrics['total_seconds']:.1f} s" if "total_seconds" in metrics else ""),
        f"  PCA k={pca['k']}, explained variance {pca['total_explained_variance']:.1%}"
        + (f" (target {pca['target_variance']:.0%})" if pca.get("target_variance") else ""),
        "  first components: " + ", ".join(f"{r:.1%}" for r in pca["explained_variance"][:5]),
        "  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()),
    ]
    if counts["rejected_by_reason"]:
        lines.append("  rejected: " + "; ".join(f"{n} x {r}" for r, n in counts["rejected_by_reason"].items()))
    return "\n".join(lines)


def metrics_json(data: dict) -> str:
    """metrics.json's text: indented, in the order the run built it, non-ASCII labels as they are."""
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
