"""The example notebook, executed headless as a reader would run it: every cell, no error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "fruits.ipynb"


def test_the_committed_notebook_carries_no_outputs():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_notebook_runs_from_sample_to_test_accuracy(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for key in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "FRUITS_REMOTE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRUITS_EXAMPLE_WORK", str(tmp_path))
    monkeypatch.setenv("FRUITS_EXAMPLE_CLASSES", "4")
    monkeypatch.setenv("FRUITS_EXAMPLE_PER_CLASS", "10")
    monkeypatch.setenv("FRUITS_DRIVER_MEMORY", "1g")
    # Raises CellExecutionError, with the cell and its traceback, on the first cell that fails.
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    text = "\n".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    found = re.search(r"Test accuracy: ([0-9.]+) on (\d+) images of 4 classes", text)
    assert found, f"no accuracy line in the notebook's output:\n{text[-2000:]}"
    assert 0.0 <= float(found.group(1)) <= 1.0 and int(found.group(2)) > 0
    assert (tmp_path / "pca_2d.png").stat().st_size > 0 and (tmp_path / "variance.png").stat().st_size > 0
    assert (tmp_path / "out" / "features" / "metadata").is_dir()
