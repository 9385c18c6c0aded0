"""The tables' catalog: the driver alone is told where it is (FRUITS_CATALOG*), its URI with a
password only from a Secret; on kind a PostgreSQL in the cluster (restricted, amd64, reached by
the drivers alone), on EKS AWS Glue; the chart refuses settings the job would refuse."""

import re
from urllib.parse import unquote, urlsplit

import pytest

from chartkit import NAMESPACE, ROOT, assert_restricted, describe, need

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

CATALOG_VARS = ("FRUITS_CATALOG", "FRUITS_CATALOG_NAMESPACE", "FRUITS_CATALOG_URI", "FRUITS_CATALOG_WAREHOUSE")
POSTGRES = "postgres"  # catalog.postgres.name in values.yaml
SECRET = f"{POSTGRES}-credentials"


def specs(result) -> list[dict]:
    """The SparkApplication's spec and the ScheduledSparkApplication's template, where rendered."""
    return [a["spec"] for a in result.of_kind("SparkApplication")] + \
        [s["spec"]["template"] for s in result.of_kind("ScheduledSparkApplication")]


def catalog_env(pod: dict) -> dict[str, dict]:
    return {e["name"]: e for e in pod.get("env", []) if e["name"] in CATALOG_VARS}


def render(template, values_file, *args) -> list[dict]:
    proc = template(values_file, *args)
    assert proc.returncode == 0, describe(proc)
    return [o for o in yaml.safe_load_all(proc.stdout) if o]


@pytest.fixture(scope="module")
def kind(rendered):
    return rendered["values-kind.yaml"]


def test_kind_driver_finds_the_in_cluster_postgres_through_its_secret(kind):
    for spec in specs(kind):
        env = catalog_env(spec["driver"])
        assert env["FRUITS_CATALOG"]["value"] == "sql" and env["FRUITS_CATALOG_NAMESPACE"]["value"] == "fruits"
        assert env["FRUITS_CATALOG_URI"]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "uri"}
        assert "value" not in env["FRUITS_CATALOG_URI"], "a catalog password in the SparkApplication"
        assert not catalog_env(spec["executor"]), "executors decode untrusted files and never need the catalog"


def test_the_secrets_uri_names_the_service_its_user_database_and_password(kind):
    secret = kind.one("Secret", SECRET)["stringData"]
    service = kind.one("Service", POSTGRES)
    uri = urlsplit(secret["uri"])
    assert uri.scheme == "postgresql+psycopg2"
    assert (uri.hostname, uri.port) == (f"{POSTGRES}.{NAMESPACE}.svc", service["spec"]["ports"][0]["port"]) == (f"{POSTGRES}.fruits.svc", 5432)
    assert (uri.username, unquote(uri.password), uri.path) == (
        secret["POSTGRES_USER"], secret["POSTGRES_PASSWORD"], "/" + secret["POSTGRES_DB"])


def test_a_password_with_url_characters_is_encoded_in_the_uri(template):
    password = "p@ss:w/rd?#%&x"
    (secret,) = render(template, "values-kind.yaml", "--set-string", f"catalog.postgres.password={password}",
                       "--show-only", "templates/catalog/secret.yaml")
    uri = urlsplit(secret["stringData"]["uri"])
    assert unquote(uri.password) == password and uri.hostname == f"{POSTGRES}.{NAMESPACE}.svc"


