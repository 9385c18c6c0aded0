"""`make bench-runtimes`' verdicts and table: which runtime agrees with the reference, which is fastest.

Why apart: the rules (fp32 within cosine 0.999 of TensorFlow's features on every image; int8 with
the Test accuracy of today's int8 within one point) are the decision the benchmark exists for,
kept in plain functions the unit tests check without any runtime installed.
"""

from __future__ import annotations

from typing import Optional

REFERENCE = ("tensorflow", "fp32")
TODAYS_INT8 = ("tflite", "int8")
FP32_COSINE = 0.999
INT8_ACCURACY_POINTS = 1.0


def agrees(row: dict, todays_int8_accuracy: Optional[float]) -> Optional[bool]:
    """Whether a measured row may replace today's runtime at its precision; None when it was not measured.

    fp32: the lowest cosine to TensorFlow's features over the images is at least 0.999. int8: its Test
    accuracy is at most one point below today's int8 (TFLite).

    >>> agrees({"precision": "fp32", "cosine_min": 0.9995}, None)
    True
    >>> agrees({"precision": "int8", "accuracy": 0.90}, 0.915)
    False
    """
    if row.get("error"):
        return None
    if row["precision"] == "fp32":
        return row["cosine_min"] >= FP32_COSINE
    if todays_int8_accuracy is None:
        return None
    return 100 * row["accuracy"] >= 100 * todays_int8_accuracy - INT8_ACCURACY_POINTS - 1e-9


def judge(rows: list[dict]) -> list[dict]:
    """The rows of one model with `agrees` filled in."""
    todays = next((r for r in rows if (r["runtime"], r["precision"]) == TODAYS_INT8 and not r.get("error")), None)
    accuracy = todays["accuracy"] if todays else None
    return [{**row, "agrees": agrees(row, accuracy)} for row in rows]


def fastest(rows: list[dict]) -> dict[str, Optional[str]]:
    """Per precision, the runtime with the most images per second among the rows that agree.

    >>> fastest([{"precision": "fp32", "runtime": "a", "images_per_second": 5, "agrees": True},
    ...          {"precision": "fp32", "runtime": "b", "images_per_second": 9, "agrees": False}])
    {'fp32': 'a'}
    """
    best: dict[str, Optional[str]] = {}
    for precision in dict.fromkeys(row["precision"] for row in rows):
        candidates = [r for r in rows if r["precision"] == precision and r.get("agrees")]
        best[precision] = max(candidates, key=lambda r: r["images_per_second"])["runtime"] if candidates else None
    return best


COLUMNS = ("runtime", "precision", "images/s", "layout", "peak RSS MB", "first result s", "convert s",
           "cosine mean / min", "accuracy", "agrees")


def cells(row: dict) -> list[str]:
    """One row of the table as text; a runtime that could not run says why in its row."""
    head = [row["runtime"], row["precision"]]
    if row.get("error"):
        return head + [f"not measured: {row['error']}"] + [""] * (len(COLUMNS) - 3)
    verdict = {True: "yes", False: "no", None: "-"}[row.get("agrees")]
    if (row["runtime"], row["precision"]) == REFERENCE:
        verdict = "reference"
    return head + [
        f"{row['images_per_second']:.1f}", row["layout"], f"{row['peak_rss_mb']:.0f}", f"{row['first_result_seconds']:.1f}",
        f"{row['convert_seconds']:.1f}", f"{row['cosine_mean']:.5f} / {row['cosine_min']:.5f}",
        f"{100 * row['accuracy']:.1f}%", verdict,
    ]


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (what docs/runtimes.md shows and the benchmark prints).

    >>> print(markdown_table([{"runtime": "onnxruntime", "precision": "int8", "error": "no converter"}]))
    | runtime | precision | images/s | layout | peak RSS MB | first result s | convert s | cosine mean / min | accuracy | agrees |
    |---|---|---|---|---|---|---|---|---|---|
    | onnxruntime | int8 | not measured: no converter |  |  |  |  |  |  |  |
    """
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)
