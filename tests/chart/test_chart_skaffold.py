"""skaffold.yaml against skaffold's published JSON schema for its apiVersion.

The skaffold binary is not built (its module has replace directives, so no `go install` by
version); the schema of the pinned release is read from its Go module instead. Each profile is
checked too, with its JSON patches applied the way skaffold applies them."""

import copy
import json

import pytest

from chartkit import CHART, ROOT, module_dir, need, versions

pytestmark = pytest.mark.chart
jsonschema = need("jsonschema", "jsonschema")
yaml = need("yaml", "pyyaml")


@pytest.fixture(scope="module")
def skaffold_schema():
    pins = versions()
    root = module_dir("github.com/GoogleContainerTools/skaffold/v2", pins["SKAFFOLD_VERSION"])
    path = root / "docs-v2" / "content" / "en" / "schemas" / f"{pins['SKAFFOLD_SCHEMA']}.json"
    return jsonschema.Draft7Validator(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load((ROOT / "skaffold.yaml").read_text())


def errors(validator, document) -> list[str]:
    """Readable schema errors: the deepest cause of each, with its path."""
    found = []
    for error in validator.iter_errors(document):
        while error.context:
            error = jsonschema.exceptions.best_match(error.context)
        found.append(f"{error.json_path}: {error.message[:200]}")
    return found


def patched(config: dict, profile: dict) -> dict:
    """The config with a profile's `add`/`replace` JSON patches applied (RFC 6902 subset)."""
    out = copy.deepcopy(config)
    for patch in profile.get("patches", []):
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in patch["path"].split("/")[1:]]
        node = out
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        assert patch["op"] in ("add", "replace"), f"unsupported patch op {patch['op']}"
        if patch["op"] == "replace":
            assert (int(last) < len(node)) if isinstance(node, list) else (last in node), patch
        if isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), patch["value"])
        else:
            node[last] = patch["value"]
    out.pop("profiles", None)
    return out


def test_api_version_is_the_pinned_schema(config):
    assert config["apiVersion"] == f"skaffold/{versions()['SKAFFOLD_SCHEMA']}"


def test_skaffold_yaml_matches_the_schema(skaffold_schema, config):
    assert not errors(skaffold_schema, config)


@pytest.mark.parametrize("name", ["kind", "eks"])
def test_profile_applied_matches_the_schema(skaffold_schema, config, name):
    (profile,) = [p for p in config["profiles"] if p["name"] == name]
    result = patched(config, profile)
    assert not errors(skaffold_schema, result)
    (release,) = result["deploy"]["helm"]["releases"]
    assert release["valuesFiles"] == [f"charts/fruits-pipeline/values-{name}.yaml"]
    assert (ROOT / release["chartPath"]) == CHART


def test_schema_catches_a_misspelt_key(skaffold_schema, config):
    broken = copy.deepcopy(config)
    broken["build"]["artifacts"][0]["docker"]["dockerFile"] = "images/Dockerfile"
    assert errors(skaffold_schema, broken)


def test_image_is_built_from_images_dockerfile(config):
    (artifact,) = config["build"]["artifacts"]
    assert artifact["image"] == "fruits-pipeline"
    assert artifact["docker"]["dockerfile"] == "images/Dockerfile"
