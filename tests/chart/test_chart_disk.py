"""Local disk of the Spark pods: ephemeral-storage requests and limits, and Spark's local dirs on
emptyDirs of bounded size, so a large shuffle fails a task instead of evicting pods (DiskPressure)."""

import pytest

from chartkit import need

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

LOCAL_DIR = "spark.kubernetes.{role}.volumes.emptyDir.spark-local-dir-1.{key}"


def container(spec: dict, role: str) -> dict:
    """The role's container in its pod template, the one Spark fills in (operator 2.5.2 passes it)."""
    (found,) = spec[role]["template"]["spec"]["containers"]
    assert found["name"] == f"spark-kubernetes-{role}"
    return found


@pytest.mark.parametrize("values_file, role, requested, limit, size", [
    ("values-eks.yaml", "executor", "40Gi", "48Gi", "32Gi"),
    ("values-eks.yaml", "driver", "8Gi", "16Gi", "8Gi"),
    ("values-kind.yaml", "executor", "1Gi", "4Gi", "2Gi"),
])
def test_local_disk_is_requested_limited_and_bounded(rendered, values_file, role, requested, limit, size):
    spec = rendered[values_file].app_spec()
    resources = container(spec, role)["resources"]
    assert resources == {"requests": {"ephemeral-storage": requested}, "limits": {"ephemeral-storage": limit}}
    conf = spec["sparkConf"]
    assert conf[LOCAL_DIR.format(role=role, key="options.sizeLimit")] == size
    assert conf[LOCAL_DIR.format(role=role, key="mount.path")] == "/var/data/spark-local-dir-1"
    # The local dir fills up (a task fails, and is retried elsewhere) before the pod's limit evicts it.
    assert float(size[:-2]) < float(limit[:-2])


def test_no_template_and_no_local_dir_setting_when_unset(rendered):
    spec = rendered["ci/ci-values.yaml"].app_spec()
    assert "template" not in spec["driver"] and "template" not in spec["executor"]
    assert not [k for k in spec["sparkConf"] if "spark-local-dir" in k]


def test_a_bad_quantity_is_refused(template):
    proc = template("values-kind.yaml", "--set", "executor.ephemeralStorage.limit=lots")
    assert proc.returncode != 0 and "/executor/ephemeralStorage/limit" in proc.stderr, proc.stderr


def test_the_connect_server_and_its_executors_get_the_same_disk(template):
    proc = template("values-kind.yaml", "--set", "connect.enabled=true", "--set", "driver.ephemeralStorage.request=2Gi",
                    "--show-only", "templates/connect/sparkconnect.yaml")
    assert proc.returncode == 0, proc.stderr
    spec = yaml.safe_load(proc.stdout)["spec"]
    (server,) = spec["server"]["template"]["spec"]["containers"]
    (executor,) = spec["executor"]["template"]["spec"]["containers"]
    assert server["resources"]["requests"]["ephemeral-storage"] == "2Gi" and "cpu" in server["resources"]["requests"]
    assert executor["resources"] == {"requests": {"ephemeral-storage": "1Gi"}, "limits": {"ephemeral-storage": "4Gi"}}
    assert spec["sparkConf"][LOCAL_DIR.format(role="executor", key="options.sizeLimit")] == "2Gi"
