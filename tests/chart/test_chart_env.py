"""Per-role environment (`driver.env`, `executor.env`): each variable reaches the role it is given
for, after the chart's own variables, on the one-off and the scheduled application; bad names are
refused by the schema, and a name the chart sets itself is refused, not overridden."""

import json

import pytest

from chartkit import describe, need

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

SCHEDULED = "ci/scheduled-values.yaml"
APP = "templates/spark/sparkapplication.yaml"


def env(pod: dict) -> list[tuple[str, str | None]]:
    return [(e["name"], e.get("value")) for e in pod.get("env", [])]


def app_spec(template, values_file, *args) -> dict:
    proc = template(values_file, *args, "--show-only", APP)
    assert proc.returncode == 0, describe(proc)
    return yaml.safe_load(proc.stdout)["spec"]


@pytest.fixture(scope="module")
def plain(template) -> dict:
    """The kind SparkApplication without any env values: the chart's own variables per role."""
    return app_spec(template, "values-kind.yaml")


def test_default_env_is_only_the_charts_own(plain):
    assert [n for n, _ in env(plain["driver"])] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "HOME", "FRUITS_POD_UID",
                                                    "FRUITS_CATALOG", "FRUITS_CATALOG_NAMESPACE", "FRUITS_CATALOG_URI"]
    assert [n for n, _ in env(plain["executor"])][-1] == "DECOM_TIMEOUT_S"


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml", SCHEDULED])
def test_the_driver_names_its_lock_by_its_pod_uid(rendered, values_file):
    """The output lock's holder is the pod (its UID), not its host name: two pods of one name in two
    namespaces are two holders (fruits.table.lock)."""
    objects = rendered[values_file].of_kind("SparkApplication") + [
        {"spec": o["spec"]["template"]} for o in rendered[values_file].of_kind("ScheduledSparkApplication")]
    assert objects
    for spec in (o["spec"] for o in objects):
        driver = {e["name"]: e for e in spec["driver"]["env"]}
        assert driver["FRUITS_POD_UID"] == {"name": "FRUITS_POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}
        assert "FRUITS_POD_UID" not in {e["name"] for e in spec["executor"]["env"]}


def test_driver_env_is_rendered_on_the_driver_only_after_the_charts_own(template, plain):
    spec = app_spec(template, "values-kind.yaml", "--set-string",
                    "driver.env.FRUITS_PROGRESS_SECONDS=30,driver.env.FRUITS_MAX_PIXELS=1000")
    # The chart's own first, unchanged, then the role's in name order.
    assert env(spec["driver"]) == env(plain["driver"]) + [("FRUITS_MAX_PIXELS", "1000"), ("FRUITS_PROGRESS_SECONDS", "30")]
    assert env(spec["executor"]) == env(plain["executor"])


def test_executor_env_is_rendered_on_the_executors_only_after_the_charts_own(template, plain):
    spec = app_spec(template, "values-kind.yaml", "--set-string", "executor.env.TF_CPP_MIN_LOG_LEVEL=1")
    assert env(spec["executor"]) == env(plain["executor"]) + [("TF_CPP_MIN_LOG_LEVEL", "1")]
    assert env(spec["driver"]) == env(plain["driver"])


def test_env_values_are_rendered_as_the_exact_strings(template):
    value = 'a "quoted" value: with # and\nsecond line'
    given = {"FRUITS_SPARK_LOG_LEVEL": value, "FRUITS_SPARK_UI": "true"}
    spec = app_spec(template, "values-kind.yaml", "--set-json", f"driver.env={json.dumps(given)}")
    assert dict(env(spec["driver"]))["FRUITS_SPARK_LOG_LEVEL"] == value
    assert dict(env(spec["driver"]))["FRUITS_SPARK_UI"] == "true"  # a string, not a YAML boolean


def test_scheduled_application_gets_the_same_role_env(rendered):
    result = rendered[SCHEDULED]
    once = result.app_spec()
    scheduled = result.one("ScheduledSparkApplication")["spec"]["template"]
    for spec in (once, scheduled):
        driver, executor = dict(env(spec["driver"])), dict(env(spec["executor"]))
        assert (driver["FRUITS_PROGRESS_SECONDS"], driver["FRUITS_SPARK_LOG_LEVEL"]) == ("30", "INFO")
        assert executor["TF_CPP_MIN_LOG_LEVEL"] == "1"
        assert "TF_CPP_MIN_LOG_LEVEL" not in driver and "FRUITS_PROGRESS_SECONDS" not in executor
    assert env(once["driver"]) == env(scheduled["driver"]) and env(once["executor"]) == env(scheduled["executor"])


@pytest.mark.parametrize("role, name", [
    ("driver", "fruits_progress_seconds"),  # lower case
    ("executor", "1TF_CPP_MIN_LOG_LEVEL"),  # starts with a digit
    ("driver", "FRUITS-PROGRESS"),  # not a shell name
])
def test_bad_env_name_is_refused_by_the_schema(template, role, name):
    proc = template("values-kind.yaml", "--set-string", f"{role}.env.{name}=1")
    assert proc.returncode != 0, f"helm accepted a bad env name:\n{describe(proc)}"
    assert f"at '/{role}/env': additional properties '{name}' not allowed" in proc.stderr, describe(proc)


def test_env_value_that_is_not_a_string_is_refused(template):
    proc = template("values-kind.yaml", "--set", "driver.env.FRUITS_PROGRESS_SECONDS=30")
    assert proc.returncode != 0, describe(proc)
    assert "at '/driver/env/FRUITS_PROGRESS_SECONDS': got number, want string" in proc.stderr, describe(proc)


@pytest.mark.parametrize("values_file, role, name", [
    ("values-kind.yaml", "driver", "HOME"),
    ("values-kind.yaml", "driver", "FRUITS_POD_UID"),
    ("values-kind.yaml", "driver", "AWS_SECRET_ACCESS_KEY"),
    ("values-kind.yaml", "driver", "FRUITS_CATALOG_URI"),
    ("values-eks.yaml", "driver", "FRUITS_CATALOG"),
    ("values-kind.yaml", "executor", "AWS_REGION"),
    ("values-kind.yaml", "executor", "DECOM_TIMEOUT_S"),
    (SCHEDULED, "executor", "HOME"),
])
def test_a_name_the_chart_sets_itself_is_refused_not_duplicated(template, values_file, role, name):
    proc = template(values_file, "--set-string", f"{role}.env.{name}=x")
    assert proc.returncode != 0, f"helm accepted a second {name}:\n{describe(proc)}"
    assert f"{role}.env.{name}: the chart sets {name} on the " in proc.stderr, describe(proc)
    assert "change those instead of overriding it" in proc.stderr, describe(proc)


@pytest.mark.parametrize("values_file, args, role, name", [
    # On eks the chart sets no AWS_* variable (IRSA or Pod Identity), so the name is free.
    ("values-eks.yaml", ["--set", "job.runOnce=true"], "driver", "AWS_REGION"),
    # DECOM_TIMEOUT_S is the executors' only, and only with decommissioning.
    ("values-kind.yaml", ["--set", "decommission.enabled=false"], "executor", "DECOM_TIMEOUT_S"),
    # The catalog is the driver's: the executors never reach it.
    ("values-kind.yaml", [], "executor", "FRUITS_CATALOG_URI"),
])
def test_a_name_the_chart_does_not_set_on_that_role_is_accepted_once(template, values_file, args, role, name):
    spec = app_spec(template, values_file, *args, "--set-string", f"{role}.env.{name}=x")
    assert [n for n, _ in env(spec[role])].count(name) == 1
    assert dict(env(spec[role]))[name] == "x"
