"""helm lint with every values file, and the operator dependency pinned like its Go module."""

import pytest

from chartkit import CHART, VALUES_FILES, need, run, versions

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_lint_strict_passes(helm, chart_deps, values_file):
    run([helm, "lint", "--strict", str(CHART), "--values", str(CHART / values_file)])


def test_spark_operator_dependency_is_pinned_to_the_go_module_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    (dep,) = [d for d in chart["dependencies"] if d["name"] == "spark-operator"]
    assert dep["version"] == versions()["SPARK_OPERATOR_VERSION"].lstrip("v")
    assert dep["repository"] == "https://kubeflow.github.io/spark-operator"
    assert dep["condition"] == "spark-operator.enabled"


def test_packaged_operator_chart_matches_the_pin(helm, chart_deps):
    shown = yaml.safe_load(run([helm, "show", "chart", str(chart_deps)]).stdout)
    assert (shown["name"], shown["version"]) == (
        "spark-operator",
        versions()["SPARK_OPERATOR_VERSION"].lstrip("v"),
    )
