"""Helm post-renderer: the rendered chart without its SparkApplication (stdin -> stdout).

The e2e tier installs the chart in two steps: first everything else (operator, webhook, MinIO,
RBAC), so the sample can be uploaded; then the plain chart, whose only new object is the
SparkApplication, created once the operator's webhook answers."""

import sys

import yaml

docs = [d for d in yaml.safe_load_all(sys.stdin) if d and d.get("kind") != "SparkApplication"]
yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
