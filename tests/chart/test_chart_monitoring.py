"""The PodMonitor: rendered only when asked, scraping the driver's two Prometheus endpoints."""

import pytest

from chartkit import NAMESPACE, describe

pytestmark = pytest.mark.chart


def test_eks_scrapes_driver_and_executor_metrics_on_the_driver(rendered):
    result = rendered["values-eks.yaml"]
    monitor = result.one("PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["namespace"] == NAMESPACE
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    driver_labels = result.app_spec()["driver"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= driver_labels.items()
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    # `spark-ui` is the name Spark gives the driver container's UI port, where the servlet answers.
    assert [(e["port"], e["path"]) for e in endpoints] == [
        ("spark-ui", "/metrics/prometheus"), ("spark-ui", "/metrics/executors/prometheus")]


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "ci/ci-values.yaml"])
def test_no_pod_monitor_unless_enabled(rendered, values_file):
    assert not rendered[values_file].of_kind("PodMonitor")


def test_a_pod_monitor_needs_the_metrics(template):
    proc = template("values-eks.yaml", "--set", "metrics.enabled=false")
    assert proc.returncode != 0 and "metrics.podMonitor.enabled needs metrics.enabled" in proc.stderr, describe(proc)
