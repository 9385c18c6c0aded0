"""Every rendered object and every manifest validated offline, strictly, with kubeconform:
core kinds against the Kubernetes API schemas, the SparkApplication against its CRD."""

import re

import pytest

from chartkit import MANIFESTS, UNCHECKED_KINDS, VALUES_FILES, describe

pytestmark = pytest.mark.chart


def assert_valid(proc, unchecked=0):
    """Valid, with exactly `unchecked` objects skipped (those of conftest.UNCHECKED_KINDS)."""
    assert proc.returncode == 0, describe(proc)
    summary = re.search(r"Summary: (\d+) resources? found .* Invalid: (\d+), Errors: (\d+), Skipped: (\d+)", proc.stdout)
    assert summary, describe(proc)
    found, invalid, errors, skipped = map(int, summary.groups())
    assert found > 0 and (invalid, errors, skipped) == (0, 0, unchecked), describe(proc)


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_rendered_chart_is_valid(validate, rendered, values_file):
    result = rendered[values_file]
    assert_valid(validate(stdin=result.text), unchecked=sum(len(result.of_kind(k)) for k in UNCHECKED_KINDS))


def test_manifests_are_valid(validate):
    files = sorted(MANIFESTS.glob("*.yaml"))
    assert {f.name for f in files} >= {"namespace.yaml", "rbac.yaml", "sparkapp.yaml"}
    assert_valid(validate(*files))


def test_sparkapplication_schema_rejects_a_misspelt_field(validate):
    """The CRD schema is strict: a typo in the spec fails instead of being dropped."""
    text = (MANIFESTS / "sparkapp.yaml").read_text().replace("  timeToLiveSeconds:", "  timeToLiveSecond:")
    proc = validate(stdin=text)
    assert proc.returncode != 0 and "timeToLiveSecond" in proc.stdout, describe(proc)


def test_core_schema_rejects_a_wrong_type(validate):
    text = (MANIFESTS / "minio.yaml").read_text().replace("runAsNonRoot: true", "runAsNonRoot: yes-please")
    proc = validate(stdin=text)
    assert proc.returncode != 0 and "runAsNonRoot" in proc.stdout, describe(proc)
