"""The optional features, each from the values file that turns it on: batch scheduling, EKS Pod
Identity, event logs with a History Server, spot-safe placement and decommissioning, scheduled
incremental runs."""

import pytest

from chartkit import NAMESPACE, assert_restricted, describe, need

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

SCHEDULED = "ci/scheduled-values.yaml"
POD_IDENTITY = "ci/pod-identity-values.yaml"


def app_spec(result) -> dict:
    return result.app_spec()


# -- batch scheduling ---------------------------------------------------------------------------

def test_batch_scheduler_queue_and_priority_reach_the_application(rendered):
    spec = app_spec(rendered[SCHEDULED])
    assert spec["batchScheduler"] == "volcano"
    assert spec["batchSchedulerOptions"] == {"queue": "spark", "priorityClassName": "batch-low"}
    assert spec["driver"]["priorityClassName"] == spec["executor"]["priorityClassName"] == "batch-low"


def test_yunikorn_is_a_choice_and_none_leaves_the_default_scheduler(rendered, template):
    proc = template("values-kind.yaml", "--set", "batchScheduler.name=yunikorn", "--set", "batchScheduler.queue=root.spark",
                    "--show-only", "templates/spark/sparkapplication.yaml")
    assert proc.returncode == 0, proc.stderr
    spec = yaml.safe_load(proc.stdout)["spec"]
    assert (spec["batchScheduler"], spec["batchSchedulerOptions"]) == ("yunikorn", {"queue": "root.spark"})
    spec = app_spec(rendered["values-kind.yaml"])
    assert "batchScheduler" not in spec and "priorityClassName" not in spec["driver"]


# -- EKS Pod Identity ---------------------------------------------------------------------------

def test_pod_identity_needs_no_role_and_uses_container_credentials(rendered):
    result = rendered[POD_IDENTITY]
    spec = app_spec(result)
    assert spec["hadoopConf"]["fs.s3a.aws.credentials.provider"] == (
        "software.amazon.awssdk.auth.credentials.ContainerCredentialsProvider")
    for account in result.of_kind("ServiceAccount"):
        assert "eks.amazonaws.com/role-arn" not in account["metadata"].get("annotations", {}), account["metadata"]["name"]
    assert not {e["name"] for role in ("driver", "executor") for e in spec[role]["env"]} & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    policy = result.one("NetworkPolicy", "fruits-pipeline-executor")
    agent = [r for r in policy["spec"]["egress"] if {"ipBlock": {"cidr": "169.254.170.23/32"}} in r.get("to", [])]
    assert agent and agent[0]["ports"] == [{"protocol": "TCP", "port": 80}]
    assert policy["spec"]["egress"][-1]["to"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]


def test_irsa_still_needs_a_role_and_reaches_no_agent(rendered, template):
    for policy in rendered["values-eks.yaml"].of_kind("NetworkPolicy"):
        assert not [r for r in policy["spec"]["egress"] if {"ipBlock": {"cidr": "169.254.170.23/32"}} in r.get("to", [])]
    proc = template(POD_IDENTITY, "--set", "serviceAccount.awsIdentity=irsa")
    assert proc.returncode != 0 and "at '/serviceAccount/roleArn': '' does not match pattern '^arn:aws" in proc.stderr, proc.stderr


# -- event logs and the History Server ----------------------------------------------------------

def test_event_logs_roll_over_into_the_configured_folder(rendered):
    conf = app_spec(rendered[POD_IDENTITY])["sparkConf"]
    assert conf["spark.eventLog.enabled"] == "true" and conf["spark.eventLog.rolling.enabled"] == "true"
    assert conf["spark.eventLog.dir"] == "s3a://lake/spark-events/"
    assert conf["spark.eventLog.rolling.maxFileSize"] == "64m"
    assert "spark.eventLog.enabled" not in app_spec(rendered["values-kind.yaml"])["sparkConf"]


