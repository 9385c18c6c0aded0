"""Tier 5: the chart on a real kind cluster. The operator and its webhook become Ready in their own
namespace, MinIO runs in the job's and takes the sample through the job's own MinIO user (not the
root user), the chart's SparkApplication waits for another writer's lock on its output while its
executor is released for idleness, then completes with executors that scale up with the backlog,
every pod admitted under Pod Security "restricted" with a read-only root filesystem and executors
without an API token; the History Server lists the run from its event logs; the tables the driver
committed, found through the in-cluster PostgreSQL catalog and read by Polars (not the job), hold;
the plain manifest completes although an executor is killed mid-run, and the chart's schedule runs
the job twice, the second run featurizing nothing. The cluster has a control plane, an on-demand
and a spot worker (hack/kind/cluster.yaml); mid-run the spot worker is drained, its executors
decommission, and the run still completes with every file counted once. Last, the chart's Spark
Connect server: `fruits.api` on the host featurizes images from MinIO through it, its executors
coming up for the work and going back after."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import polars as pl
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from kubernetes import client
from minio.credentials import StaticProvider
from minio.minioadmin import MinioAdmin
from pyiceberg.catalog import Catalog, load_catalog

from kube import CHART, NAMESPACE, OPERATOR_NAMESPACE, RELEASE, ROOT, SPARK_GROUP, SPARK_PLURAL, SPARK_VERSION, Cluster, ExecutorWatcher, run, wait_for
from probes import PYTHON, Probe

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

VALUES_KIND = CHART / "values-kind.yaml"
KIND_VALUES = yaml.safe_load(VALUES_KIND.read_text())
CHART_VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
# The tables' catalog: the chart's PostgreSQL (its defaults, then values-kind.yaml's), the tables in
# its namespace, registered under the job's catalog name (the rows' catalog_name: fruits.table.iceberg).
POSTGRES = {**CHART_VALUES["catalog"]["postgres"], **KIND_VALUES["catalog"]["postgres"]}
TABLE_NAMESPACE = KIND_VALUES["catalog"]["namespace"]
CATALOG_NAME = "fruits"
TABLES = ("features", "rejected")
RUN_ID_KEY = "fruits.run-id"  # the snapshot summary key naming the run (docs/operations.md)
# Polars plans its Iceberg scans with PyIceberg (its own planner is a plugin package not installed).
os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")
BUCKET = "fruits"
INPUT_PREFIX = "input/"
OUTPUT_PREFIX = "lake/"
APP = RELEASE  # the chart names its SparkApplication after the release
SAMPLE_CLASSES, SAMPLE_PER_CLASS = 8, 16
# Small tasks, so that dynamic allocation sees a backlog and asks for more executors. The idle
# release is shown in a phase of the run that the test controls, whatever the machine's speed: the
# test holds the output's lock (as another writer would), the job waits for it with its one initial
# executor idle, and the test lets go only once the driver log shows that executor released.
FILES_PER_PARTITION = 4
IDLE_TIMEOUT_S = 10
IDLE_RELEASE_LINE = "removed due to idle timeout"
WAITING_LINE = "waiting for the lock on"
LOCK_TAKEN_LINE = "took the lock on"
# Longest the test holds the lock without seeing the release, so a failing run still ends.
HOLD_LOCK_AT_MOST_S = 600
# The workers of hack/kind/cluster.yaml, labelled as Karpenter labels EKS nodes.
CAPACITY_LABEL = "karpenter.sh/capacity-type"
DRAIN_TIMEOUT_S = 300
APP_TIMEOUT_S = 1200
SUMMARY: dict[str, object] = {}
# Event logs of the chart's run, in the job's bucket, and the History Server reading them: the same
# values as on EKS. S3A sees a folder where a key ends in "/", so the test puts that marker first.
EVENTS_PREFIX = "spark-events/"
HISTORY_VALUES = ("--set", "eventLog.enabled=true", "--set", f"eventLog.dir=s3a://{BUCKET}/{EVENTS_PREFIX}",
                  "--set", "historyServer.enabled=true")
HISTORY = f"{RELEASE}-history"  # the chart's History Server Service
HISTORY_TIMEOUT_S = 300
# The chart's schedule, due every minute; Forbid starts a run only once the last one has finished.
SCHEDULE_VALUES = ("--set", "schedule.enabled=true", "--set", "schedule.cron=* * * * *",
                   "--set", "schedule.concurrencyPolicy=Forbid")
SCHEDULED = f"{RELEASE}-scheduled"
SCHEDULED_RUNS = 2
# The chart's Spark Connect server, turned on by a helm upgrade at the end, and the Service the
# operator puts in front of it. Its executors go back 10 s after the work (idle, shuffle data and
# cached blocks alike), so that the scale-down is seen within the test's bounds.
CONNECT = f"{RELEASE}-connect"
CONNECT_SERVICE = f"{CONNECT}-server"
CONNECT_PORT = 15002
CONNECT_IDLE_S = 10
CONNECT_VALUES = ("--set", "connect.enabled=true",
                  *(arg for key in ("executorIdleTimeoutSeconds", "shuffleTrackingTimeoutSeconds", "cachedExecutorIdleTimeoutSeconds")
                    for arg in ("--set", f"connect.dynamicAllocation.{key}={CONNECT_IDLE_S}")))
CONNECT_EXECUTORS = f"spark-role=executor,sparkoperator.k8s.io/connect-name={CONNECT}"
CONNECT_READY_TIMEOUT_S = 240
CONNECT_WORK_TIMEOUT_S = 420
CONNECT_SCALE_DOWN_TIMEOUT_S = 180
CONNECT_SAMPLE = 8
# NetworkPolicies, enforced in the kind run by kube-router (hack/kind/netpol.yaml): probe pods of the
# app image, and a server in a namespace of its own standing for any other pod of the cluster.
APP_IMAGE = f"{KIND_VALUES['image']['repository']}:{KIND_VALUES['image']['tag']}"
PROBE_NAMESPACE = "netpol-probe"
PROBE_PORT = 8080
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


# The job caches its features on the executors until it ends, and Spark never releases an executor
# holding cached blocks unless cachedExecutorIdleTimeout is set; with storage decommissioning the
# blocks move to the executors that stay, so nothing is recomputed. INFO on the driver shows the
# allocation manager's decisions.
SPARK_CONF = {
    "spark.dynamicAllocation.cachedExecutorIdleTimeout": f"{IDLE_TIMEOUT_S}s",
    "spark.storage.decommission.enabled": "true",
    "spark.storage.decommission.rddBlocks.enabled": "true",
    "spark.storage.decommission.shuffleBlocks.enabled": "true",
    "spark.kubernetes.driverEnv.FRUITS_SPARK_LOG_LEVEL": "INFO",
}


def helm_values(*extra: str) -> list[str]:
    return ["-f", str(VALUES_KIND),
            "--set", f"job.filesPerPartition={FILES_PER_PARTITION}",
            "--set-json", f"spark.conf={json.dumps(SPARK_CONF)}",
            "--set", f"dynamicAllocation.executorIdleTimeoutSeconds={IDLE_TIMEOUT_S}",
            "--set", "dynamicAllocation.minExecutors=0", "--set", "dynamicAllocation.initialExecutors=1",
            "--set", f"dynamicAllocation.shuffleTrackingTimeoutSeconds={IDLE_TIMEOUT_S}", *extra]


@pytest.fixture(scope="module")
def operator_and_minio(cluster: Cluster):
    """Step 1 of the install: the chart with values-kind.yaml minus its SparkApplication (a helm
    post-renderer drops it), waited for: operator, webhook, MinIO, PostgreSQL, RBAC, the Secrets.
    The release (and with it the operator) goes to the operator's own namespace, the job's objects
    to `fruits`; both namespaces enforce Pod Security "restricted"."""
    if cluster.helm("status", RELEASE, "-n", OPERATOR_NAMESPACE, check=False).returncode == 0:
        # A cluster kept from an earlier run (KEEP_CLUSTER=1): start from clean namespaces.
        cluster.helm("uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait")
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--ignore-not-found", timeout=300)
    for namespace in (OPERATOR_NAMESPACE, NAMESPACE):
        cluster.restricted_namespace(namespace)
    start = time.monotonic()
    cluster.helm("install", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, *helm_values(),
                 "--post-renderer", sys.executable, "--post-renderer-args", str(Path(__file__).with_name("drop_sparkapp.py")),
                 "--wait", "--timeout", "10m")
    SUMMARY["install operator, MinIO, PostgreSQL (s)"] = round(time.monotonic() - start)


def s3_client(endpoint: str, key: str, secret: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10}))


# The job's MinIO user may do anything in its bucket and nothing elsewhere.
JOB_POLICY = "fruits-job"
JOB_POLICY_DOCUMENT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:*"], "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]}


def node_port(cluster: Cluster, service: str, port: int, target: str) -> str:
    """host:port of a NodePort Service the test adds in front of the pods of `service` (the node's IP
    is reachable from the host on kind's Docker network)."""
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name=f"{service}-e2e", namespace=NAMESPACE),
        spec=client.V1ServiceSpec(type="NodePort", selector=cluster.core.read_namespaced_service(service, NAMESPACE).spec.selector,
                                  ports=[client.V1ServicePort(name=target, port=port, target_port=target)]))
    created = cluster.core.create_namespaced_service(NAMESPACE, svc)
    return f"{cluster.node_ip()}:{created.spec.ports[0].node_port}"


