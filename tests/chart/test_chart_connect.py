"""The Spark Connect server (`connect.enabled`): a SparkConnect the operator's CRD accepts, whose
pods are the SparkApplication's (same image, accounts, contexts, environment, placement, S3 and
Spark settings), under dynamic allocation with shuffle tracking, reachable on port 15002 by its
executors and the listed clients only; nothing of it when off."""

import re

import pytest

from chartkit import CHART, NAMESPACE, Rendered, assert_restricted, describe, need

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

PORT = 15002
ON = ("--set", "connect.enabled=true")
CONNECT_CI = "ci/ci-values.yaml"  # the values file that turns Connect on, with in-cluster clients
# Keys the SparkConnect states in fields of its own, or that only the Connect server needs.
CONNECT_ONLY = re.compile(r"^spark\.(dynamicAllocation\.|connect\.|kubernetes\.(executor|container)\.|executor\.memoryOverhead$)")


@pytest.fixture(scope="module")
def connect(template, rendered) -> dict[str, Rendered]:
    """kind and EKS with Connect on (beside the SparkApplication), and the CI values that turn it on."""
    out = {CONNECT_CI: rendered[CONNECT_CI]}
    for values_file in ("values-kind.yaml", "values-eks.yaml"):
        proc = template(values_file, *ON)
        assert proc.returncode == 0, describe(proc)
        out[values_file] = Rendered(values_file, proc.stdout, [o for o in yaml.safe_load_all(proc.stdout) if o])
    return out


def server_and_executor(result: Rendered) -> tuple[dict, dict]:
    spec = result.one("SparkConnect")["spec"]
    return spec["server"]["template"], spec["executor"]["template"]


def container(template: dict) -> dict:
    (found,) = template["spec"]["containers"]
    return found


def pods(result: Rendered) -> list[dict]:
    """The two pod templates as the Pods the operator and Spark make of them, for kubeconform."""
    name = result.one("SparkConnect")["metadata"]["name"]
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-{role}", **template["metadata"]}, "spec": template["spec"]}
            for role, template in zip(("server", "exec-1"), server_and_executor(result), strict=True)]


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_off_by_default_renders_nothing_of_it(rendered, values_file):
    result = rendered[values_file]
    assert not result.of_kind("SparkConnect")
    ours = [o for o in result.objects if o["metadata"].get("labels", {}).get("helm.sh/chart", "").startswith("fruits-pipeline-")]
    assert ours and not [o["metadata"]["name"] for o in ours if "connect" in o["metadata"]["name"] or "connect-server" in yaml.safe_dump(o)]


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml", CONNECT_CI])
def test_sparkconnect_and_its_pod_templates_are_valid(validate, connect, values_file):
    """The SparkConnect against the v2.5.2 CRD's schema (strict), and its two pod templates, which
    the CRD leaves schemaless, against the Kubernetes Pod schema."""
    result = connect[values_file]
    for text in (yaml.safe_dump(result.one("SparkConnect")), yaml.safe_dump_all(pods(result))):
        proc = validate(stdin=text)
        assert proc.returncode == 0 and re.search(r"Invalid: 0, Errors: 0, Skipped: 0", proc.stdout), describe(proc)