def test_postgres_is_restricted_on_empty_dirs_with_resources(kind):
    deployment = kind.one("Deployment", POSTGRES)
    assert deployment["metadata"]["namespace"] == NAMESPACE and deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert_restricted(pod["securityContext"], container["securityContext"], POSTGRES)
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == 999
    assert pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/var/lib/postgresql/data": "data", "/tmp": "tmp"}
    assert all(volumes[name] == {"name": name, "emptyDir": {}} for name in mounts.values())
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    # The first start makes the user, password and database from the Secret the driver's URI is in.
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs == {name: {"name": SECRET, "key": name} for name in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")}
    assert container["ports"] == [{"name": "postgres", "containerPort": 5432}]
    assert container["readinessProbe"]["exec"]["command"][0] == "pg_isready"


def test_the_service_selects_the_postgres_pod(kind):
    service = kind.one("Service", POSTGRES)["spec"]
    deployment = kind.one("Deployment", POSTGRES)["spec"]
    assert service["selector"] == deployment["selector"]["matchLabels"] == deployment["template"]["metadata"]["labels"]
    assert service["ports"] == [{"name": "postgres", "port": 5432, "targetPort": "postgres"}]


def test_the_postgres_image_is_the_one_make_builds():
    """values.yaml's image is what `make catalog-image` tags (mk/e2e.mk), so kind-load loads it."""
    values = yaml.safe_load((ROOT / "charts" / "fruits-pipeline" / "values.yaml").read_text())["catalog"]["postgres"]["image"]
    mk = (ROOT / "mk" / "e2e.mk").read_text()
    major = re.search(r"^CATALOG_POSTGRES_MAJOR\s*\?=\s*(\S+)$", mk, re.M).group(1)
    image = re.search(r"^CATALOG_IMAGE\s*\?=\s*(\S+)$", mk, re.M).group(1).replace("$(CATALOG_POSTGRES_MAJOR)", major)
    assert f"{values['repository']}:{values['tag']}" == image
    assert "catalog-image" in re.search(r"^e2e-images:(.*)$", mk, re.M).group(1)
    assert "$(CATALOG_IMAGE)" in mk.split("kind-load:", 1)[1].split("\n\n", 1)[0]


def test_only_the_drivers_reach_postgres_and_it_reaches_nothing(kind):
    (policy,) = [p for p in kind.of_kind("NetworkPolicy") if p["metadata"]["labels"]["app.kubernetes.io/component"] == "catalog"]
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == kind.one("Deployment", POSTGRES)["spec"]["selector"]["matchLabels"]
    assert spec["policyTypes"] == ["Ingress", "Egress"] and spec["egress"] == []
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    (peer,) = rule["from"]
    selector = peer["podSelector"]["matchLabels"]
    for app in specs(kind):
        assert selector.items() <= app["driver"]["labels"].items(), "the policy misses the driver"
        assert not selector.items() <= app["executor"]["labels"].items(), "the policy lets executors in"


def test_no_catalog_policy_without_network_policies(template):
    objects = render(template, "values-kind.yaml", "--set", "networkPolicy.enabled=false")
    assert not [o for o in objects if o["kind"] == "NetworkPolicy"]


def test_eks_registers_the_tables_in_glue_with_no_postgres(rendered):
    eks = rendered["values-eks.yaml"]
    for spec in specs(eks):
        env = catalog_env(spec["driver"])
        assert {name: e.get("value") for name, e in env.items()} == {"FRUITS_CATALOG": "glue", "FRUITS_CATALOG_NAMESPACE": "fruits"}
    assert not [o for o in eks.objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "catalog"]


def test_an_existing_secret_holds_the_uri_and_wins_over_postgres(rendered, template):
    (spec,) = specs(rendered["ci/ci-values.yaml"])
    env = catalog_env(spec["driver"])
    assert env["FRUITS_CATALOG_URI"]["valueFrom"]["secretKeyRef"] == {"name": "lake-catalog", "key": "sqlalchemy-url"}
    assert env["FRUITS_CATALOG_NAMESPACE"]["value"] == "lake"
    (app,) = render(template, "values-kind.yaml", "--set", "catalog.existingSecret.name=shared-catalog",
                    "--show-only", "templates/spark/sparkapplication.yaml")
    ref = catalog_env(app["spec"]["driver"])["FRUITS_CATALOG_URI"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "shared-catalog", "key": "uri"}


def test_a_rest_catalog_gets_its_endpoint_and_warehouse_as_values(rendered):
    (spec,) = specs(rendered["ci/pod-identity-values.yaml"])
    env = {name: e.get("value") for name, e in catalog_env(spec["driver"]).items()}
    assert env == {"FRUITS_CATALOG": "rest", "FRUITS_CATALOG_NAMESPACE": "fruits",
                   "FRUITS_CATALOG_URI": "https://iceberg.internal.example/catalog", "FRUITS_CATALOG_WAREHOUSE": "lake"}


def test_a_uri_without_a_secret_is_a_plain_value_on_scheduled_runs_too(rendered):
    result = rendered["ci/scheduled-values.yaml"]
    envs = [catalog_env(spec["driver"]) for spec in specs(result)]
    assert len(envs) == 2 and envs[0] == envs[1]
    assert envs[0]["FRUITS_CATALOG_URI"] == {"name": "FRUITS_CATALOG_URI",
                                             "value": "postgresql+psycopg2://fruits@catalog.internal.example:5432/fruits"}


def test_a_local_output_may_keep_the_embedded_catalog(template):
    (app,) = render(template, None, "--set", "job.input=file:///data/in", "--set", "job.output=file:///data/out",
                    "--show-only", "templates/spark/sparkapplication.yaml")
    env = catalog_env(app["spec"]["driver"])
    assert env["FRUITS_CATALOG"]["value"] == "sql" and "FRUITS_CATALOG_URI" not in env