@pytest.mark.parametrize("values_file", [POD_IDENTITY, "values-eks.yaml"])
def test_history_server_reads_the_event_logs_as_a_restricted_pod(rendered, values_file):
    result = rendered[values_file]
    spec = app_spec(result)
    deployment = result.one("Deployment", "fruits-pipeline-history")
    assert deployment["metadata"]["namespace"] == NAMESPACE
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == spec["image"]
    assert container["args"] == ["/opt/spark/bin/spark-class", "org.apache.spark.deploy.history.HistoryServer"]
    opts = {e["name"]: e.get("value") for e in container["env"]}["SPARK_HISTORY_OPTS"].split()
    assert f"-Dspark.history.fs.logDirectory={spec['sparkConf']['spark.eventLog.dir']}" in opts
    provider = spec["hadoopConf"]["fs.s3a.aws.credentials.provider"]
    assert f"-Dspark.hadoop.fs.s3a.aws.credentials.provider={provider}" in opts
    # Its own account: S3 through IRSA or Pod Identity, no API rights, no token.
    assert pod["serviceAccountName"] == "fruits-pipeline-history" and pod["automountServiceAccountToken"] is False
    account = result.one("ServiceAccount", "fruits-pipeline-history")
    assert account["automountServiceAccountToken"] is False
    assert not [b for b in result.of_kind("RoleBinding") + result.of_kind("ClusterRoleBinding")
                if any(s.get("name") == "fruits-pipeline-history" for s in b.get("subjects", []))]
    assert_restricted(pod["securityContext"], container["securityContext"], "history server")
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    service = result.one("Service", "fruits-pipeline-history")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["port"] == container["ports"][0]["containerPort"] == 18080


