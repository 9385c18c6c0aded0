"""NOTES.txt tells how to follow the run and where the output lands.

`helm template` does not print NOTES.txt and `helm install --dry-run` needs a cluster, so the
tests render it through a copy of the chart where the notes are wrapped in a ConfigMap (the
`notes` fixture of conftest.py)."""

import pytest

from chartkit import NAMESPACE, RELEASE
from fruits.config.layout import LEGACY_POINTER, RUN_ARTIFACTS, TABLES

pytestmark = pytest.mark.chart


def test_kind_notes_name_the_app_the_output_minio_and_postgres(notes):
    text = notes("values-kind.yaml")
    assert f"kubectl -n {NAMESPACE} get sparkapplication {RELEASE} -w" in text
    assert f"kubectl -n {NAMESPACE} logs -f {RELEASE}-driver" in text
    assert "Output (s3a://fruits/lake)" in text
    assert f"http://minio.{NAMESPACE}.svc:9000" in text and "port-forward svc/minio 9000:9000" in text
    assert f"postgres.{NAMESPACE}.svc:5432" in text and "port-forward svc/postgres 5432:5432" in text
    assert "between 1 and 3" in text


def test_eks_notes_have_no_minio_and_point_at_metrics(notes):
    text = notes("values-eks.yaml")
    assert "MinIO" not in text and "PostgreSQL" not in text
    assert "/metrics/prometheus" in text
    assert "in the glue catalog" in text


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_notes_describe_the_output_as_two_tables_plus_runs(notes, values_file):
    text = notes(values_file)
    lines = [line.strip() for line in text.splitlines()]
    for table in TABLES:  # the tables the job commits (fruits.config.layout), by folder and catalog name
        assert any(line.startswith(f"{table}/") and f"table fruits.{table}:" in line for line in lines), table
    for artifact in RUN_ARTIFACTS:  # what every run writes beside them, folders with a slash
        assert f"runs/<id>/{artifact}/" in text or (f"runs/<id>/{artifact}" in text and "." in artifact), artifact
    assert "fruits.run-id" in text
    # The pointer file of the layout before the tables is gone.
    assert LEGACY_POINTER not in text
