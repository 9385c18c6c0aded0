"""The driver's NetworkPolicy, S3 egress without the cluster's own ranges, Spark's RPC authentication,
and the S3 request options given to S3A and to the job's own client alike."""

import pytest

from chartkit import NAMESPACE, describe

pytestmark = pytest.mark.chart

PEER = {"app.kubernetes.io/name": "fruits-pipeline", "app.kubernetes.io/instance": "fruits-pipeline"}


def peer(role: str) -> dict:
    return {"podSelector": {"matchLabels": {**PEER, "app.kubernetes.io/component": role}}}


def ip_blocks(rule: dict) -> list[dict]:
    return [p["ipBlock"] for p in rule.get("to", []) if "ipBlock" in p]


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_driver_is_reached_by_its_executors_only_on_spark_ports(rendered, values_file):
    policy = rendered[values_file].one("NetworkPolicy", "fruits-pipeline-driver")
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["podSelector"]["matchLabels"] == {**PEER, "app.kubernetes.io/component": "driver"}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    executors = policy["spec"]["ingress"][0]
    assert executors["from"] == [peer("executor")]
    assert [p["port"] for p in executors["ports"]] == [7078, 7079]


def test_eks_driver_admits_prometheus_on_the_metrics_port_only(rendered):
    policy = rendered["values-eks.yaml"].one("NetworkPolicy", "fruits-pipeline-driver")
    (scrape,) = policy["spec"]["ingress"][1:]
    assert scrape["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert scrape["ports"] == [{"protocol": "TCP", "port": 4040}]


def test_eks_driver_reaches_dns_the_api_server_s3_and_its_executors(rendered):
    egress = rendered["values-eks.yaml"].one("NetworkPolicy", "fruits-pipeline-driver")["spec"]["egress"]
    assert egress[0] == {"to": [peer("executor")]}
    assert {p["port"] for p in egress[1]["ports"]} == {53}
    api = egress[2]
    assert [b["cidr"] for b in ip_blocks(api)] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert [p["port"] for p in api["ports"]] == [443, 6443]
    (s3,) = ip_blocks(egress[3])
    assert s3["cidr"] == "0.0.0.0/0" and [p["port"] for p in egress[3]["ports"]] == [443]
    assert len(egress) == 4, egress


def test_kind_driver_reaches_minio_and_the_catalog_pods(rendered):
    egress = rendered["values-kind.yaml"].one("NetworkPolicy", "fruits-pipeline-driver")["spec"]["egress"]
    ports = {p["podSelector"]["matchLabels"].get("app.kubernetes.io/component"): r["ports"][0]["port"]
             for r in egress if "ports" in r for p in r.get("to", []) if "podSelector" in p}
    assert (ports.get("minio"), ports.get("catalog")) == (9000, 5432), egress
    assert not [b for r in egress for b in ip_blocks(r) if b["cidr"] == "0.0.0.0/0"]


@pytest.mark.parametrize("policy_name", ["fruits-pipeline-driver", "fruits-pipeline-executor"])
def test_all_addresses_for_s3_leave_out_the_cluster_and_instance_metadata(rendered, policy_name):
    """0.0.0.0/0 on 443 would include the API server (and, on EKS, the kubelets and other pods)."""
    egress = rendered["values-eks.yaml"].one("NetworkPolicy", policy_name)["spec"]["egress"]
    (everything,) = [b for r in egress for b in ip_blocks(r) if b["cidr"] == "0.0.0.0/0"]
    assert everything["except"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]


def test_narrow_s3_cidrs_are_taken_as_they_are(template):
    import yaml

    proc = template("values-eks.yaml", "--set", "networkPolicy.s3Cidrs={52.216.0.0/15,::/0}",
                    "--set", "networkPolicy.clusterCidrs={10.0.0.0/16,fd00:10::/56}")
    assert proc.returncode == 0, describe(proc)
    policy = next(o for o in yaml.safe_load_all(proc.stdout) if o and o["metadata"]["name"] == "fruits-pipeline-executor")
    blocks = [b for r in policy["spec"]["egress"] for b in ip_blocks(r)]
    assert {"cidr": "52.216.0.0/15"} in blocks
    assert {"cidr": "::/0", "except": ["fd00:10::/56", "fe80::/10", "fd00:ec2::/32"]} in blocks


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml", "ci/ci-values.yaml"])
def test_spark_rpc_is_authenticated(rendered, values_file):
    conf = rendered[values_file].app_spec()["sparkConf"]
    assert conf["spark.authenticate"] == "true"
    assert "spark.network.crypto.enabled" not in conf


def test_encryption_needs_authentication(template):
    proc = template("values-kind.yaml", "--set", "security.authenticate=false,security.networkEncryption=true")
    assert proc.returncode != 0 and "security.networkEncryption needs security.authenticate" in proc.stderr, describe(proc)


def test_eks_writes_with_its_kms_key_through_s3a_and_the_jobs_own_client(rendered):
    spec = rendered["values-eks.yaml"].app_spec()
    key = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    assert spec["hadoopConf"]["fs.s3a.encryption.algorithm"] == "SSE-KMS"
    assert spec["hadoopConf"]["fs.s3a.encryption.key"] == key
    assert "fs.s3a.requester.pays.enabled" not in spec["hadoopConf"]
    env = {e["name"]: e.get("value") for e in spec["driver"]["env"]}
    assert (env["FRUITS_S3_ENCRYPTION"], env["FRUITS_S3_KMS_KEY_ID"]) == ("SSE-KMS", key)
    assert "FRUITS_S3_REQUESTER_PAYS" not in env


def test_requester_pays_reaches_s3a_and_the_driver(template):
    import yaml

    proc = template("values-kind.yaml", "--set", "s3.requesterPays=true", "--show-only", "templates/spark/sparkapplication.yaml")
    assert proc.returncode == 0, describe(proc)
    spec = yaml.safe_load(proc.stdout)["spec"]
    assert spec["hadoopConf"]["fs.s3a.requester.pays.enabled"] == "true"
    assert {"name": "FRUITS_S3_REQUESTER_PAYS", "value": "true"} in spec["driver"]["env"]


def test_a_kms_key_without_kms_encryption_is_refused(template):
    proc = template("values-eks.yaml", "--set", "s3.encryption.algorithm=SSE-S3")
    assert proc.returncode != 0 and "s3.encryption.kmsKeyId is set but" in proc.stderr, describe(proc)
