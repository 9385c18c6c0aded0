"""NOTES.txt tells how to follow the run and where the output lands.

`helm template` does not print NOTES.txt and `helm install --dry-run` needs a cluster, so the
test renders it through a copy of the chart where the notes are wrapped in a ConfigMap."""

import shutil

import pytest

from chartkit import CHART, NAMESPACE, OPERATOR_NAMESPACE, RELEASE, need, run
from fruits.config.layout import POINTER, REQUIRED_ARTIFACTS

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")


@pytest.fixture(scope="module")
def notes(helm, chart_deps, tmp_path_factory):
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


def test_kind_notes_name_the_app_the_output_and_minio(notes):
    text = notes("values-kind.yaml")
    assert f"kubectl -n {NAMESPACE} get sparkapplication {RELEASE} -w" in text
    assert f"kubectl -n {NAMESPACE} logs -f {RELEASE}-driver" in text
    assert "Output (s3a://fruits/lake)" in text
    assert f"http://minio.{NAMESPACE}.svc:9000" in text and "port-forward svc/minio 9000:9000" in text
    assert "between 1 and 3" in text


def test_eks_notes_have_no_minio_and_point_at_metrics(notes):
    text = notes("values-eks.yaml")
    assert "MinIO" not in text
    assert "/metrics/prometheus" in text


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_notes_describe_the_output_as_current_plus_runs(notes, values_file):
    text = notes(values_file)
    assert POINTER in text
    for artifact in REQUIRED_ARTIFACTS:  # the names the job writes (fruits.config.schema), folders with a slash
        assert f"runs/<id>/{artifact}/" in text or (f"runs/<id>/{artifact}" in text and "." in artifact), artifact
    # Nothing at the top of the output but _CURRENT and runs/: no OUTPUT/features/.
    assert not [line for line in text.splitlines() if line.strip().startswith(("features/", "rejected/", "model/"))]
