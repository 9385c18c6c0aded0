"""The SparkApplication honours the contract with the job and the image, per environment."""

import pytest

from chartkit import versions

pytestmark = pytest.mark.chart

S3_KEY_VARS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def cpu(quantity) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def env_names(pod: dict) -> set[str]:
    return {e["name"] for e in pod.get("env", [])}


@pytest.fixture(scope="module")
def kind(rendered):
    return rendered["values-kind.yaml"]


@pytest.fixture(scope="module")
def eks(rendered):
    return rendered["values-eks.yaml"]


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_job_is_a_cluster_mode_python_app_from_the_image(rendered, values_file):
    spec = rendered[values_file].app_spec()
    assert (spec["type"], spec["mode"], spec["pythonVersion"]) == ("Python", "cluster", "3")
    assert spec["sparkVersion"] == versions()["SPARK_VERSION"]
    assert spec["mainApplicationFile"] == "local:///opt/fruits/app/main.py"
    assert spec["image"].endswith("fruits-pipeline:0.1.0")


def test_kind_arguments_follow_the_job_cli(kind):
    args = kind.app_spec()["arguments"]
    assert args == [
        "run", "--input", "s3a://fruits/input", "--output", "s3a://fruits/lake",
        "--model", "resnet50", "--weights", "random", "--precision", "fp32", "--pca-k", "8",
        "--batch-size", "16", "--files-per-partition", "256", "--keep-runs", "2", "--lock-wait", "600",
        "--resume", "auto",
    ]
    # The job's own parser takes them as they are.
    from fruits.cli import build_parser

    parsed = build_parser().parse_args(args)
    assert (parsed.pca_k, parsed.batch_size, parsed.lock_wait) == (8, 16, 600.0)
    assert (parsed.model, parsed.precision, parsed.files_per_partition, parsed.keep_runs) == ("resnet50", "fp32", 256, 2)
    assert parsed.incremental is False
    assert parsed.resume == "auto"


def test_variance_target_limit_and_pack_become_arguments(rendered):
    args = rendered["ci/ci-values.yaml"].app_spec()["arguments"]
    assert "--pca-k" not in args
    assert args[args.index("--pca-variance") + 1] == "0.9"
    assert args[args.index("--limit") + 1] == "100"
    from fruits.cli import build_parser

    assert build_parser().parse_args(args).pack == "s3a://lake/fruits-pack"
    assert "--pack" not in rendered["values-kind.yaml"].app_spec()["arguments"]


@pytest.mark.parametrize("values_file, bounds", [("values-kind.yaml", (1, 1, 3)), ("values-eks.yaml", (2, 1, 20))])
def test_dynamic_allocation_uses_shuffle_tracking(rendered, values_file, bounds):
    spec = rendered[values_file].app_spec()
    da = spec["dynamicAllocation"]
    assert da["enabled"] is True
    assert (da["initialExecutors"], da["minExecutors"], da["maxExecutors"]) == bounds
    assert spec["sparkConf"]["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    timeout = spec["sparkConf"]["spark.dynamicAllocation.shuffleTracking.timeout"]
    assert da["shuffleTrackingTimeout"] == int(timeout.rstrip("s")) * 1000


def test_driver_and_executors_run_under_accounts_of_their_own(rendered):
    for values_file, result in rendered.items():
        spec = result.app_spec()
        assert spec["driver"]["serviceAccount"] != spec["executor"]["serviceAccount"], values_file


def test_kind_reads_s3_keys_from_the_secret_on_driver_and_executors(kind):
    secret = kind.one("Secret", "fruits-pipeline-s3")
    assert set(secret["stringData"]) == S3_KEY_VARS
    spec = kind.app_spec()
    for role in ("driver", "executor"):
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in spec[role]["env"]
                if "secretKeyRef" in e.get("valueFrom", {}) and e["name"].startswith("AWS_")}
        assert set(refs) == S3_KEY_VARS, role
        assert {r["name"] for r in refs.values()} == {secret["metadata"]["name"]}, role