@pytest.fixture(scope="module")
def s3(cluster: Cluster, operator_and_minio):
    """boto3, as the job's MinIO user, on the in-cluster MinIO through a NodePort Service the test
    adds. MinIO's root user makes the bucket, the job's user (the key pair of the job's Secret) and
    its bucket policy."""
    host = node_port(cluster, KIND_VALUES.get("minio", {}).get("name", "minio"), 9000, "s3")
    endpoint = f"http://{host}"
    root_user, root_password = KIND_VALUES["minio"]["rootUser"], KIND_VALUES["minio"]["rootPassword"]
    root = s3_client(endpoint, root_user, root_password)
    wait_for(f"MinIO at {endpoint}", lambda: root.list_buckets() is not None, timeout=120)
    root.create_bucket(Bucket=BUCKET)
    creds = KIND_VALUES["s3"]["credentials"]
    admin = MinioAdmin(endpoint=host, credentials=StaticProvider(root_user, root_password), secure=False)
    admin.user_add(creds["accessKeyId"], creds["secretAccessKey"])
    admin.policy_add(JOB_POLICY, policy=JOB_POLICY_DOCUMENT)
    admin.attach_policy([JOB_POLICY], user=creds["accessKeyId"])
    return s3_client(endpoint, creds["accessKeyId"], creds["secretAccessKey"])


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    run(str(ROOT / ".venv" / "bin" / "fruits"), "sample", "--output", str(out), "--classes", str(SAMPLE_CLASSES),
        "--per-class", str(SAMPLE_PER_CLASS), "--seed", "1", timeout=300)
    return out


@pytest.fixture(scope="module")
def uploaded(s3, sample) -> list[str]:
    keys = []
    for path in sorted(p for p in sample.rglob("*") if p.is_file()):
        key = INPUT_PREFIX + path.relative_to(sample).as_posix()
        s3.upload_file(str(path), BUCKET, key)
        keys.append(key)
    return keys


def file_io(s3) -> dict[str, str]:
    """PyIceberg's (and Polars') S3 settings: MinIO through the test's NodePort, the job's keys."""
    creds = KIND_VALUES["s3"]["credentials"]
    return {"s3.endpoint": s3.meta.endpoint_url, "s3.access-key-id": creds["accessKeyId"],
            "s3.secret-access-key": creds["secretAccessKey"], "s3.region": KIND_VALUES["s3"]["region"]}


@pytest.fixture(scope="module")
def catalog(cluster: Cluster, s3):
    """The tables' catalog as a reader outside the job opens it: PyIceberg's SQL catalog on the
    in-cluster PostgreSQL, through `kubectl port-forward`, with the URI the driver gets from the
    chart's Secret (its host and port replaced by the forward's); the files on MinIO."""
    secret = cluster.core.read_namespaced_secret(f"{POSTGRES['name']}-credentials", NAMESPACE)
    uri = urlsplit(base64.b64decode(secret.data["uri"]).decode())
    assert uri.hostname == f"{POSTGRES['name']}.{NAMESPACE}.svc", uri.hostname
    with cluster.port_forward(POSTGRES["name"], int(POSTGRES["port"])) as port:
        local = uri._replace(netloc=f"{uri.netloc.rsplit('@', 1)[0]}@127.0.0.1:{port}").geturl()
        yield load_catalog(CATALOG_NAME, type="sql", uri=local, **file_io(s3))


def current_run(catalog: Catalog) -> str | None:
    """The run id of the features table's current snapshot (the commit point of a run)."""
    snapshot = catalog.load_table(f"{TABLE_NAMESPACE}.features").current_snapshot()
    return snapshot.summary.get(RUN_ID_KEY) if snapshot is not None else None


