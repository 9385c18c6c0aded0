#!/usr/bin/env bash
# Package the Kubeflow spark-operator Helm chart from its Go module into a chart's charts/ folder.
#
# The chart repository is not reachable from the build machines, but the Go module proxy serves
# the operator's module at the same release, and that module carries the chart's source under
# charts/spark-operator-chart. `helm package` of it gives the same spark-operator-X.Y.Z.tgz that
# `helm dependency build` would download. The result is git-ignored and rebuilt on demand.
#
# usage: hack/operator-chart.sh MODULE@VERSION DEST_DIR
set -euo pipefail

module_at_version=${1:?usage: $0 MODULE@VERSION DEST_DIR}
dest=${2:?usage: $0 MODULE@VERSION DEST_DIR}
helm=${HELM:-$(dirname "$0")/../bin/helm}

dir=$("$(dirname "$0")/go-module-dir.sh" "$module_at_version")
src="$dir/charts/spark-operator-chart"
[[ -f "$src/Chart.yaml" ]] || { echo "no chart at $src" >&2; exit 1; }

mkdir -p "$dest"
# Only one operator chart may sit in charts/: drop other versions first.
rm -f "$dest"/spark-operator-*.tgz
echo ">> helm package $src -> $dest"
"$helm" package "$src" --destination "$dest"