def test_kind_hadoop_conf_points_at_the_in_cluster_minio(kind):
    conf = kind.app_spec()["hadoopConf"]
    service = kind.one("Service", "minio")
    assert conf["fs.s3a.endpoint"] == f"http://minio.{service['metadata']['namespace']}.svc:9000"
    assert conf["fs.s3a.path.style.access"] == "true"
    assert conf["fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["fs.s3a.aws.credentials.provider"].endswith("EnvironmentVariableCredentialsProvider")


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_s3a_retries_like_production_and_sets_no_committer_it_cannot_use(rendered, values_file):
    """The job alone gives up after 2 attempts (a wrong endpoint fails in seconds); the cluster's
    runs retry as long as Hadoop's defaults. An S3A committer does nothing for Spark's Parquet
    without spark-hadoop-cloud, so none is named."""
    conf = rendered[values_file].app_spec()["hadoopConf"]
    assert int(conf["fs.s3a.attempts.maximum"]) >= 5 and int(conf["fs.s3a.retry.limit"]) >= 5
    assert int(conf["fs.s3a.retry.throttle.limit"]) >= 20
    assert not [key for key in conf if key.startswith("fs.s3a.committer")]


def test_eks_uses_irsa_and_no_keys(eks):
    spec = eks.app_spec()
    for role in ("driver", "executor"):
        assert not env_names(spec[role]) & S3_KEY_VARS, role
    assert not eks.of_kind("Secret") or all(
        "AWS_ACCESS_KEY_ID" not in s.get("stringData", {}) for s in eks.of_kind("Secret")
    )
    account = eks.one("ServiceAccount", spec["driver"]["serviceAccount"])
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    conf = spec["hadoopConf"]
    assert conf["fs.s3a.aws.credentials.provider"] == (
        "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider"
    )
    assert "fs.s3a.endpoint" not in conf
    assert all(uri.startswith("s3a://") for uri in (spec["arguments"][2], spec["arguments"][4]))
    assert not eks.of_kind("Deployment") or "minio" not in {d["metadata"]["name"] for d in eks.of_kind("Deployment")}


def test_restart_policy_is_on_failure_with_bounded_retries(rendered):
    for values_file, result in rendered.items():
        spec = result.app_spec()
        policy = spec["restartPolicy"]
        assert policy["type"] == "OnFailure", values_file
        assert 0 <= policy["onFailureRetries"] <= 10 and 0 <= policy["onSubmissionFailureRetries"] <= 10
        assert spec["timeToLiveSeconds"] > 0


def test_pods_run_as_non_root_without_privilege_escalation(rendered):
    for values_file, result in rendered.items():
        spec = result.app_spec()
        for role in ("driver", "executor"):
            assert spec[role]["podSecurityContext"]["runAsNonRoot"] is True, (values_file, role)
            assert spec[role]["podSecurityContext"]["runAsUser"] == 185, (values_file, role)
            assert spec[role]["securityContext"]["allowPrivilegeEscalation"] is False, (values_file, role)


def test_kind_fits_two_cpus(kind):
    """Driver + the most executors + MinIO + the operator request less than the machine's 2 CPUs."""
    spec = kind.app_spec()
    requested = cpu(spec["driver"]["coreRequest"])
    requested += spec["dynamicAllocation"]["maxExecutors"] * cpu(spec["executor"]["coreRequest"])
    for deployment in kind.of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            requested += cpu(container.get("resources", {}).get("requests", {}).get("cpu", 0))
    assert requested <= 1.6, f"kind requests {requested} CPUs; leave room on a 2-CPU node"
    for role in ("driver", "executor"):
        assert 0.2 <= cpu(spec[role]["coreRequest"]) <= 0.5


def test_metrics_placement_and_existing_secret_from_ci_values(rendered):
    result = rendered["ci/ci-values.yaml"]
    spec = result.app_spec()
    assert spec["sparkConf"]["spark.ui.prometheus.enabled"] == "true"
    assert "PrometheusServlet" in spec["sparkConf"]["spark.metrics.conf.*.sink.prometheusServlet.class"]
    assert spec["driver"]["annotations"]["prometheus.io/scrape"] == "true"
    for role in ("driver", "executor"):
        assert spec[role]["nodeSelector"] == {"workload": "spark", "kubernetes.io/arch": "amd64"}
        assert spec[role]["tolerations"][0]["key"] == "dedicated"
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in spec[role]["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert {refs[name] for name in S3_KEY_VARS} == {"lake-keys"}
        # The catalog's URI, password included, reaches the driver alone (test_chart_catalog.py).
        assert refs.get("FRUITS_CATALOG_URI") == ("lake-catalog" if role == "driver" else None)
    assert spec["executor"]["instances"] == 2 and spec["dynamicAllocation"]["enabled"] is False
    assert spec["hadoopConf"]["fs.s3a.connection.maximum"] == "64"
    assert not result.of_kind("Secret") and not result.of_kind("ServiceAccount") and not result.of_kind("Role")


def _denied_spark_conf_keys() -> set[str]:
    """The sparkConf keys the pinned operator's webhook refuses, read from its own source.

    The list is the operator's (internal/webhook/sparkconf_validator.go names constants of
    pkg/common), so a new pin brings its own list rather than one restated here.
    """
    import re

    from chartkit import module_dir

    operator = module_dir("github.com/kubeflow/spark-operator/v2", versions()["SPARK_OPERATOR_VERSION"])
    validator = operator / "internal" / "webhook" / "sparkconf_validator.go"
    if not validator.exists():
        pytest.fail(f"{validator.name} missing from the operator module: the pin predates 2.5.2")
    names = set(re.findall(r"common\.(\w+):", validator.read_text()))
    constants = {}
    for source in (operator / "pkg" / "common").glob("*.go"):
        constants.update(re.findall(r'^\s*(\w+)\s*=\s*"([^"]+)"', source.read_text(), flags=re.M))
    missing = names - constants.keys()
    assert not missing, f"constants not found in pkg/common: {sorted(missing)}"
    return {constants[name] for name in names}


def test_no_spark_conf_key_is_one_the_operator_webhook_denies(rendered):
    denied = _denied_spark_conf_keys()
    assert "spark.kubernetes.container.image" in denied  # the parse found the real list
    checked = 0
    for values_file, result in rendered.items():
        apps = [(a["metadata"], a["spec"]) for a in result.of_kind("SparkApplication")]
        apps += [(s["metadata"], s["spec"]["template"]) for s in result.of_kind("ScheduledSparkApplication")]
        for metadata, spec in apps:
            conf = spec.get("sparkConf") or {}
            assert not denied & conf.keys(), (values_file, sorted(denied & conf.keys()))
            # The webhook also refuses a namespace other than the application's own.
            assert conf.get("spark.kubernetes.namespace", metadata["namespace"]) == metadata["namespace"]
            checked += 1
    assert checked >= len(rendered)


def test_eks_runs_two_operator_webhooks_under_a_disruption_budget(eks):
    webhook = [d for d in eks.of_kind("Deployment") if d["metadata"]["name"].endswith("-webhook")]
    assert len(webhook) == 1 and webhook[0]["spec"]["replicas"] == 2
    budgets = [b for b in eks.of_kind("PodDisruptionBudget") if b["metadata"]["name"].endswith("-webhook-pdb")]
    assert len(budgets) == 1 and budgets[0]["spec"]["minAvailable"] == 1