def check_run_output(s3, catalog: Catalog, run_id: str, listed: int, k: int) -> dict:
    """One complete run: the current snapshot of both tables is `run_id`'s; their rows, read by
    Polars (not the job), hold the s3 tier's checks; the run's own files lie beside the tables.
    Returns the run's metrics."""
    rows = {}
    for name in TABLES:
        table = catalog.load_table(f"{TABLE_NAMESPACE}.{name}")
        snapshot = table.current_snapshot()
        summary = dict(snapshot.summary.additional_properties) if snapshot is not None else {}
        assert summary.get(RUN_ID_KEY) == run_id, f"{name}: current snapshot {summary}, not run {run_id}"
        assert table.metadata.location == f"s3://{BUCKET}/{OUTPUT_PREFIX}{name}", table.metadata.location
        if name == "features":
            assert summary.get("fruits.k") == str(k), summary
        rows[name] = pl.scan_iceberg(table, storage_options=file_io(s3)).collect()
    root = f"{OUTPUT_PREFIX}runs/{run_id}/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=root).get("Contents", [])}
    assert any(key.startswith(root + "model/") for key in keys), f"nothing under s3://{BUCKET}/{root}model/"
    missing = [name for name in ("metrics.json", "pca_2d.png", "pca_2d.html", "variance.png") if root + name not in keys]
    assert not missing, f"missing under s3://{BUCKET}/{root}: {missing}"
    metrics = json.loads(s3.get_object(Bucket=BUCKET, Key=root + "metrics.json")["Body"].read())
    png = s3.get_object(Bucket=BUCKET, Key=root + "pca_2d.png")["Body"].read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n"), "pca_2d.png is not a PNG"
    features, rejected = rows["features"], rows["rejected"]
    assert metrics["counts"]["listed"] == listed == features.height + rejected.height, \
        (metrics["counts"], features.height, rejected.height)
    paths = features.get_column("path").to_list() + rejected.get_column("path").to_list()
    assert len(set(paths)) == len(paths), "a file appears twice in the run's tables"
    assert set(features.get_column("features").list.len().to_list()) == {2048}
    assert set(features.get_column("pca").list.len().to_list()) == {k}
    # A URI tools other than Hadoop open (s3://, not S3A's s3a://).
    elsewhere = [p for p in features.get_column("path").to_list() if not p.startswith(f"s3://{BUCKET}/{INPUT_PREFIX}")]
    assert not elsewhere, f"paths not under s3://{BUCKET}/{INPUT_PREFIX}: {elsewhere[:3]}"
    assert features.get_column("label").n_unique() == SAMPLE_CLASSES
    ratios = metrics["pca"]["explained_variance"]
    assert len(ratios) == k and all(a >= b for a, b in pairwise(ratios)) and sum(ratios) <= 1 + 1e-9, ratios
    return metrics


def test_operator_and_webhook_become_ready(cluster: Cluster, operator_and_minio):
    deployments = cluster.apps.list_namespaced_deployment(OPERATOR_NAMESPACE, label_selector="app.kubernetes.io/name=spark-operator").items
    names = {d.metadata.name: (d.status.ready_replicas or 0, d.spec.replicas) for d in deployments}
    assert any("controller" in n for n in names) and any("webhook" in n for n in names), names
    assert all(ready == wanted for ready, wanted in names.values()), f"not all Ready: {names}"
    image = deployments[0].spec.template.spec.containers[0].image
    assert "fruits-spark-operator" in image, image
    # The webhook server patches its CA into both configurations once its certificate exists,
    # which may be a few seconds after its pod is Ready.
    def without_ca() -> list[str]:
        missing = []
        for kind, items in (("mutating", cluster.admission.list_mutating_webhook_configuration().items),
                            ("validating", cluster.admission.list_validating_webhook_configuration().items)):
            ours = [c for c in items if "spark-operator" in c.metadata.name]
            missing += [f"no {kind} webhook configuration of the spark-operator"] if not ours else \
                [f"{kind} {w.name}" for c in ours for w in c.webhooks if not w.client_config.ca_bundle]
        return missing

    wait_for("a CA bundle in every webhook of the spark-operator", lambda: not without_ca() or None, timeout=60)


def test_job_key_is_a_minio_user_limited_to_its_bucket(s3):
    assert KIND_VALUES["s3"]["credentials"]["accessKeyId"] != KIND_VALUES["minio"]["rootUser"]
    with pytest.raises(ClientError) as refused:
        s3.create_bucket(Bucket="elsewhere")
    assert refused.value.response["Error"]["Code"] == "AccessDenied", refused.value.response["Error"]


def test_minio_runs_in_the_cluster_and_holds_the_sample(cluster: Cluster, s3, uploaded, sample):
    minio = cluster.pods("app.kubernetes.io/component=minio") or cluster.pods("app.kubernetes.io/name=minio")
    assert minio and minio[0].status.phase == "Running", [p.metadata.name for p in minio]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=INPUT_PREFIX)["KeyCount"]
    assert listed == len(uploaded) == SAMPLE_CLASSES * SAMPLE_PER_CLASS


@pytest.fixture(scope="module")
def probe_server(cluster: Cluster):
    """An HTTP server in a namespace of its own, under no policy: any other pod of the cluster."""
    cluster.restricted_namespace(PROBE_NAMESPACE)
    server = Probe.start(cluster, "server", PROBE_NAMESPACE, APP_IMAGE, args=(PYTHON, "-m", "http.server", str(PROBE_PORT)))
    yield server
    cluster.kubectl("delete", "namespace", PROBE_NAMESPACE, "--wait=false", check=False)


def test_network_policies_are_enforced(cluster: Cluster, probe_server):
    """The engine itself: a client reaches the server, a deny-all ingress policy on the server then
    closes its port to that client, and deleting the policy opens it again. Without enforcement
    the port never closes and this fails."""
    peer = Probe.start(cluster, "client", PROBE_NAMESPACE, APP_IMAGE)
    target = probe_server.ip()
    deny = client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="deny-server"),
        spec=client.V1NetworkPolicySpec(pod_selector=client.V1LabelSelector(match_labels={"app": probe_server.name}),
                                        policy_types=["Ingress"]))
    try:
        opened = peer.settles(target, PROBE_PORT, open_=True)
        cluster.networking.create_namespaced_network_policy(PROBE_NAMESPACE, deny)
        closed = peer.settles(target, PROBE_PORT, open_=False)
        cluster.networking.delete_namespaced_network_policy("deny-server", PROBE_NAMESPACE)
        reopened = peer.settles(target, PROBE_PORT, open_=True)
    finally:
        peer.delete()
        cluster.kubectl("-n", PROBE_NAMESPACE, "delete", "networkpolicy", "deny-server", "--ignore-not-found", check=False)
    SUMMARY["network policy: enforced after (s)"] = {"open": round(opened, 1), "denied": round(closed, 1),
                                                     "allowed again": round(reopened, 1)}


