"""The driver's Role: only what Spark on Kubernetes calls, only in its namespace."""

import pytest

pytestmark = pytest.mark.chart

SPARK_RESOURCES = {"pods", "services", "configmaps", "persistentvolumeclaims"}


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_driver_role_is_least_privilege(rendered, values_file):
    result = rendered[values_file]
    ours = [r for r in result.of_kind("Role") if r["metadata"]["name"].endswith("-spark-driver")]
    (role,) = ours
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""], rule
        assert set(rule["resources"]) <= SPARK_RESOURCES, rule
        assert "*" not in rule["verbs"] and "escalate" not in rule["verbs"], rule
    granted = {res for rule in role["rules"] for res in rule["resources"]}
    assert granted == SPARK_RESOURCES
    cluster_wide = result.of_kind("ClusterRole") + result.of_kind("ClusterRoleBinding")
    ours = [r["metadata"]["name"] for r in cluster_wide if r["metadata"]["labels"]["helm.sh/chart"].startswith("fruits-pipeline-")]
    assert not ours, f"cluster-wide RBAC from this chart: {ours}"


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_role_is_bound_to_the_account_the_pods_use(rendered, values_file):
    result = rendered[values_file]
    spec = result.app_spec()
    bindings = [b for b in result.of_kind("RoleBinding") if b["metadata"]["name"].endswith("-spark-driver")]
    (binding,) = bindings
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": spec["driver"]["serviceAccount"], "namespace": "fruits"}
    ]
    assert binding["roleRef"]["name"] == binding["metadata"]["name"]
    result.one("ServiceAccount", spec["driver"]["serviceAccount"])


def test_operator_chart_leaves_spark_rbac_to_this_chart(rendered):
    result = rendered["values-kind.yaml"]
    names = {o["metadata"]["name"] for o in result.of_kind("ServiceAccount")}
    assert not [n for n in names if n.endswith("spark-operator-spark")], names
