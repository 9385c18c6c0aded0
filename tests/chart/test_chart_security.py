"""Least privilege: the operator apart from the job, an executor account without rights or token,
Pod Security `restricted` pods with a read-only root filesystem, and executors fenced in by a
NetworkPolicy."""

import pytest

from chartkit import NAMESPACE, OPERATOR_NAMESPACE, assert_restricted

pytestmark = pytest.mark.chart

ENVIRONMENTS = ["values-kind.yaml", "values-eks.yaml"]
# What the job writes besides Spark's own local dirs: temporary files (and HOME) and the work dir.
WRITABLE = {"/tmp", "/opt/spark/work-dir"}


def chart_objects(result):
    return [o for o in result.objects if o["metadata"].get("labels", {}).get("helm.sh/chart", "").startswith("fruits-pipeline-")]


def operator_objects(result):
    return [o for o in result.objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "spark-operator"]


@pytest.mark.parametrize("values_file", ENVIRONMENTS)
def test_operator_lives_in_its_own_namespace_and_watches_only_the_job(rendered, values_file):
    result = rendered[values_file]
    job = chart_objects(result)
    assert job and {o["metadata"]["namespace"] for o in job if o["kind"] not in ("ClusterRole", "ClusterRoleBinding")} == {NAMESPACE}
    operator = [o for o in operator_objects(result) if "namespace" in o["metadata"] and o["kind"] in ("Deployment", "ServiceAccount")]
    assert operator and {o["metadata"]["namespace"] for o in operator} == {OPERATOR_NAMESPACE}
    # No ClusterRole over pods: the controller's pod rights are a Role in the job's namespace.
    for role in result.of_kind("ClusterRole"):
        resources = {r for rule in role["rules"] for r in rule.get("resources", [])}
        assert not resources & {"pods", "sparkapplications", "services", "configmaps"}, role["metadata"]["name"]
    pod_roles = [r for r in result.of_kind("Role") if any("pods" in rule.get("resources", []) for rule in r["rules"])]
    assert {r["metadata"]["namespace"] for r in pod_roles} == {NAMESPACE}
    (webhook,) = result.of_kind("MutatingWebhookConfiguration")
    for hook in webhook["webhooks"]:
        (expr,) = hook["namespaceSelector"]["matchExpressions"]
        assert (expr["key"], expr["values"]) == ("kubernetes.io/metadata.name", [NAMESPACE])


def test_operator_may_manage_network_policies_in_the_job_namespace_only(rendered):
    result = rendered["values-kind.yaml"]
    (binding,) = [b for b in result.of_kind("RoleBinding") if b["metadata"]["name"].endswith("-operator-submit")]
    assert binding["metadata"]["namespace"] == NAMESPACE
    (subject,) = binding["subjects"]
    controller = [a for a in result.of_kind("ServiceAccount") if a["metadata"]["name"] == subject["name"]]
    assert controller and controller[0]["metadata"]["namespace"] == subject["namespace"] == OPERATOR_NAMESPACE


@pytest.mark.parametrize("values_file", ENVIRONMENTS)
def test_operator_pods_are_restricted(rendered, values_file):
    deployments = [d for d in operator_objects(rendered[values_file]) if d["kind"] == "Deployment"]
    assert len(deployments) == 2
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            assert_restricted(pod.get("securityContext", {}), container["securityContext"], deployment["metadata"]["name"])


@pytest.mark.parametrize("values_file", ENVIRONMENTS)
def test_executor_account_has_no_rights_and_no_token(rendered, values_file):
    result = rendered[values_file]
    spec = result.app_spec()
    executor = result.one("ServiceAccount", spec["executor"]["serviceAccount"])
    assert executor["automountServiceAccountToken"] is False
    bound = {(s["kind"], s["name"]) for b in result.of_kind("RoleBinding") + result.of_kind("ClusterRoleBinding") for s in b["subjects"]}
    assert ("ServiceAccount", spec["executor"]["serviceAccount"]) not in bound
    assert ("ServiceAccount", spec["driver"]["serviceAccount"]) in bound


def test_irsa_annotates_both_accounts(rendered):
    result = rendered["values-eks.yaml"]
    spec = result.app_spec()
    for role in ("driver", "executor"):
        account = result.one("ServiceAccount", spec[role]["serviceAccount"])
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::"), role


@pytest.mark.parametrize("values_file", ENVIRONMENTS)
def test_spark_pods_are_restricted_with_writable_dirs_on_empty_dirs(rendered, values_file):
    spec = rendered[values_file].app_spec()
    volumes = {v["name"]: v for v in spec["volumes"]}
    for role in ("driver", "executor"):
        pod = spec[role]
        assert_restricted(pod["podSecurityContext"], pod["securityContext"], role)
        mounts = {m["mountPath"]: m["name"] for m in pod["volumeMounts"]}
        assert set(mounts) >= WRITABLE, role
        assert all(volumes[name] == {"name": name, "emptyDir": {}} for name in mounts.values()), role
        home = {e["name"]: e.get("value") for e in pod["env"]}["HOME"]
        assert any(home == d or home.startswith(d + "/") for d in WRITABLE), (role, home)


def policy(result, component="executor"):
    (found,) = [p for p in result.of_kind("NetworkPolicy") if p["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return found["spec"]


def peers(rule):
    return [p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") or p.get("ipBlock", {}).get("cidr")
            for p in rule.get("to", rule.get("from", []))]


@pytest.mark.parametrize("values_file", ENVIRONMENTS)
def test_executors_reach_only_the_driver_each_other_dns_and_s3(rendered, values_file):
    result = rendered[values_file]
    spec = policy(result)
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "executor"
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = spec["ingress"]
    assert peers(ingress) == ["driver", "executor"]
    rules = spec["egress"]
    assert peers(rules[0]) == ["driver", "executor"] and "ports" not in rules[0]
    assert "to" not in rules[1] and {p["port"] for p in rules[1]["ports"]} == {53}
    s3 = rules[2:]
    if values_file == "values-kind.yaml":
        (minio,) = s3
        assert peers(minio) == ["minio"] and minio["ports"] == [{"protocol": "TCP", "port": 9000}]
    else:
        (aws,) = s3
        assert peers(aws) == ["0.0.0.0/0"] and aws["ports"] == [{"protocol": "TCP", "port": 443}]
    # The pods it selects are the executors the SparkApplication labels.
    labels = result.app_spec()["executor"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()


def test_image_digest_pins_the_image_and_an_empty_tag_is_the_app_version(template):
    import yaml

    digest = "sha256:" + "ab" * 32
    for extra, expected in ((["--set", f"image.digest={digest}"], f"fruits-pipeline@{digest}"),
                            (["--set", "image.tag="], "fruits-pipeline:0.1.0")):
        proc = template("values-kind.yaml", *extra, "--show-only", "templates/spark/sparkapplication.yaml")
        assert proc.returncode == 0, proc.stderr
        assert yaml.safe_load(proc.stdout)["spec"]["image"] == expected


def test_minio_is_restricted_and_not_run_by_the_job_key(rendered):
    result = rendered["values-kind.yaml"]
    deployment = result.one("Deployment", "minio")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert_restricted(pod["securityContext"], container["securityContext"], "minio")
    root = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert set(root) == {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    (secret_name,) = set(root.values())
    assert result.one("Secret", secret_name)["stringData"]["MINIO_ROOT_USER"] != \
        result.one("Secret", "fruits-pipeline-s3")["stringData"]["AWS_ACCESS_KEY_ID"]