def test_executors_reach_only_dns_s3_and_their_peers(cluster: Cluster, s3, probe_server):
    """A pod with the executors' labels and account (what the chart's executor policy selects)
    cannot open the API server, neither its Service nor the control plane's port, nor another pod;
    it resolves names and reaches MinIO. A pod beside it without those labels opens all of them, so
    the network works and the policy is what closes them; one with the driver's labels and account
    reaches the API server."""
    labels = cluster.networking.read_namespaced_network_policy(f"{RELEASE}-executor", NAMESPACE).spec.pod_selector.match_labels
    minio = f"{KIND_VALUES['minio'].get('name', 'minio')}.{NAMESPACE}.svc.cluster.local", 9000
    closed = {"the API server's Service": (cluster.core.read_namespaced_service("kubernetes", "default").spec.cluster_ip, 443),
              "the API server on the control plane": (cluster.node_ip(CONTROL_PLANE), 6443),
              "another pod": (probe_server.ip(), PROBE_PORT)}
    probes = [Probe.start(cluster, "probe-executor", NAMESPACE, APP_IMAGE, labels=labels, service_account=f"{RELEASE}-executor"),
              Probe.start(cluster, "probe-bystander", NAMESPACE, APP_IMAGE),
              Probe.start(cluster, "probe-driver", NAMESPACE, APP_IMAGE, labels={**labels, "app.kubernetes.io/component": "driver"},
                          service_account=f"{RELEASE}-driver")]
    executor, bystander, driver = probes
    try:
        for host, port in closed.values():
            bystander.settles(host, port, open_=True)
            executor.settles(host, port, open_=False)
        resolved, said = executor.resolves(minio[0])
        assert resolved, f"the executor probe cannot resolve {minio[0]}: {said}"
        executor.settles(*minio, open_=True)
        driver.settles(*closed["the API server's Service"], open_=True)
        driver.settles(*closed["the API server on the control plane"], open_=True)
    finally:
        for probe in probes:
            probe.delete()
    SUMMARY["network policy: executor"] = {"closed": sorted(closed), "open": ["DNS", "MinIO"]}


# Executor pods of the chart's run as seen Running (the driver deletes them as it ends).
RUNNING_EXECUTORS: list = []
DRAINS: list = []
# The chart's run as Spark knows it (status.sparkApplicationId), read before the application goes.
CHART_APP_ID: list[str] = []


class ForeignLock:
    """The output's lock, held by the test as another writer would hold it, until `release`."""

    KEY = f"{OUTPUT_PREFIX}_LOCK"

    def __init__(self, s3):
        self.s3 = s3
        now = time.time()
        body = json.dumps({"owner": "e2e-test:0", "run_id": "e2e-holder", "acquired": now, "expires": now + 3 * HOLD_LOCK_AT_MOST_S})
        s3.put_object(Bucket=BUCKET, Key=self.KEY, Body=body.encode())
        self.taken = time.monotonic()
        self.released_after_idle: bool | None = None

    def release_once_idle(self, driver_log: str) -> None:
        if self.released_after_idle is not None:
            return
        idle_seen = WAITING_LINE in driver_log and IDLE_RELEASE_LINE in driver_log
        if idle_seen or time.monotonic() - self.taken > HOLD_LOCK_AT_MOST_S:
            self.s3.delete_object(Bucket=BUCKET, Key=self.KEY)
            self.released_after_idle = idle_seen


class SpotDrain:
    """`kubectl drain` of the spot worker once one of its executors is running a task, as a spot
    interruption or a Karpenter consolidation would drain it; in a thread, since a drain waits for
    the evicted pods to end (an executor's preStop hook decommissions it first)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.node: str | None = None
        self.executors: dict[str, str] = {}  # pod name -> Spark executor id
        self.result: subprocess.CompletedProcess | None = None
        self._thread: threading.Thread | None = None

    def start_once_busy(self) -> None:
        if self.node:
            return
        for pod in self.cluster.pods(f"spark-role=executor,sparkoperator.k8s.io/app-name={APP}"):
            node = pod.spec.node_name
            if (pod.status.phase == "Running" and node and self.capacity(node) == "spot"
                    and "Running task" in self.cluster.log_tail(pod.metadata.name, lines=200)):
                self.node = node
                break
        if not self.node:
            return
        self.executors = {p.metadata.name: p.metadata.labels.get("spark-exec-id", "")
                          for p in self.cluster.pods(f"spark-role=executor,sparkoperator.k8s.io/app-name={APP}")
                          if p.spec.node_name == self.node}
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        self.result = self.cluster.kubectl("drain", self.node, "--ignore-daemonsets", "--delete-emptydir-data",
                                           "--timeout", f"{DRAIN_TIMEOUT_S}s", timeout=DRAIN_TIMEOUT_S + 60, check=False)

    def capacity(self, node: str) -> str:
        return (self.cluster.core.read_node(node).metadata.labels or {}).get(CAPACITY_LABEL, "")

    def finish(self) -> None:
        """Wait for the drain, then make the node schedulable again for the tests after."""
        if self._thread:
            self._thread.join(DRAIN_TIMEOUT_S + 90)
        if self.node:
            self.cluster.kubectl("uncordon", self.node, check=False)


def node_memory(cluster_name: str) -> dict[str, str]:
    """What each kind node's container uses, as `docker stats` reports it (page cache excluded)."""
    names = subprocess.run(["docker", "ps", "--filter", f"label=io.x-k8s.kind.cluster={cluster_name}", "--format", "{{.Names}}"],
                           capture_output=True, text=True, check=False).stdout.split()
    if not names:
        return {}
    stats = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names],
                           capture_output=True, text=True, check=False).stdout
    return dict(line.split(" ", 1) for line in sorted(stats.splitlines()) if " " in line)


@pytest.fixture(scope="module")
def chart_run(cluster: Cluster, s3, uploaded):
    """Step 2 of the install: the plain chart, which adds the SparkApplication, with event logs and
    the History Server; then its run, which first waits for the lock the test holds on its output,
    and loses its spot worker to a drain once the lock is free and an executor there is working."""
    s3.put_object(Bucket=BUCKET, Key=EVENTS_PREFIX, Body=b"")
    lock = ForeignLock(s3)
    drain = SpotDrain(cluster)
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, *helm_values(*HISTORY_VALUES),
                 "--wait", "--timeout", "5m")
    assert cluster.sparkapp(APP) is not None, "helm did not create the SparkApplication"

    def during(_state: str) -> None:
        lock.release_once_idle(cluster.driver_log(APP))
        if not RUNNING_EXECUTORS:
            RUNNING_EXECUTORS.extend(p for p in cluster.pods(f"spark-role=executor,sparkoperator.k8s.io/app-name={APP}")
                                     if p.status.phase == "Running")
        if lock.released_after_idle is not None:
            drain.start_once_busy()

    try:
        state, record, seconds = cluster.run_app(APP, timeout=APP_TIMEOUT_S, during=during)
    finally:
        drain.finish()
    DRAINS.append(drain)
    SUMMARY["kind nodes: memory in use after the chart run"] = node_memory(cluster.name)
    driver_log = cluster.driver_log(APP)
    CHART_APP_ID.append((cluster.sparkapp(APP) or {}).get("status", {}).get("sparkApplicationId", ""))
    SUMMARY.update({"chart run: state": state, "chart run: wall time (s)": round(seconds),
                    "chart run: lock released after the idle release": lock.released_after_idle,
                    "chart run: peak executors running": record.peak_running,
                    "chart run: executor pods": len(record.seen),
                    "chart run: running executors over time (s, n)": record.timeline})
    return state, record, driver_log, lock


