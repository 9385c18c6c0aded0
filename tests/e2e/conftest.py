"""Tier 5 (e2e): a real kind cluster. Collected only under `make e2e`, which creates the cluster,
loads the images and sets FRUITS_E2E=1 and KUBECONFIG; a plain `make test` never sees these tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

if os.environ.get("FRUITS_E2E") != "1":
    # Nothing here runs outside `make e2e`: no cluster, no images.
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs the kind cluster that `make e2e` creates (tier 5)")


@pytest.fixture(scope="session")
def cluster():
    from kube import Cluster

    return Cluster.from_env()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed and "cluster" in getattr(item, "funcargs", {}):
        # What a human needs to see: operator logs, the driver's log tail, pods and events.
        try:
            report.sections.append(("cluster state at failure", item.funcargs["cluster"].diagnostics()))
        except Exception as exc:  # the cluster itself may be the problem
            report.sections.append(("cluster state at failure", f"could not collect: {exc!r}"))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    module = sys.modules.get("test_kind")
    if module is None:
        return
    terminalreporter.section("kind e2e summary")
    for line in module.pytest_terminal_summary_lines():
        terminalreporter.write_line(line)
    out = os.environ.get("FRUITS_E2E_SUMMARY")
    if out:
        import json

        Path(out).write_text(json.dumps(module.SUMMARY, indent=2, default=str))