def test_crd_schema_rejects_a_misspelt_field(validate, connect):
    text = yaml.safe_dump(connect["values-kind.yaml"].one("SparkConnect")).replace("dynamicAllocation:", "dynamicAlocation:")
    proc = validate(stdin=text)
    assert proc.returncode != 0 and "dynamicAlocation" in proc.stdout, describe(proc)


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml", CONNECT_CI])
def test_pods_are_the_sparkapplications_driver_and_executors(connect, values_file):
    result = connect[values_file]
    conn = result.one("SparkConnect")["spec"]
    app = result.app_spec()
    assert (conn["image"], conn["sparkVersion"]) == (app["image"], app["sparkVersion"])
    assert conn["hadoopConf"] == app["hadoopConf"]
    for role, template in zip(("driver", "executor"), server_and_executor(result), strict=True):
        pod, box, spark = template["spec"], container(template), app[role]
        assert pod["serviceAccountName"] == spark["serviceAccount"], role
        assert pod["securityContext"] == spark["podSecurityContext"] and box["securityContext"] == spark["securityContext"], role
        assert_restricted(pod["securityContext"], box["securityContext"], role)
        assert (box["image"], box["imagePullPolicy"]) == (app["image"], app["imagePullPolicy"]), role
        assert box["volumeMounts"] == spark["volumeMounts"] and pod["volumes"] == app["volumes"], role
        for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
            assert pod.get(key) == spark.get(key), (role, key)
        assert pod.get("imagePullSecrets", []) == [{"name": s} for s in app.get("imagePullSecrets", [])], role
        sized = conn["server" if role == "driver" else "executor"]
        assert (sized["cores"], sized["memory"]) == (spark["cores"], spark["memory"]), role
        own = [e for e in box["env"] if e["name"] != "SPARK_LOG_DIR"]
        assert own == spark["env"], role
        # The role's labels (driver.labels, executor.labels); the server's component is its own.
        others = {k: v for k, v in spark["labels"].items() if k != "app.kubernetes.io/component"}
        assert template["metadata"]["labels"].items() >= others.items(), role
    assert container(server_and_executor(result)[1])["name"] == "spark-kubernetes-executor"
    assert server_and_executor(result)[1]["spec"]["terminationGracePeriodSeconds"] == app["executor"]["terminationGracePeriodSeconds"]
    # The SparkApplication's Spark settings, less what the SparkConnect states otherwise.
    shared = {k: v for k, v in app["sparkConf"].items() if not CONNECT_ONLY.match(k)}
    assert conn["sparkConf"].items() >= shared.items()


def test_component_labels_come_from_the_templates(connect):
    """The operator copies the SparkConnect's labels onto the executors over their template's: none
    of them may say which component a pod is."""
    result = connect["values-kind.yaml"]
    assert "app.kubernetes.io/component" not in result.one("SparkConnect")["metadata"]["labels"]
    server, executor = server_and_executor(result)
    assert server["metadata"]["labels"]["app.kubernetes.io/component"] == "connect-server"
    assert executor["metadata"]["labels"]["app.kubernetes.io/component"] == "executor"


def test_server_pod_is_sized_as_the_driver_pod(connect):
    """The operator makes the server pod itself, so the chart sizes it as Spark sizes a driver pod:
    heap plus overhead (kind: 768m + 3g), the driver's CPU request and limit."""
    box = container(server_and_executor(connect["values-kind.yaml"])[0])
    assert box["resources"] == {"requests": {"cpu": "250m", "memory": "3840Mi"}, "limits": {"cpu": "1", "memory": "3840Mi"}}
    conf = connect["values-kind.yaml"].one("SparkConnect")["spec"]["sparkConf"]
    assert (conf["spark.kubernetes.executor.request.cores"], conf["spark.kubernetes.executor.limit.cores"]) == ("250m", "1")
    assert conf["spark.executor.memoryOverhead"] == "1536m"
    eks = container(server_and_executor(connect["values-eks.yaml"])[0])
    # and the driver's local disk (driver.ephemeralStorage).
    assert eks["resources"] == {"requests": {"cpu": "1", "memory": "7168Mi", "ephemeral-storage": "8Gi"},
                                "limits": {"memory": "7168Mi", "ephemeral-storage": "16Gi"}}