def test_chart_sparkapplication_completes(cluster: Cluster, chart_run):
    state, _, driver_log, _ = chart_run
    assert state == "COMPLETED", f"state {state}; driver log tail:\n{driver_log[-3000:]}"


def mounts_api_token(pod) -> bool:
    return any(v.projected and any(s.service_account_token for s in v.projected.sources or []) for v in pod.spec.volumes or [])


def test_pods_are_admitted_under_restricted_pod_security(cluster: Cluster, chart_run):
    """Both namespaces enforce "restricted", so every pod that ran there met it: the operator's, MinIO,
    the driver and the executors, whose root filesystem is read-only and who hold no API token."""
    for namespace in (NAMESPACE, OPERATOR_NAMESPACE):
        labels = cluster.core.read_namespace(namespace).metadata.labels
        assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", (namespace, labels)
    operator = cluster.pods("app.kubernetes.io/name=spark-operator", OPERATOR_NAMESPACE)
    assert len(operator) == 2 and all(p.status.phase == "Running" for p in operator), [p.metadata.name for p in operator]
    (driver,) = cluster.pods(f"spark-role=driver,sparkoperator.k8s.io/app-name={APP}")
    assert RUNNING_EXECUTORS, "no executor pod was seen Running"
    executor = RUNNING_EXECUTORS[0]
    for pod in (driver, executor):
        container = pod.spec.containers[0]
        assert pod.spec.security_context.run_as_non_root is True, pod.metadata.name
        assert container.security_context.read_only_root_filesystem is True, pod.metadata.name
        assert {"/tmp", "/opt/spark/work-dir"} <= {m.mount_path for m in container.volume_mounts}, pod.metadata.name
    assert (driver.spec.service_account_name, executor.spec.service_account_name) == (f"{RELEASE}-driver", f"{RELEASE}-executor")
    assert mounts_api_token(driver) and not mounts_api_token(executor)
    SUMMARY.update({"pod security": "restricted enforced on fruits and spark-operator",
                    "admitted pods": [p.metadata.name for p in operator] + [driver.metadata.name, executor.metadata.name],
                    "executor API token mounted": mounts_api_token(executor)})


def test_idle_executor_is_released_while_the_job_waits_for_the_lock(chart_run):
    _, _, driver_log, lock = chart_run
    lines = driver_log.splitlines()
    waiting = [i for i, line in enumerate(lines) if WAITING_LINE in line]
    taken = [i for i, line in enumerate(lines) if LOCK_TAKEN_LINE in line]
    idle = [i for i, line in enumerate(lines) if IDLE_RELEASE_LINE in line]
    SUMMARY["chart run: idle releases (driver log)"] = [lines[i][-160:] for i in idle]
    assert waiting, "the job never waited for the lock the test held:\n" + driver_log[-3000:]
    assert lock.released_after_idle, (f"no executor was released for idleness within {HOLD_LOCK_AT_MOST_S} s of holding the lock; "
                                      "driver log:\n" + driver_log[-3000:])
    assert taken and idle[0] < taken[0], "the idle release is not logged before the job took the lock"


def test_executors_scale_up_with_the_backlog(cluster: Cluster, chart_run):
    state, record, driver_log, _ = chart_run
    assert record.peak_running > 1, f"never more than one executor Running: {record.timeline}"
    assert KIND_VALUES["dynamicAllocation"]["maxExecutors"] >= record.peak_running
    # Scaled for the backlog, in the allocation manager's own words.
    assert "because tasks are backlogged" in driver_log, "no backlog-driven executor request in the driver log"
    # Executor pods are deleted as the driver stops; deleting one takes its grace period, so the
    # test waits for the end state rather than reading it at one instant.
    wait_for("no executor pod left running after the application completed",
             lambda: not [p for p in cluster.pods("spark-role=executor") if p.status.phase == "Running"], timeout=180)


def decommission_lines(driver_log: str, executor_id: str) -> list[str]:
    """The driver's lines about executor `executor_id` being decommissioned (Spark's own wording:
    "Decommission executors: 1, 2", "Received executor 2 decommissioned message", "Lost executor 2
    on ...: Executor decommission")."""
    pattern = re.compile(rf"(?i)(decommission executors?: [\d, ]*\b{executor_id}\b|executors? {executor_id}\b.*decommission)")
    return [line for line in driver_log.splitlines() if pattern.search(line)]


def registered(driver_log: str, executor_id: str) -> bool:
    """Whether the driver registered executor `executor_id` ("Registered executor ... with ID 4")."""
    return re.search(rf"Registered executor .* with ID {executor_id}\b", driver_log) is not None


def test_draining_the_spot_node_mid_run_decommissions_its_executors(cluster: Cluster, chart_run):
    """Mid-run (an executor there running a task), the spot worker is drained. The application
    completes on the on-demand worker; every drained executor the driver had registered is
    decommissioned in the driver's words (one still starting has nothing to hand over: its JVM
    may die of the signal before it registers); and (test_outputs_read_back_from_minio) every
    file is counted once."""
    state, _, driver_log, _ = chart_run
    (drain,) = DRAINS
    assert drain.node, "no executor was seen running a task on the spot worker, so nothing was drained"
    assert drain.result is not None and drain.result.returncode == 0, \
        f"kubectl drain {drain.node} failed:\n{drain.result.stdout if drain.result else ''}{drain.result.stderr if drain.result else ''}"
    assert state == "COMPLETED"
    known = {pod: eid for pod, eid in drain.executors.items() if eid and registered(driver_log, eid)}
    decommissioned = {pod: decommission_lines(driver_log, eid) for pod, eid in known.items()}
    SUMMARY.update({"drain: node": drain.node, "drain: executors on it": drain.executors,
                    "drain: still starting (never registered)": sorted(set(drain.executors) - set(known)),
                    "drain: driver's decommission lines": {p: [line[-140:] for line in lines[:2]] for p, lines in decommissioned.items()}})
    # The drain waited for an executor running a task, so at least that one had registered.
    assert decommissioned and all(decommissioned.values()), \
        f"drained executors without a decommission line in the driver log: {decommissioned}\n{driver_log[-3000:]}"


def test_tables_read_back_through_the_catalog(s3, catalog, uploaded, chart_run):
    run_id = current_run(catalog)
    assert run_id, "the features table has no snapshot with a run id"
    metrics = check_run_output(s3, catalog, run_id, listed=len(uploaded), k=KIND_VALUES["job"]["pcaK"])
    assert metrics["run_id"] == run_id
    SUMMARY.update({"chart run: run id": run_id, "chart run: images per second": metrics.get("images_per_second")})


