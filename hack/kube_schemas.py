"""Offline JSON schemas for kubeconform, from OpenAPI documents fetched as Go modules.

kubeconform validates each object against ``{kind}-{group}-{version}.json`` from a schema
folder. Its usual schemas are downloaded from a GitHub repository, and the converter it
ships (openapi2jsonschema) downloads its input too; neither is reachable from the build
machines. The same information is in two Go modules the module proxy serves:

* ``k8s.io/kubernetes``: ``api/openapi-spec/swagger.json``, the OpenAPI v2 document of the
  whole API at that release (core kinds: Pod, Service, Role, Deployment, ...);
* ``github.com/kubeflow/spark-operator/v2``: the CRDs, whose ``openAPIV3Schema`` is what the
  API server itself validates a SparkApplication against.

This module turns both into standalone draft-4 schemas (what kubeconform compiles), each file
carrying the definitions it references. "Strict" like kubeconform's own ``-strict`` schemas:
an object that lists its properties rejects any other key, so a misspelt field fails instead
of being silently dropped by the API server.

Usage: python3 hack/kube_schemas.py OUT_DIR SWAGGER_JSON [CRD_YAML ...]
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Iterable

_INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
_QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}
# Definitions whose OpenAPI type is narrower than what YAML manifests legitimately hold.
_LOOSENED = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": _INT_OR_STRING,
    "io.k8s.apimachinery.pkg.api.resource.Quantity": _QUANTITY,
}
_REF_PREFIX = "#/definitions/"


def schema_file_name(kind: str, api_version: str) -> str:
    """The file name kubeconform looks for: ``{{ .ResourceKind }}{{ .KindSuffix }}.json``.

    >>> schema_file_name("Role", "rbac.authorization.k8s.io/v1")
    'role-rbac-v1.json'
    >>> schema_file_name("Service", "v1")
    'service-v1.json'
    """
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def _strict(node: Any) -> Any:
    """Copy of a schema where every object with listed properties forbids other keys."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if out.get("format") == "int-or-string" or out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.pop("format", None)
        out.update(_INT_OR_STRING)
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            yield ref[len(_REF_PREFIX):]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _with_definitions(root: dict, definitions: dict[str, Any]) -> dict:
    """``root`` plus the definitions it reaches, transitively, under ``definitions``."""
    needed: dict[str, Any] = {}
    todo = list(_refs(root))
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed[name] = definitions[name]
        todo.extend(_refs(needed[name]))
    out = dict(root)
    if needed:
        out["definitions"] = dict(sorted(needed.items()))
    return out


def from_swagger(swagger: dict) -> dict[str, dict]:
    """One schema per kind of the Kubernetes OpenAPI v2 document, keyed by file name."""
    definitions = {
        name: copy.deepcopy(_LOOSENED.get(name)) or _strict(body)
        for name, body in swagger["definitions"].items()
    }
    schemas: dict[str, dict] = {}
    for name, body in swagger["definitions"].items():
        for gvk in body.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            schema = _with_definitions(definitions[name], definitions)
            # Pin apiVersion and kind, so a schema can only match its own objects.
            props = schema.setdefault("properties", {})
            props["apiVersion"] = {"type": "string", "enum": [api_version]}
            props["kind"] = {"type": "string", "enum": [gvk["kind"]]}
            schemas[schema_file_name(gvk["kind"], api_version)] = schema
    return schemas


def from_crd(crd: dict) -> dict[str, dict]:
    """One schema per served version of a CustomResourceDefinition, keyed by file name."""
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    schemas = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        api_version = f"{group}/{version['name']}"
        schema = _strict(version["schema"]["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "enum": [api_version]}
        props["kind"] = {"type": "string", "enum": [kind]}
        # The API server checks metadata itself; the CRD leaves it a bare object.
        props["metadata"] = {"type": "object"}
        schemas[schema_file_name(kind, api_version)] = schema
    return schemas


def write(out_dir: Path, schemas: dict[str, dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, schema in schemas.items():
        (out_dir / file_name).write_text(json.dumps(schema, separators=(",", ":")))


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    import yaml  # only the CRDs need it

    out_dir, swagger_path, *crd_paths = (Path(a) for a in argv)
    write(out_dir, from_swagger(json.loads(swagger_path.read_text())))
    for crd_path in crd_paths:
        write(out_dir, from_crd(yaml.safe_load(crd_path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
