"""The ceiling's layout choice and `make bench-runtimes`' verdicts: the logic, without any runtime."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from runtimes_engines import check_runtime, model_file  # noqa: E402
from runtimes_layout import fastest as fastest_layout  # noqa: E402
from runtimes_layout import layout_name, layouts_to_measure, split  # noqa: E402
from runtimes_report import agrees, fastest, judge, markdown_table  # noqa: E402


def test_best_measures_both_layouts_and_keeps_the_faster_even_when_processes_win():
    assert layouts_to_measure("best", 2) == ("threads", "processes")
    assert fastest_layout({"threads": 17.3, "processes": 17.5}) == "processes"
    assert fastest_layout({"threads": 20.0, "processes": 17.5}) == "threads"
    assert layout_name("processes", 2) == "2 processes x 1 thread"
    assert layout_name("threads", 4) == "1 process x 4 threads"


def test_one_core_has_one_layout_and_bad_layouts_are_refused():
    assert layouts_to_measure("best", 1) == ("threads",)
    assert layout_name("processes", 1) == "1 process x 1 thread"
    with pytest.raises(ValueError, match="--layout must be one of"):
        layouts_to_measure("fastest", 2)
    with pytest.raises(ValueError, match="at least 1"):
        layouts_to_measure("best", 0)


def test_the_images_are_split_into_contiguous_shares_that_cover_them_all():
    shares = split(101, 4)
    assert shares[0][0] == 0 and shares[-1][1] == 101
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:], strict=False))
    assert {stop - start for start, stop in shares} == {25, 26}
    with pytest.raises(ValueError, match="at least one each"):
        split(1, 2)


def test_tensorflow_int8_is_refused_with_the_runtimes_that_have_one():
    with pytest.raises(ValueError, match="tflite, litert, onnxruntime or openvino"):
        check_runtime("tensorflow", "int8")
    with pytest.raises(ValueError, match="--runtime must be one of"):
        check_runtime("tvm", "fp32")
    assert model_file("tflite", "int8", Path("m")) == model_file("litert", "int8", Path("m")) == Path("m/int8.tflite")
    assert model_file("tensorflow", "fp32", Path("m")) is None


def row(runtime, precision, rate, cosine_min=1.0, accuracy=0.9):
    return {"runtime": runtime, "precision": precision, "images_per_second": rate, "layout": "1 process x 2 threads",
            "peak_rss_mb": 500.0, "first_result_seconds": 2.0, "convert_seconds": 10.0,
            "cosine_mean": 0.9999, "cosine_min": cosine_min, "accuracy": accuracy}


def test_fp32_agrees_by_cosine_and_int8_by_accuracy_within_one_point_of_todays_int8():
    rows = judge([row("tensorflow", "fp32", 20), row("openvino", "fp32", 40, cosine_min=0.998),
                  row("onnxruntime", "fp32", 30, cosine_min=0.9991),
                  row("tflite", "int8", 100, accuracy=0.90), row("litert", "int8", 110, accuracy=0.89),
                  row("openvino", "int8", 200, accuracy=0.8875), {"runtime": "onnxruntime", "precision": "int8", "error": "x"}])
    verdicts = {(r["runtime"], r["precision"]): r["agrees"] for r in rows}
    assert verdicts[("openvino", "fp32")] is False and verdicts[("onnxruntime", "fp32")] is True
    assert verdicts[("litert", "int8")] is True and verdicts[("openvino", "int8")] is False
    assert verdicts[("onnxruntime", "int8")] is None
    assert fastest(rows) == {"fp32": "onnxruntime", "int8": "litert"}


def test_int8_has_no_verdict_without_todays_int8_and_the_table_says_why_a_row_is_empty():
    assert agrees(row("litert", "int8", 1), None) is None
    rows = judge([row("tensorflow", "fp32", 20), {"runtime": "tflite", "precision": "int8", "error": "converter crashed"}])
    assert fastest(rows) == {"fp32": "tensorflow", "int8": None}
    table = markdown_table(rows).splitlines()
    assert len(table) == 4 and "reference" in table[2] and "not measured: converter crashed" in table[3]
    assert len({line.count("|") for line in table}) == 1
