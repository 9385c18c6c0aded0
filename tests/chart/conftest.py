"""Fixtures of the chart tests (tier 4): pinned tools from bin/, rendered chart, offline schemas.

Everything here is static: nothing talks to a cluster. The tools are built by `make chart-tools`
and the operator chart is packaged by `make chart-deps` (both prerequisites of `make test`); a
test skips, saying which target to run, only when one of them is truly missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chartkit import CHART, OPERATOR_NAMESPACE, RELEASE, ROOT, UNCHECKED_KINDS, VALUES_FILES, Rendered, describe, module_dir, need, run, tool, versions

sys.path.insert(0, str(ROOT / "hack"))
import kube_schemas  # noqa: E402  (hack/ is not a package)


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm", "chart-tools")


@pytest.fixture(scope="session")
def kubeconform() -> str:
    return tool("kubeconform", "chart-tools")


@pytest.fixture(scope="session")
def chart_deps() -> Path:
    pin = versions()["SPARK_OPERATOR_VERSION"].lstrip("v")
    tgz = CHART / "charts" / f"spark-operator-{pin}.tgz"
    if not tgz.exists():
        pytest.skip(f"{tgz.relative_to(ROOT)} missing: run `make chart-deps`")
    return tgz


@pytest.fixture(scope="session")
def template(helm: str, chart_deps: Path):
    """template(values_file, *extra_args) -> CompletedProcess of `helm template` (not checked)."""

    def _template(values_file: str | None, *extra: str) -> subprocess.CompletedProcess:
        cmd = [helm, "template", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE]
        if values_file:
            cmd += ["--values", str(CHART / values_file)]
        return run(cmd + list(extra), check=False)

    return _template


@pytest.fixture(scope="session")
def rendered(template) -> dict[str, Rendered]:
    """Every values file rendered once per session, keyed by values file name."""
    yaml = need("yaml", "pyyaml")
    out = {}
    for values_file in VALUES_FILES:
        proc = template(values_file)
        if proc.returncode != 0:
            pytest.fail(describe(proc), pytrace=False)
        objects = [o for o in yaml.safe_load_all(proc.stdout) if o]
        out[values_file] = Rendered(values_file, proc.stdout, objects)
    return out


@pytest.fixture(scope="session")
def schema_dir(tmp_path_factory) -> Path:
    """kubeconform schemas for core kinds (k8s.io/kubernetes swagger) and the operator's CRDs."""
    yaml = need("yaml", "pyyaml")
    pins = versions()
    kubernetes = module_dir("k8s.io/kubernetes", pins["KUBERNETES_VERSION"])
    operator = module_dir("github.com/kubeflow/spark-operator/v2", pins["SPARK_OPERATOR_VERSION"])
    out = tmp_path_factory.mktemp("kube-schemas")
    swagger = json.loads((kubernetes / "api" / "openapi-spec" / "swagger.json").read_text())
    kube_schemas.write(out, kube_schemas.from_swagger(swagger))
    for crd in sorted((operator / "config" / "crd" / "bases").glob("*.yaml")):
        kube_schemas.write(out, kube_schemas.from_crd(yaml.safe_load(crd.read_text())))
    return out


@pytest.fixture(scope="session")
def validate(kubeconform: str, schema_dir: Path):
    """validate(paths_or_text) -> kubeconform's result, strict; no schema may be missing but those
    of UNCHECKED_KINDS, which are skipped."""

    def _validate(*paths: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
        cmd = [
            kubeconform, "-strict", "-summary", "-output", "text", "-skip", ",".join(UNCHECKED_KINDS),
            "-schema-location", f"{schema_dir}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        ]
        cmd += [str(p) for p in paths] or ["-"]
        return run(cmd, check=False, input=stdin)

    return _validate


@pytest.fixture(scope="session")
def notes(helm: str, chart_deps: Path, tmp_path_factory):
    """notes(values_file) -> NOTES.txt as `helm install` prints it. `helm template` does not print
    it and `helm install --dry-run` needs a cluster, so it is rendered through a copy of the chart
    where the notes are wrapped in a ConfigMap."""
    yaml = need("yaml", "pyyaml")

    def _notes(values_file: str) -> str:
        chart = tmp_path_factory.mktemp("notes") / CHART.name
        shutil.copytree(CHART, chart)
        text = (chart / "templates" / "NOTES.txt").read_text()
        (chart / "templates" / "zz-notes.yaml").write_text(
            '{{- define "notes-under-test" }}' + text + "{{- end }}\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\n"
            'data:\n  notes: {{ include "notes-under-test" . | quote }}\n'
        )
        proc = run([helm, "template", RELEASE, str(chart), "--namespace", OPERATOR_NAMESPACE,
                    "--values", str(CHART / values_file), "--show-only", "templates/zz-notes.yaml"])
        return yaml.safe_load(proc.stdout)["data"]["notes"]

    return _notes