def test_the_catalog_is_the_in_cluster_postgres_the_driver_was_told_of(cluster: Cluster, catalog, chart_run):
    """The driver registered both tables in the chart's PostgreSQL, whose URI (and password) it got
    from the chart's Secret, never as a value; PostgreSQL itself ran as a restricted pod."""
    assert set(catalog.list_tables(TABLE_NAMESPACE)) >= {(TABLE_NAMESPACE, name) for name in TABLES}
    (driver,) = cluster.pods(f"spark-role=driver,sparkoperator.k8s.io/app-name={APP}")
    env = {e.name: e for e in driver.spec.containers[0].env or []}
    assert env["FRUITS_CATALOG"].value == "sql" and env["FRUITS_CATALOG_NAMESPACE"].value == TABLE_NAMESPACE
    ref = env["FRUITS_CATALOG_URI"].value_from.secret_key_ref
    assert (ref.name, ref.key, env["FRUITS_CATALOG_URI"].value) == (f"{POSTGRES['name']}-credentials", "uri", None)
    (postgres,) = cluster.pods("app.kubernetes.io/component=catalog")
    container = postgres.spec.containers[0]
    assert postgres.status.phase == "Running" and postgres.spec.security_context.run_as_user == 999
    assert container.security_context.read_only_root_filesystem is True
    SUMMARY["catalog"] = f"PostgreSQL pod {postgres.metadata.name} on {postgres.spec.node_name}: {sorted(catalog.list_tables(TABLE_NAMESPACE))}"