@pytest.mark.parametrize("values_file", ["values-kind.yaml", CONNECT_CI])
def test_dynamic_allocation_with_shuffle_tracking_from_connect_values(connect, values_file):
    spec = connect[values_file].one("SparkConnect")["spec"]
    wanted = yaml.safe_load((CHART / values_file).read_text())["connect"]["dynamicAllocation"]
    da = spec["dynamicAllocation"]
    assert da["enabled"] is True and da["shuffleTrackingEnabled"] is True
    assert (da["initialExecutors"], da["minExecutors"], da["maxExecutors"]) == \
        (wanted["initialExecutors"], wanted["minExecutors"], wanted["maxExecutors"])
    assert da["shuffleTrackingTimeout"] == wanted["shuffleTrackingTimeoutSeconds"] * 1000
    conf = spec["sparkConf"]
    assert conf["spark.dynamicAllocation.executorIdleTimeout"] == f"{wanted['executorIdleTimeoutSeconds']}s"
    assert conf["spark.dynamicAllocation.cachedExecutorIdleTimeout"] == f"{wanted['cachedExecutorIdleTimeoutSeconds']}s"
    assert conf["spark.dynamicAllocation.shuffleTracking.timeout"] == f"{wanted['shuffleTrackingTimeoutSeconds']}s"
    # No fixed executor count: dynamic allocation alone sizes the server's executors.
    assert "instances" not in spec["executor"]


def test_kind_executors_go_back_within_a_minute(connect):
    conf = connect["values-kind.yaml"].one("SparkConnect")["spec"]["sparkConf"]
    for key in ("executorIdleTimeout", "shuffleTracking.timeout", "cachedExecutorIdleTimeout"):
        assert int(conf[f"spark.dynamicAllocation.{key}"].rstrip("s")) <= 60, key


def test_server_listens_on_15002_and_is_ready_once_it_does(connect):
    result = connect["values-kind.yaml"]
    box = container(server_and_executor(result)[0])
    assert box["name"] == "spark-kubernetes-driver"
    assert box["ports"] == [{"name": "spark-connect", "containerPort": PORT, "protocol": "TCP"}]
    assert box["readinessProbe"]["tcpSocket"] == {"port": "spark-connect"}
    conf = result.one("SparkConnect")["spec"]["sparkConf"]
    assert conf["spark.connect.grpc.binding.port"] == str(PORT)
    # Executors dial the server at its pod IP (spark.driver.host), not at its bind address 0.0.0.0.
    assert conf["spark.kubernetes.executor.useDriverPodIP"] == "false"
    # The operator names its Service after the SparkConnect: "<name>-server".
    meta = result.one("SparkConnect")["metadata"]
    assert (meta["name"], meta["namespace"]) == ("fruits-pipeline-connect", NAMESPACE)


def test_a_long_release_name_still_leaves_room_for_the_operators_suffix(template):
    release = "r" + "x" * 60
    proc = template("values-kind.yaml", *ON, "--set", f"fullnameOverride={release}", "--show-only", "templates/connect/sparkconnect.yaml")
    assert proc.returncode == 0, describe(proc)
    name = yaml.safe_load(proc.stdout)["metadata"]["name"]
    # The operator's webhook refuses a name whose "<name>-server" Service would pass 63 characters.
    assert len(name) <= 63 - len("-server") and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), name


def policy(result: Rendered, name: str) -> dict:
    return result.one("NetworkPolicy", name)["spec"]


