"""Bad values are refused before anything is installed, with a message naming the value.

One case per rule of values.schema.json, and per cross-field rule the templates check with
`fail` (JSON Schema cannot compare two values). Each case: the values file it starts from, the
override, and the message helm must print."""

import pytest

from chartkit import describe

pytestmark = pytest.mark.chart

DA = "dynamicAllocation"
RULES = {
    "defaults_alone_lack_input_and_output": (None, [], ["at '/job/input'", "at '/job/output'"]),
    "missing_output_uri": ("values-kind.yaml", ["--set", "job.output=null"], ["at '/job': missing property 'output'"]),
    "empty_output_uri": ("values-kind.yaml", ["--set", "job.output="], ["at '/job/output': minLength: got 0, want 1"]),
    "output_without_scheme": (
        "values-kind.yaml", ["--set", "job.output=/tmp/lake"], ["at '/job/output': '/tmp/lake' does not match pattern"],
    ),
    "empty_image_repository": (
        "values-kind.yaml", ["--set", "image.repository="], ["at '/image/repository': minLength: got 0, want 1"],
    ),
    "eks_without_role_arn": (
        "values-eks.yaml", ["--set", "serviceAccount.roleArn="],
        ["at '/serviceAccount/roleArn': '' does not match pattern '^arn:aws"],
    ),
    "eks_with_malformed_role_arn": (
        "values-eks.yaml", ["--set", "serviceAccount.roleArn=fruits-role"],
        ["at '/serviceAccount/roleArn': 'fruits-role' does not match pattern"],
    ),
    "minio_on_eks": ("values-eks.yaml", ["--set", "minio.enabled=true"], ["at '/minio/enabled': value must be false"]),
    "created_secret_without_secret_key": (
        "values-kind.yaml", ["--set", "s3.credentials.secretAccessKey="],
        ["at '/s3/credentials/secretAccessKey': minLength: got 0, want 1"],
    ),
    "max_executors_below_min_executors": (
        "values-kind.yaml", ["--set", f"{DA}.minExecutors=3,{DA}.initialExecutors=3,{DA}.maxExecutors=2"],
        [f"{DA}.maxExecutors (2) must be >= {DA}.minExecutors (3)"],
    ),
    "initial_executors_outside_bounds": (
        "values-kind.yaml", ["--set", f"{DA}.initialExecutors=5"],
        [f"{DA}.initialExecutors (5) must lie between minExecutors (1) and maxExecutors (3)"],
    ),
    "both_pca_k_and_variance": (
        "values-kind.yaml", ["--set-json", "job.pcaVariance=0.9"],
        ["set exactly one of job.pcaK (8) and job.pcaVariance (0.9) above 0"],
    ),
    "operator_in_the_job_namespace": (
        "values-kind.yaml", ["--set", "jobNamespace=spark-operator"],
        ['the bundled spark-operator must not share the job\'s namespace "spark-operator"'],
    ),
    "operator_not_watching_the_job_namespace": (
        "values-kind.yaml", ["--set", "spark-operator.spark.jobNamespaces={other}"],
        ['spark-operator.spark.jobNamespaces ([other]) must list the job\'s namespace "fruits"'],
    ),
    "operator_watching_every_namespace": (
        "values-kind.yaml", ["--set-json", 'spark-operator.spark.jobNamespaces=[""]'],
        ["at '/spark-operator/spark/jobNamespaces/0': minLength: got 0, want 1"],
    ),
    "minio_root_user_is_the_job_key": (
        "values-kind.yaml", ["--set", "minio.rootUser=fruits-kind"],
        ["minio.rootUser must differ from s3.credentials.accessKeyId"],
    ),
    "minio_without_root_password": (
        "values-kind.yaml", ["--set", "minio.rootPassword=short"],
        ["at '/minio/rootPassword': minLength: got 5, want 8"],
    ),
    "history_server_without_event_log_dir": (
        "values-kind.yaml", ["--set", "historyServer.enabled=true"], ["at '/eventLog/dir': minLength: got 0, want 1"],
    ),
    "event_log_without_dir": (
        "values-kind.yaml", ["--set", "eventLog.enabled=true"], ["at '/eventLog/dir': minLength: got 0, want 1"],
    ),
    "postgres_on_eks": (
        "values-eks.yaml", ["--set", "catalog.kind=sql,catalog.postgres.enabled=true,catalog.postgres.password=long-enough"],
        ["at '/catalog/postgres/enabled': value must be false"],
    ),
    "postgres_without_password": (
        "values-kind.yaml", ["--set", "catalog.postgres.password=short"], ["at '/catalog/postgres/password': minLength: got 5, want 8"],
    ),
    "postgres_for_a_glue_catalog": (
        "values-kind.yaml", ["--set", "catalog.kind=glue"], ['catalog.postgres.enabled runs an sql catalog, but catalog.kind is "glue"'],
    ),
    "rest_catalog_without_endpoint": (
        "values-eks.yaml", ["--set", "catalog.kind=rest"], ["catalog.kind rest needs its endpoint in catalog.uri"],
    ),
    "s3_output_without_a_catalog": (
        "values-kind.yaml", ["--set", "catalog.postgres.enabled=false"],
        ["job.output s3a://fruits/lake is on S3, where the job needs a catalog every run reaches"],
    ),
    "neither_pca_k_nor_variance": (
        "values-kind.yaml", ["--set", "job.pcaK=0"], ["set exactly one of job.pcaK (0) and job.pcaVariance (0) above 0"],
    ),
}
# Types and ranges: (override for --set-json, message), all starting from values-kind.yaml.
RANGES = {
    "variance_above_one": ("job.pcaVariance=1.5", "at '/job/pcaVariance': maximum: got 1.5, want 1"),
    "pca_k_above_features": ("job.pcaK=4096", "at '/job/pcaK': maximum: got 4,096, want 2,048"),
    "zero_batch_size": ("job.batchSize=0", "at '/job/batchSize': minimum: got 0, want 1"),
    "zero_executor_cores": ("executor.cores=0", "at '/executor/cores': minimum: got 0, want 1"),
    "memory_not_a_spark_size": ('executor.memory="3 GB"', "at '/executor/memory': '3 GB' does not match pattern"),
    "unknown_target": ('target="gke"', "at '/target': value must be one of 'kind', 'eks'"),
    "unknown_pull_policy": ('image.pullPolicy="Sometimes"', "at '/image/pullPolicy': value must be one of"),
    "unknown_model": ('job.model="resnet18"', "at '/job/model': value must be one of 'resnet50', 'efficientnet-lite0'"),
    "zero_files_per_partition": ("job.filesPerPartition=0", "at '/job/filesPerPartition': minimum: got 0, want 1"),
    "zero_keep_runs": ("job.keepRuns=0", "at '/job/keepRuns': minimum: got 0, want 1"),
    "resume_neither_auto_nor_a_run_id": ('job.resume="latest"', "at '/job/resume': 'latest' does not match pattern"),
    "digest_not_sha256": ('image.digest="latest"', "at '/image/digest': 'latest' does not match pattern"),
    "writable_dir_not_absolute": ('writableDirs={"cache":"cache"}', "at '/writableDirs/cache': 'cache' does not match pattern"),
    "grace_shorter_than_the_decom_margin": (
        "executor.terminationGracePeriodSeconds=30", "at '/executor/terminationGracePeriodSeconds': minimum: got 30, want 31",
    ),
    "pod_running_as_root_allowed": ("podSecurityContext.runAsNonRoot=false", "at '/podSecurityContext/runAsNonRoot': value must be true"),
    "unknown_batch_scheduler": ('batchScheduler.name="kueue"', "at '/batchScheduler/name': value must be one of 'none', 'volcano', 'yunikorn'"),
    "cron_with_three_fields": ('schedule.cron="0 3 *"', "at '/schedule/cron': '0 3 *' does not match pattern"),
    "unknown_catalog": ('catalog.kind="hive"', "at '/catalog/kind': value must be one of 'sql', 'glue', 'rest'"),
    "catalog_namespace_with_a_dot": ('catalog.namespace="lake.prod"', "at '/catalog/namespace': 'lake.prod' does not match pattern"),
    "postgres_user_not_a_plain_name": ('catalog.postgres.user="Fruits User"', "at '/catalog/postgres/user': 'Fruits User' does not match pattern"),
    "misspelt_key": (f"{DA}.maxExecutor=3", f"at '/{DA}': additional properties 'maxExecutor' not allowed"),
}


def assert_refused(template, values_file, args, expected):
    proc = template(values_file, *args)
    assert proc.returncode != 0, f"helm accepted bad values:\n{describe(proc)}"
    for message in expected:
        assert message in proc.stderr, f"expected {message!r} in:\n{describe(proc)}"


@pytest.mark.parametrize("rule", RULES)
def test_rule_refuses_bad_values_with_a_clear_message(template, rule):
    assert_refused(template, *RULES[rule])


@pytest.mark.parametrize("case", RANGES)
def test_wrong_types_ranges_and_unknown_keys_are_refused(template, case):
    setting, message = RANGES[case]
    assert_refused(template, "values-kind.yaml", ["--set-json", setting], [message])


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_environment_values_are_accepted(template, values_file):
    proc = template(values_file)
    assert proc.returncode == 0, describe(proc)
