"""The version is written once (pyproject.toml) and read everywhere else."""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from fruits import DISTRIBUTION, __version__

CHART = Path(__file__).resolve().parents[2] / "charts" / "fruits-pipeline" / "Chart.yaml"


def test_version_is_the_installed_distributions():
    assert __version__ == version(DISTRIBUTION)


def test_chart_app_version_is_the_package_version():
    chart = yaml.safe_load(CHART.read_text(encoding="utf-8"))
    assert chart["appVersion"] == __version__, f"set appVersion in {CHART} to {__version__!r} (pyproject.toml's version)"


def test_an_uninstalled_source_tree_still_imports_with_a_placeholder_version():
    code = ("import importlib.metadata as m\n"
            "def missing(name):\n"
            "    raise m.PackageNotFoundError(name)\n"
            "m.version = missing\n"
            "import fruits\n"
            "print(fruits.__version__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0+unknown"
