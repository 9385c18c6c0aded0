"""Helpers of the chart tests (tier 4): paths, pins, running tools with readable failures.

A module of its own (not conftest.py) so that test files can import it by a unique name.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "bin"
CHART = ROOT / "charts" / "fruits-pipeline"
MANIFESTS = ROOT / "manifests"
RELEASE = "fruits-pipeline"
# The release (and the bundled operator) in the operator's own namespace; the job's objects in
# the chart's jobNamespace.
OPERATOR_NAMESPACE = "spark-operator"
NAMESPACE = "fruits"
# The values files the chart is rendered and validated with: one per environment plus CI extras.
VALUES_FILES = ["values-kind.yaml", "values-eks.yaml"] + sorted(
    f"ci/{p.name}" for p in (CHART / "ci").glob("*-values.yaml")
)

# Kinds of CRDs the chart may render whose schema is not at hand offline: the Prometheus
# Operator's PodMonitor (metrics.podMonitor). kubeconform skips them; the tests count the skips.
UNCHECKED_KINDS = ("PodMonitor",)


def need(module: str, package: str):
    """Import a Python test dependency, or skip naming the pip package that provides it."""
    return pytest.importorskip(module, reason=f"pip package {package} missing: `make install` (test extra)")


def versions() -> dict[str, str]:
    """versions.env as a dict (KEY=VALUE lines, comments skipped)."""
    pins = {}
    for line in (ROOT / "versions.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


def run(cmd: list[str], *, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command; on failure, fail the test with the command and the tail of its output."""
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs)
    if check and proc.returncode != 0:
        pytest.fail(describe(proc), pytrace=False)
    return proc


def describe(proc: subprocess.CompletedProcess) -> str:
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
    return f"$ {shlex.join(proc.args)}\nexit {proc.returncode}\n{tail}"


def tool(name: str, target: str) -> str:
    path = BIN / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} missing: run `make {target}`")
    return str(path)


def module_dir(module: str, version: str) -> Path:
    """Directory of a Go module version in the module cache (downloaded on first use)."""
    if not any(os.access(Path(d) / "go", os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("go is not on PATH: needed to fetch the Kubernetes and operator schemas")
    proc = run([str(ROOT / "hack" / "go-module-dir.sh"), f"{module}@{version}"])
    return Path(proc.stdout.strip())


def assert_restricted(pod_security: dict, container_security: dict, where) -> None:
    """The Pod Security `restricted` profile, where the pod or its container may state each rule."""
    def either(key):
        return container_security.get(key, pod_security.get(key))

    assert either("runAsNonRoot") is True, where
    assert (either("seccompProfile") or {}).get("type") == "RuntimeDefault", where
    assert container_security["allowPrivilegeEscalation"] is False, where
    assert container_security["capabilities"]["drop"] == ["ALL"], where
    assert container_security["readOnlyRootFilesystem"] is True, where
    assert not container_security.get("privileged"), where


@dataclass
class Rendered:
    """One `helm template` output: the values file and the objects, in order."""

    values_file: str
    text: str
    objects: list[dict]

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict:
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.values_file}: expected one {kind} {name or ''}, got {len(found)}"
        return found[0]

    def app_spec(self) -> dict:
        """The job's SparkApplication spec: the one-off application's, else (a schedule alone, as
        values-eks.yaml renders) the ScheduledSparkApplication's template, which shares it."""
        if self.of_kind("SparkApplication"):
            return self.one("SparkApplication")["spec"]
        return self.one("ScheduledSparkApplication")["spec"]["template"]
