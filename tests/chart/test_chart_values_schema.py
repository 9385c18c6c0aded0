"""Bad values are refused before anything is installed, with a message naming the value.

One test per rule of values.schema.json, and per cross-field rule the templates check (JSON
Schema cannot compare two values)."""

import pytest

from chartkit import describe

pytestmark = pytest.mark.chart


def refused(template, values_file, *args) -> str:
    proc = template(values_file, *args)
    assert proc.returncode != 0, f"helm accepted bad values:\n{describe(proc)}"
    return proc.stderr


def test_defaults_alone_are_refused_for_want_of_input_and_output(template):
    message = refused(template, None)
    assert "at '/job/input'" in message and "at '/job/output'" in message


def test_missing_output_uri_is_refused(template):
    message = refused(template, "values-kind.yaml", "--set", "job.output=null")
    assert "at '/job': missing property 'output'" in message


def test_empty_output_uri_is_refused(template):
    assert "at '/job/output': minLength: got 0, want 1" in refused(template, "values-kind.yaml", "--set", "job.output=")


def test_output_without_a_scheme_is_refused(template):
    message = refused(template, "values-kind.yaml", "--set", "job.output=/tmp/lake")
    assert "at '/job/output': '/tmp/lake' does not match pattern" in message


def test_empty_image_repository_is_refused(template):
    message = refused(template, "values-kind.yaml", "--set", "image.repository=")
    assert "at '/image/repository': minLength: got 0, want 1" in message


def test_eks_without_role_arn_is_refused(template):
    message = refused(template, "values-eks.yaml", "--set", "serviceAccount.roleArn=")
    assert "at '/serviceAccount/roleArn': '' does not match pattern '^arn:aws" in message


def test_eks_with_a_malformed_role_arn_is_refused(template):
    message = refused(template, "values-eks.yaml", "--set", "serviceAccount.roleArn=fruits-role")
    assert "at '/serviceAccount/roleArn': 'fruits-role' does not match pattern" in message


def test_minio_on_eks_is_refused(template):
    message = refused(template, "values-eks.yaml", "--set", "minio.enabled=true")
    assert "at '/minio/enabled': value must be false" in message


def test_max_executors_below_min_executors_is_refused(template):
    message = refused(
        template, "values-kind.yaml", "--set",
        "dynamicAllocation.minExecutors=3,dynamicAllocation.initialExecutors=3,dynamicAllocation.maxExecutors=2",
    )
    assert "dynamicAllocation.maxExecutors (2) must be >= dynamicAllocation.minExecutors (3)" in message


def test_initial_executors_outside_the_bounds_is_refused(template):
    message = refused(template, "values-kind.yaml", "--set", "dynamicAllocation.initialExecutors=5")
    assert "dynamicAllocation.initialExecutors (5) must lie between minExecutors (1) and maxExecutors (3)" in message


def test_both_pca_k_and_variance_are_refused(template):
    message = refused(template, "values-kind.yaml", "--set-json", "job.pcaVariance=0.9")
    assert "set exactly one of job.pcaK (8) and job.pcaVariance (0.9) above 0" in message


def test_neither_pca_k_nor_variance_is_refused(template):
    message = refused(template, "values-kind.yaml", "--set", "job.pcaK=0")
    assert "set exactly one of job.pcaK (0) and job.pcaVariance (0) above 0" in message


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("job.pcaVariance=1.5", "at '/job/pcaVariance': maximum: got 1.5, want 1"),
        ("job.pcaK=4096", "at '/job/pcaK': maximum: got 4,096, want 2,048"),
        ("job.batchSize=0", "at '/job/batchSize': minimum: got 0, want 1"),
        ("executor.cores=0", "at '/executor/cores': minimum: got 0, want 1"),
        ('executor.memory="3 GB"', "at '/executor/memory': '3 GB' does not match pattern"),
        ('target="gke"', "at '/target': value must be one of 'kind', 'eks'"),
        ('image.pullPolicy="Sometimes"', "at '/image/pullPolicy': value must be one of"),
        ("dynamicAllocation.maxExecutor=3", "at '/dynamicAllocation': additional properties 'maxExecutor' not allowed"),
    ],
)
def test_wrong_types_ranges_and_unknown_keys_are_refused(template, setting, expected):
    assert expected in refused(template, "values-kind.yaml", "--set-json", setting)


def test_created_secret_needs_both_keys(template):
    message = refused(template, "values-kind.yaml", "--set", "s3.credentials.secretAccessKey=")
    assert "at '/s3/credentials/secretAccessKey': minLength: got 0, want 1" in message