def test_each_account_has_its_own_iam_role_on_eks(rendered):
    roles = {a["metadata"]["name"]: a["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
             for a in rendered["values-eks.yaml"].of_kind("ServiceAccount") if a["metadata"]["namespace"] == NAMESPACE}
    assert roles == {"fruits-pipeline-driver": "arn:aws:iam::111122223333:role/fruits-pipeline-driver",
                     "fruits-pipeline-executor": "arn:aws:iam::111122223333:role/fruits-pipeline-executor",
                     "fruits-pipeline-history": "arn:aws:iam::111122223333:role/fruits-pipeline-history"}


def test_an_account_without_its_own_role_falls_back_to_the_drivers(template):
    proc = template("values-eks.yaml", "--set", "serviceAccount.executorRoleArn=", "--set", "serviceAccount.historyRoleArn=",
                    "--show-only", "templates/rbac/serviceaccount.yaml")
    assert proc.returncode == 0, describe(proc)
    roles = {a["metadata"]["name"]: a["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for a in yaml.safe_load_all(proc.stdout) if a}
    assert set(roles.values()) == {"arn:aws:iam::111122223333:role/fruits-pipeline-driver"} and len(roles) == 3


def test_a_role_that_is_not_an_arn_is_refused(template):
    proc = template("values-eks.yaml", "--set", "serviceAccount.executorRoleArn=fruits-executor")
    assert proc.returncode != 0 and "executorRoleArn" in proc.stderr, describe(proc)


# -- spot-safe executors --------------------------------------------------------------------------

def test_a_drain_waits_for_the_running_driver_on_eks(rendered):
    result = rendered["values-eks.yaml"]
    (pdb,) = [p for p in result.of_kind("PodDisruptionBudget") if p["metadata"]["name"] == "fruits-pipeline-driver"]
    assert pdb["metadata"]["namespace"] == NAMESPACE and pdb["spec"]["maxUnavailable"] == 0
    selector = pdb["spec"]["selector"]["matchLabels"]
    for spec in [app_spec(result)] + [o["spec"]["template"] for o in result.of_kind("ScheduledSparkApplication")]:
        assert selector.items() <= spec["driver"]["labels"].items(), "the budget misses the driver"
        assert not selector.items() <= spec["executor"]["labels"].items(), "the budget holds executors too"
    assert not [p for p in rendered["values-kind.yaml"].of_kind("PodDisruptionBudget") if p["metadata"]["name"] == "fruits-pipeline-driver"]


def test_the_driver_can_have_a_priority_class_of_its_own(template):
    proc = template("values-eks.yaml", "--set", "job.runOnce=true", "--set", "priorityClassName=batch-low",
                    "--set", "driver.priorityClassName=run-critical",
                    "--show-only", "templates/spark/sparkapplication.yaml")
    assert proc.returncode == 0, describe(proc)
    spec = yaml.safe_load(proc.stdout)["spec"]
    assert (spec["driver"]["priorityClassName"], spec["executor"]["priorityClassName"]) == ("run-critical", "batch-low")


def test_driver_stays_on_demand_and_executors_prefer_spot_with_on_demand_fallback(rendered):
    """Spot is a preference of the executors, not a requirement: with no spot capacity left they go
    on on-demand nodes (Karpenter relaxes preferences) instead of staying Pending for ever."""
    spec = app_spec(rendered["values-eks.yaml"])
    driver, executor = spec["driver"], spec["executor"]
    assert driver["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "karpenter.sh/capacity-type": "on-demand"}
    assert driver["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
    assert "affinity" not in driver
    assert executor["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    node_affinity = executor["affinity"]["nodeAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in node_affinity
    (preferred,) = node_affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["weight"] == 100
    assert preferred["preference"]["matchExpressions"] == [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]
    assert "karpenter.sh/do-not-disrupt" not in executor.get("annotations", {})


def test_role_placement_adds_to_the_shared_one(rendered):
    spec = app_spec(rendered[POD_IDENTITY])
    assert spec["executor"]["tolerations"] == [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]
    assert "podAntiAffinity" in spec["executor"]["affinity"] and "affinity" not in spec["driver"]
    assert "tolerations" not in spec["driver"]


@pytest.mark.parametrize("values_file, grace", [("values-eks.yaml", 630), ("values-kind.yaml", 90), (POD_IDENTITY, 150)])
def test_executors_have_time_to_decommission(rendered, values_file, grace):
    spec = app_spec(rendered[values_file])
    conf = spec["sparkConf"]
    for key in ("spark.decommission.enabled", "spark.storage.decommission.enabled",
                "spark.storage.decommission.shuffleBlocks.enabled", "spark.storage.decommission.rddBlocks.enabled"):
        assert conf[key] == "true", key
    assert spec["executor"]["terminationGracePeriodSeconds"] == grace
    # /opt/decom.sh waits for the migration, leaving 30 s of the grace period.
    env = {e["name"]: e.get("value") for e in spec["executor"]["env"]}
    assert int(env["DECOM_TIMEOUT_S"]) == grace - 30
    assert "terminationGracePeriodSeconds" not in spec["driver"]


def test_fallback_storage_is_set_when_given(rendered):
    conf = app_spec(rendered[POD_IDENTITY])["sparkConf"]
    assert conf["spark.storage.decommission.fallbackStorage.path"] == "s3a://lake/spark-fallback/"


# -- scheduled incremental runs -----------------------------------------------------------------

def test_scheduled_application_runs_the_same_job_incrementally(rendered):
    result = rendered[SCHEDULED]
    scheduled = result.one("ScheduledSparkApplication")
    spec = scheduled["spec"]
    assert scheduled["metadata"]["namespace"] == NAMESPACE
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("30 2 * * *", "Europe/Paris", "Forbid")
    assert (spec["successfulRunHistoryLimit"], spec["failedRunHistoryLimit"], spec["suspend"]) == (5, 2, False)
    template, once = spec["template"], app_spec(result)
    assert "--incremental" in template["arguments"] and "--incremental" not in once["arguments"]
    assert [a for a in template["arguments"] if a != "--incremental"] == once["arguments"]
    assert {k: v for k, v in template.items() if k != "arguments"} == {k: v for k, v in once.items() if k != "arguments"}
    assert template["image"] == "registry.example/fruits-pipeline@sha256:" + "0123456789abcdef" * 4


def test_int8_runs_may_be_incremental_and_scheduled(template):
    """An int8 lake's later runs reuse its first run's int8 model, so the chart lets them be incremental."""
    proc = template("values-kind.yaml", "--set", "job.precision=int8,job.incremental=true,schedule.enabled=true,job.runOnce=true")
    assert proc.returncode == 0, describe(proc)
    objects = [o for o in yaml.safe_load_all(proc.stdout) if o]
    once = next(o for o in objects if o["kind"] == "SparkApplication")["spec"]["arguments"]
    scheduled = next(o for o in objects if o["kind"] == "ScheduledSparkApplication")["spec"]["template"]["arguments"]
    for arguments in (once, scheduled):
        assert arguments[arguments.index("--precision") + 1] == "int8" and "--incremental" in arguments


def test_no_schedule_unless_asked(rendered):
    assert not rendered["values-kind.yaml"].of_kind("ScheduledSparkApplication")
    assert rendered["values-eks.yaml"].one("ScheduledSparkApplication")["spec"]["concurrencyPolicy"] == "Forbid"