def components(peers: list[dict]) -> list[str]:
    return [p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component", "") for p in peers]


def test_network_policies_admit_the_server_its_executors_and_listed_clients(connect):
    result = connect[CONNECT_CI]
    server, executor = server_and_executor(result)
    spec = policy(result, "fruits-pipeline-connect")
    assert spec["podSelector"]["matchLabels"].items() <= server["metadata"]["labels"].items()
    assert spec["policyTypes"] == ["Ingress"]
    from_executors, from_clients = spec["ingress"]
    assert components(from_executors["from"]) == ["executor"] and "ports" not in from_executors
    assert from_clients["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "notebooks"}}}]
    assert from_clients["ports"] == [{"protocol": "TCP", "port": PORT}]
    # The executors' policy selects the server's executors, and lets them and the server talk.
    executors = policy(result, "fruits-pipeline-executor")
    assert executors["podSelector"]["matchLabels"].items() <= executor["metadata"]["labels"].items()
    assert components(executors["ingress"][0]["from"]) == components(executors["egress"][0]["to"]) == \
        ["driver", "executor", "connect-server"]


def test_without_clients_only_the_executors_reach_the_server(connect):
    (only,) = policy(connect["values-kind.yaml"], "fruits-pipeline-connect")["ingress"]
    assert components(only["from"]) == ["executor"]


def test_the_server_reaches_the_catalog_the_driver_does(connect):
    (rule,) = policy(connect["values-kind.yaml"], "fruits-pipeline-catalog")["ingress"]
    assert components(rule["from"]) == ["driver", "connect-server"]


def test_the_operator_chart_needs_no_value_for_sparkconnect(connect):
    """spark-operator 2.5.2 always runs its SparkConnect controller and webhook; its chart installs
    the CRD and grants the controller, in the job's namespace, what the controller calls."""
    result = connect["values-kind.yaml"]
    (role,) = [r for r in result.of_kind("Role") if r["metadata"]["name"].endswith("spark-operator-controller")
               and r["metadata"]["namespace"] == NAMESPACE]
    verbs = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    for resource in ("pods", "configmaps", "services"):
        assert {(resource, "create"), (resource, "update")} <= verbs, resource
    assert {("sparkconnects", "watch"), ("sparkconnects/status", "update")} <= verbs
    (webhook,) = result.of_kind("ValidatingWebhookConfiguration")
    assert any("sparkconnects" in r["resources"] for hook in webhook["webhooks"] for r in hook["rules"])


CONNECT_RULES = {
    "max_below_min": (["--set", "connect.dynamicAllocation.minExecutors=3,connect.dynamicAllocation.initialExecutors=3"],
                      "connect.dynamicAllocation.maxExecutors (2) must be >= connect.dynamicAllocation.minExecutors (3)"),
    "initial_above_max": (["--set", "connect.dynamicAllocation.initialExecutors=5"],
                          "connect.dynamicAllocation.initialExecutors (5) must lie between minExecutors (0) and maxExecutors (2)"),
    "unknown_key": (["--set", "connect.port=15003"], "at '/connect': additional properties 'port' not allowed"),
    "client_not_a_peer": (["--set-json", 'connect.networkPolicy.clients=[{"cidr":"10.0.0.0/8"}]'],
                          "at '/connect/networkPolicy/clients/0': additional properties 'cidr' not allowed"),
    "conf_value_with_a_blank": (["--set-json", 'spark.conf={"spark.driver.extraJavaOptions":"-Da=1 -Db=2"}'],
                                "sparkConf spark.driver.extraJavaOptions=-Da=1 -Db=2 holds a blank or a shell character"),
    "hadoop_value_with_a_dollar": (["--set-json", 'spark.hadoopConf={"fs.s3a.bucket.x.endpoint":"$HOST"}'],
                                   "hadoopConf fs.s3a.bucket.x.endpoint=$HOST holds a blank or a shell character"),
}


@pytest.mark.parametrize("rule", CONNECT_RULES)
def test_bad_connect_values_are_refused(template, rule):
    args, message = CONNECT_RULES[rule]
    proc = template("values-kind.yaml", *ON, *args)
    assert proc.returncode != 0 and message in proc.stderr, describe(proc)


def test_shell_characters_are_refused_only_with_connect_on(template):
    proc = template("values-kind.yaml", "--set-json", 'spark.conf={"spark.driver.extraJavaOptions":"-Da=1 -Db=2"}')
    assert proc.returncode == 0, describe(proc)


def test_notes_say_how_to_connect(notes):
    text = notes(CONNECT_CI)
    assert f"kubectl -n {NAMESPACE} port-forward svc/fruits-pipeline-connect-server {PORT}:{PORT}" in text
    assert f'SparkSession.builder.remote("sc://127.0.0.1:{PORT}")' in text
    assert "port-forward svc/fruits-pipeline-connect-server" not in notes("values-kind.yaml")