def history_applications(url: str) -> list[dict] | str:
    """The History Server's application list, or why there is none yet."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except (OSError, ValueError) as exc:
        return repr(exc)


def test_history_server_lists_the_completed_application(cluster: Cluster, chart_run):
    """The History Server reads the event logs the driver wrote to MinIO and lists the chart's run,
    completed, in its REST API."""
    (app_id,) = CHART_APP_ID
    assert app_id, "the SparkApplication's status has no sparkApplicationId"
    url = f"http://{node_port(cluster, HISTORY, int(KIND_VALUES.get('historyServer', {}).get('port', 18080)), 'http')}" \
          "/api/v1/applications"
    answers: list = []

    def listed_as_completed():
        answers.append(history_applications(url))
        apps = answers[-1] if isinstance(answers[-1], list) else []
        return next((a for a in apps if a["id"] == app_id and a["attempts"] and all(t["completed"] for t in a["attempts"])), None)

    try:
        app = wait_for(f"{app_id} listed as completed at {url}", listed_as_completed, timeout=HISTORY_TIMEOUT_S, interval=5)
    except AssertionError as exc:
        pods = cluster.pods("app.kubernetes.io/component=history-server")
        log = cluster.log_tail(pods[0].metadata.name, lines=60) if pods else "(no History Server pod)"
        raise AssertionError(f"{exc}\nlast answer: {answers[-1:]}\nHistory Server log tail:\n{log}") from None
    SUMMARY.update({"history server: application": f"{app['id']} ({app['name']})",
                    "history server: applications listed": len(answers[-1])})


def test_manifest_sparkapp_completes_with_an_executor_killed_mid_run(cluster: Cluster, s3, catalog, uploaded, chart_run):
    """`kubectl apply -f manifests/sparkapp.yaml` (same object name as the chart's, so that one goes
    first). While it runs, one executor pod is killed without grace; Spark must retry its tasks."""
    previous = current_run(catalog)
    cluster.delete_sparkapp(APP)
    cluster.kubectl("apply", "-f", str(ROOT / "manifests" / "sparkapp.yaml"))
    killed: list[str] = []

    def kill_one_executor(_state: str) -> None:
        if killed:
            return
        for pod in cluster.pods(f"spark-role=executor,sparkoperator.k8s.io/app-name={APP}"):
            # Mid-run: an executor that is working on a task (its own log says so).
            if pod.status.phase == "Running" and "Running task" in cluster.log_tail(pod.metadata.name, lines=200):
                cluster.core.delete_namespaced_pod(pod.metadata.name, NAMESPACE, grace_period_seconds=0)
                killed.append(pod.metadata.name)
                return

    state, record, seconds = cluster.run_app(APP, timeout=APP_TIMEOUT_S, during=kill_one_executor)
    driver_log = cluster.driver_log(APP)
    SUMMARY.update({"manifest run: state": state, "manifest run: wall time (s)": round(seconds),
                    "manifest run: executor killed": killed, "manifest run: executor pods": len(record.seen)})
    assert killed, "no executor was Running with tasks to kill"
    assert state == "COMPLETED", f"state {state} after killing {killed}; driver log tail:\n{driver_log[-3000:]}"
    run_id = current_run(catalog)
    assert run_id != previous, "the manifest run did not commit a new run"
    check_run_output(s3, catalog, run_id, listed=len(uploaded), k=8)


def scheduled_runs(cluster: Cluster) -> list[str]:
    """Names of the SparkApplications the schedule has started, oldest first."""
    apps = cluster.custom.list_namespaced_custom_object(SPARK_GROUP, SPARK_VERSION, NAMESPACE, SPARK_PLURAL,
                                                        label_selector=f"sparkoperator.k8s.io/scheduled-app-name={SCHEDULED}")
    return [a["metadata"]["name"] for a in sorted(apps["items"], key=lambda a: a["metadata"]["creationTimestamp"])]


class UpgradeMidRun:
    """`helm upgrade` of the release while a scheduled run is running, with a value changed (the
    schedule's template changes): the running application must be left as it is."""

    def __init__(self, cluster: Cluster, name: str, values: list[str]):
        self.cluster, self.name, self.values = cluster, name, values
        self.driver_uid: str | None = None
        self.app_uid: str | None = None

    def __call__(self, state: str) -> None:
        if self.driver_uid is not None or state != "RUNNING":
            return
        drivers = [p for p in self.cluster.pods(f"spark-role=driver,sparkoperator.k8s.io/app-name={self.name}")
                   if p.status.phase == "Running"]
        if not drivers:
            return
        self.driver_uid, self.app_uid = drivers[0].metadata.uid, self.cluster.sparkapp(self.name)["metadata"]["uid"]
        self.cluster.helm("upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, *self.values, "--timeout", "5m")

    def check(self) -> None:
        assert self.driver_uid, f"{self.name} was never seen running with its driver, so no upgrade happened mid-run"
        (driver,) = self.cluster.pods(f"spark-role=driver,sparkoperator.k8s.io/app-name={self.name}")
        assert driver.metadata.uid == self.driver_uid, f"{self.name}'s driver was replaced after the helm upgrade"
        assert self.cluster.sparkapp(self.name)["metadata"]["uid"] == self.app_uid, f"{self.name} was re-created"


def spot_node(cluster: Cluster) -> str:
    return cluster.core.list_node(label_selector=f"{CAPACITY_LABEL}=spot").items[0].metadata.name


def test_scheduled_runs_featurize_only_what_changed(cluster: Cluster, s3, catalog, uploaded, chart_run):
    """The chart's ScheduledSparkApplication (`--incremental`), due every minute with Forbid, by a
    `helm upgrade` that turns the schedule on (and so the one-off application off): two runs, one
    after the other, each committing a run; the second reuses every file of the first, so it calls
    the model not once. Mid first run another `helm upgrade` changes a value: the running
    application keeps its driver and commits. The second runs with the spot worker cordoned:
    spot is only preferred, so its executors start on the on-demand worker."""
    values = helm_values(*SCHEDULE_VALUES)
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, *values, "--wait", "--timeout", "5m")
    assert cluster.sparkapp(APP) is None, "with a schedule the release still has its one-off SparkApplication"
    done: list[str] = []
    metrics: list[dict] = []
    spot = spot_node(cluster)
    try:
        while len(done) < SCHEDULED_RUNS:
            name = wait_for(f"run {len(done) + 1} of {SCHEDULED}",
                            lambda: next((n for n in scheduled_runs(cluster) if n not in done), None), timeout=180, interval=5)
            upgrade = UpgradeMidRun(cluster, name, [*values, "--set", "driver.annotations.upgraded=mid-run"]) if not done else None
            state, record, seconds = cluster.run_app(name, timeout=APP_TIMEOUT_S, during=upgrade)
            assert state == "COMPLETED", f"{name}: state {state}; driver log tail:\n{cluster.driver_log(name)[-3000:]}"
            if upgrade:
                upgrade.check()
                # The next run's executors find the spot worker unschedulable.
                cluster.kubectl("cordon", spot)
            else:
                capacity = {pod: SpotDrain(cluster).capacity(node) for pod, node in record.nodes.items()}
                assert record.running and set(capacity.values()) == {"on-demand"}, \
                    f"{name}'s executors with spot cordoned: {capacity}, running: {sorted(record.running)}"
            metrics.append(check_run_output(s3, catalog, current_run(catalog), listed=len(uploaded), k=KIND_VALUES["job"]["pcaK"]))
            done.append(name)
            SUMMARY[f"scheduled run {len(done)}: {name}"] = {"wall time (s)": round(seconds), "incremental": metrics[-1]["incremental"],
                                                             "model_calls": metrics[-1]["model_calls"],
                                                             "executor nodes": sorted(set(record.nodes.values()))}
    finally:
        cluster.kubectl("uncordon", spot, check=False)
        cluster.kubectl("-n", NAMESPACE, "delete", "scheduledsparkapplication", SCHEDULED, "--ignore-not-found", check=False)
    first, second = metrics
    assert first["settings"]["incremental"] and second["settings"]["incremental"]
    assert second["run_id"] != first["run_id"] and second["incremental"]["previous_run"] == first["run_id"]
    assert second["incremental"]["new"] == 0 and second["incremental"]["reused"] == len(uploaded), second["incremental"]
    assert second["model_calls"] == 0, second["model_calls"]


# A run deadline far shorter than a run: the driver fails the run, and says why where a person looks.
DEADLINE_S = 20


def test_run_past_its_deadline_fails_with_a_clear_message(cluster: Cluster, s3, tmp_path):
    """The chart's one-off SparkApplication with `job.deadlineSeconds` and no retry: the driver
    exits 124 past the deadline, the application FAILS with that exit code in its status, and the
    driver pod's termination message (`kubectl describe pod`) is its line `run deadline of N s
    reached` (operator 2.5.2 carries the exit code into the status and events, not the message)."""
    rendered = cluster.helm("template", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE,
                            *helm_values("--set", f"job.deadlineSeconds={DEADLINE_S}", "--set", "spark.restartPolicy.onFailureRetries=0"),
                            "--show-only", "templates/spark/sparkapplication.yaml").stdout
    (tmp_path / "deadline.yaml").write_text(rendered)
    cluster.delete_sparkapp(APP)
    cluster.kubectl("apply", "-f", str(tmp_path / "deadline.yaml"))
    try:
        state, _, seconds = cluster.run_app(APP, timeout=APP_TIMEOUT_S)
        status = (cluster.sparkapp(APP) or {}).get("status", {})
        (driver,) = cluster.pods(f"spark-role=driver,sparkoperator.k8s.io/app-name={APP}")
        ended = driver.status.container_statuses[0].state.terminated
    finally:
        cluster.delete_sparkapp(APP)
    error = status.get("applicationState", {}).get("errorMessage", "")
    said = (ended.message or "").strip() if ended else ""
    SUMMARY["deadline run"] = {"state": state, "wall time (s)": round(seconds), "status": error, "driver said": said}
    assert state == "FAILED", f"state {state} with a {DEADLINE_S} s deadline"
    assert "ExitCode: 124" in error, f"the status does not carry the deadline's exit code 124: {error!r}"
    line = f"run deadline of {DEADLINE_S} s reached"
    assert line in said, f"{line!r} not in the driver's termination message: {said!r}"


def live_executors(cluster: Cluster) -> list[str]:
    """The Connect server's executor pods that are starting or running (not going)."""
    return sorted(p.metadata.name for p in cluster.pods(CONNECT_EXECUTORS)
                  if p.metadata.deletion_timestamp is None and p.status.phase in ("Pending", "Running"))


def connect_client_work(port: int) -> list:
    """What a notebook on a laptop does: a Spark Connect session on the forwarded port, the
    featurizer of `fruits.api` on images the executors read from MinIO themselves."""
    from pyspark.sql import SparkSession

    import fruits.api as api

    spark = SparkSession.builder.remote(f"sc://127.0.0.1:{port}").getOrCreate()
    try:
        images = api.list_images(spark, f"s3a://{BUCKET}/{INPUT_PREFIX}")
        out = api.featurize(images.filter("reason is null").limit(CONNECT_SAMPLE), model="efficientnet-lite0", weights="random",
                            batch_size=8)
        return out.select("path", "features", "reason").collect()
    finally:
        spark.stop()


def admit_until_ready(cluster: Cluster, values: list[str], tmp_path: Path) -> None:
    """Wait until the operator's webhook admits the chart's SparkConnect (a server-side dry run): a
    webhook that has just started may still serve a certificate its configuration does not trust."""
    manifest = tmp_path / "sparkconnect.yaml"
    manifest.write_text(cluster.helm("template", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, *values,
                                     "--show-only", "templates/connect/sparkconnect.yaml").stdout)
    refusals: list[str] = []

    def admitted() -> bool:
        proc = cluster.kubectl("create", "--dry-run=server", "-f", str(manifest), check=False)
        refusals.append(proc.stderr.strip())
        return proc.returncode == 0

    try:
        wait_for("the operator's webhook admitting the chart's SparkConnect", admitted, timeout=120, interval=3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast refusal: {refusals[-1:]}") from None


def bounded(what: str, fn, timeout: float, diagnose) -> object:
    """fn() in a daemon thread, failing with `what` and diagnose() after `timeout` s (the thread is
    left behind: closing the port-forward ends its gRPC call)."""
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # re-raised in the test's own thread
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True, name=what)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"{what} did not finish within {timeout:.0f} s\n{diagnose()}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_connect_server_featurizes_from_outside_and_scales_its_executors(cluster: Cluster, s3, uploaded, monkeypatch, tmp_path):
    """`helm upgrade` with connect.enabled (the SparkApplication left out, as at the first install):
    the operator starts the chart's Spark Connect server; the test forwards its Service's port and,
    from outside the cluster, lists the sample and featurizes 8 images with `fruits.api`. The
    server's executors (none while idle) come up for the work and go back to none after it.

    `fruits.api` runs its driver's side in the client (the listing's plan and count, the check for
    an image pack), which S3 must answer there too: the server's S3 endpoint is one the host and
    the pods both reach (the NodePort in front of MinIO), which the client and the executors take
    from the server's session; the client has the job's keys in its environment, as a laptop has
    its own."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    minimum = KIND_VALUES["connect"]["dynamicAllocation"]["minExecutors"]
    server_log = lambda: f"server log tail:\n{cluster.log_tail(f'{CONNECT}-server', lines=60)}"  # noqa: E731
    keys = KIND_VALUES["s3"]["credentials"]
    for name, value in (("AWS_ACCESS_KEY_ID", keys["accessKeyId"]), ("AWS_SECRET_ACCESS_KEY", keys["secretAccessKey"]),
                        ("AWS_REGION", KIND_VALUES["s3"]["region"])):
        monkeypatch.setenv(name, value)
    # That endpoint is a node's address to the executors, outside what their policy opens (MinIO's
    # pods): a rule of `networkPolicy.extraEgress` opens that one address and port.
    endpoint = urlsplit(s3.meta.endpoint_url)
    to_endpoint = [{"to": [{"ipBlock": {"cidr": f"{endpoint.hostname}/32"}}], "ports": [{"protocol": "TCP", "port": endpoint.port}]}]
    values = helm_values(*CONNECT_VALUES, "--set", f"s3.endpoint={s3.meta.endpoint_url}",
                         "--set-json", f"networkPolicy.extraEgress={json.dumps(to_endpoint)}")
    admit_until_ready(cluster, values, tmp_path)
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", OPERATOR_NAMESPACE, *values,
                 "--post-renderer", sys.executable, "--post-renderer-args", str(Path(__file__).with_name("drop_sparkapp.py")),
                 "--wait", "--timeout", "5m")
    watcher = ExecutorWatcher(cluster.core, CONNECT, selector=CONNECT_EXECUTORS)
    try:
        def ready():
            status = (cluster.sparkconnect(CONNECT) or {}).get("status", {})
            return status if status.get("state") == "Ready" else None

        try:
            status = wait_for(f"SparkConnect {CONNECT} Ready (its server pod listening on {CONNECT_PORT})", ready,
                              timeout=CONNECT_READY_TIMEOUT_S, interval=3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{server_log()}") from None
        timings["server ready after (s)"] = time.monotonic() - started
        assert status["server"]["serviceName"] == CONNECT_SERVICE, status
        server = cluster.core.read_namespaced_pod(status["server"]["podName"], NAMESPACE)
        assert server.metadata.labels["app.kubernetes.io/component"] == "connect-server"
        assert server.spec.service_account_name == f"{RELEASE}-driver"
        assert server.spec.containers[0].security_context.read_only_root_filesystem is True
        idle = live_executors(cluster)
        assert len(idle) == minimum, f"the idle server runs {idle}, not its minimum of {minimum} executors"

        watcher.start()
        work_started = time.monotonic()
        with cluster.port_forward(CONNECT_SERVICE, CONNECT_PORT) as port:
            rows = bounded("fruits.api over Spark Connect", lambda: connect_client_work(port), CONNECT_WORK_TIMEOUT_S,
                           lambda: f"executors over time: {watcher.record.timeline}\n{server_log()}")
        timings["fruits.api work (s)"] = time.monotonic() - work_started
        assert len(rows) == CONNECT_SAMPLE, f"{len(rows)} rows, not {CONNECT_SAMPLE}"
        bad = [(r["path"], r["reason"], len(r["features"] or [])) for r in rows if r["reason"] is not None or len(r["features"] or []) != 1280]
        assert not bad, f"rows without 1280 features or with a reason: {bad}"
        elsewhere = [r["path"] for r in rows if not re.match(rf"s3a?://{BUCKET}/{INPUT_PREFIX}", r["path"])]
        assert not elsewhere, f"paths not under the uploaded sample: {elsewhere}"

        record = watcher.record
        assert record.peak_running > minimum, \
            f"the server's executors never went above its minimum of {minimum} during the work: {record.timeline}"
        executor = record.first_running
        assert executor.spec.service_account_name == f"{RELEASE}-executor", executor.spec.service_account_name
        assert executor.metadata.labels["app.kubernetes.io/component"] == "executor"
        assert not mounts_api_token(executor) and executor.spec.containers[0].security_context.read_only_root_filesystem is True

        scale_down_started = time.monotonic()
        try:
            wait_for(f"the server's executors back to its minimum of {minimum}", lambda: len(live_executors(cluster)) <= minimum,
                     timeout=CONNECT_SCALE_DOWN_TIMEOUT_S, interval=2)
        except AssertionError as exc:
            lines = [line for line in cluster.log_tail(f"{CONNECT}-server", lines=400).splitlines() if "idle" in line.lower()]
            raise AssertionError(f"{exc}\nexecutors over time: {watcher.record.timeline}\nserver's idle lines: {lines[-10:]}") from None
        timings["executors back to the minimum after (s)"] = time.monotonic() - scale_down_started
    finally:
        record = watcher.stop() if watcher.is_alive() else watcher.record
        SUMMARY.update({f"connect: {k}": round(v) for k, v in timings.items()})
        SUMMARY.update({"connect: peak executors running": record.peak_running,
                        "connect: running executors over time (s, n)": record.timeline,
                        "connect: test wall time (s)": round(time.monotonic() - started)})
        # Its server, Service and executors go with it (owner references); the cluster is deleted next anyway.
        cluster.kubectl("-n", NAMESPACE, "delete", "sparkconnect", CONNECT, "--ignore-not-found", "--wait=false", check=False)


def pytest_terminal_summary_lines() -> list[str]:
    return [f"{k}: {v}" for k, v in SUMMARY.items()]
