"""Where the pods may run: every pod of the chart, the operator's included, on amd64 nodes only
(the image has no arm64 build), whatever the values file; and idle executors released even when
they hold cached blocks."""

import pytest

from chartkit import VALUES_FILES

pytestmark = pytest.mark.chart

ARCH = ("kubernetes.io/arch", "amd64")


def pod_specs(rendered) -> list[tuple[str, dict]]:
    """(where, pod spec, SparkApplication role spec or SparkConnect pod template spec) of every pod the chart makes."""
    found = []
    for obj in rendered.objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            found.append((f"{kind} {name}", obj["spec"]["template"]["spec"]))
        elif kind == "SparkApplication":
            found += [(f"{kind} {name} {role}", obj["spec"][role]) for role in ("driver", "executor")]
        elif kind == "ScheduledSparkApplication":
            found += [(f"{kind} {name} {role}", obj["spec"]["template"][role]) for role in ("driver", "executor")]
        elif kind == "SparkConnect":
            found += [(f"{kind} {name} {role}", obj["spec"][role]["template"]["spec"]) for role in ("server", "executor")]
    return found


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_every_pod_is_pinned_to_amd64_nodes(rendered, values_file):
    pods = pod_specs(rendered[values_file])
    assert any("SparkApplication" in where for where, _ in pods), "no Spark pod rendered"
    unpinned = [where for where, spec in pods if (spec.get("nodeSelector") or {}).get(ARCH[0]) != ARCH[1]]
    assert not unpinned, f"{values_file}: pods that may land on arm64 nodes: {unpinned}"


def test_the_eks_nodes_selectors_keep_the_arch_pin_beside_their_own(rendered):
    spec = rendered["values-eks.yaml"].app_spec()
    assert spec["driver"]["nodeSelector"] == {"karpenter.sh/capacity-type": "on-demand", "kubernetes.io/os": "linux", ARCH[0]: ARCH[1]}
    assert spec["executor"]["nodeSelector"] == {"kubernetes.io/os": "linux", ARCH[0]: ARCH[1]}


def test_arch_pin_can_be_lifted_for_a_multi_arch_image(template):
    import yaml

    proc = template("values-eks.yaml", "--set", "nodeSelector.kubernetes\\.io/arch=null", "--set", "job.runOnce=true",
                    "--show-only", "templates/spark/sparkapplication.yaml")
    assert proc.returncode == 0, proc.stderr
    assert ARCH[0] not in yaml.safe_load(proc.stdout)["spec"]["driver"]["nodeSelector"]


@pytest.mark.parametrize("values_file", ["values-eks.yaml", "values-kind.yaml"])
def test_idle_executors_holding_cached_blocks_are_released(rendered, values_file):
    conf = rendered[values_file].app_spec()["sparkConf"]
    assert conf["spark.dynamicAllocation.cachedExecutorIdleTimeout"].endswith("s")
    assert int(conf["spark.dynamicAllocation.cachedExecutorIdleTimeout"][:-1]) >= int(conf["spark.dynamicAllocation.executorIdleTimeout"][:-1])


def operator_pods(rendered) -> dict[str, dict]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in rendered.of_kind("Deployment")
            if o["metadata"]["name"].startswith("fruits-pipeline-spark-operator")}


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_the_operators_pods_are_not_best_effort(rendered, values_file):
    """The webhook admits every Spark pod (failurePolicy Fail): under node pressure it must not be
    the first pod evicted."""
    pods = operator_pods(rendered[values_file])
    if not pods:
        pytest.skip(f"{values_file} brings no operator")
    assert {name.rsplit("-", 1)[-1] for name in pods} == {"controller", "webhook"}
    for name, pod in pods.items():
        for container in pod["containers"]:
            requests = container.get("resources", {}).get("requests", {})
            assert requests.get("cpu") and requests.get("memory"), f"{values_file}: {name} requests nothing"
            assert container["resources"].get("limits", {}).get("memory"), f"{values_file}: {name} has no memory limit"


def test_the_eks_webhook_replicas_spread_over_nodes(rendered):
    (webhook,) = [p for n, p in operator_pods(rendered["values-eks.yaml"]).items() if n.endswith("webhook")]
    spread = {c["topologyKey"]: c for c in webhook["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["kubernetes.io/hostname"]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "webhook"
