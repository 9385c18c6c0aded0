#!/usr/bin/env bash
# Create or delete the e2e kind cluster, and check that deleting it leaves nothing behind.
#
#   hack/kind/cluster.sh up NAME NODE_IMAGE KUBECONFIG [CONFIG]
#                                                        create (or reuse) and wait for the node Ready
#   hack/kind/cluster.sh load NAME IMAGE...              kind load docker-image (skips images present)
#   hack/kind/cluster.sh down NAME KUBECONFIG            delete; fail if containers or networks remain
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kind=${KIND:-kind}
kubectl=${KUBECTL:-kubectl}
say() { echo ">> $*"; }
# The list is read whole before matching: `| grep -q` under pipefail can fail by SIGPIPE.
cluster_exists() { [[ $'\n'"$("$kind" get clusters 2>/dev/null)"$'\n' == *$'\n'"$1"$'\n'* ]]; }

leftovers() { # what kind and docker still hold for cluster NAME
    local name=$1
    docker ps -a --filter "label=io.x-k8s.kind.cluster=$name" --format 'container {{.Names}} ({{.Status}})'
    # kind creates the "kind" network once and leaves it; it is ours to remove when no node uses it.
    if docker network inspect kind >/dev/null 2>&1; then
        local users
        users=$(docker network inspect kind -f '{{len .Containers}}')
        echo "network kind ($users containers attached)"
    fi
    if cluster_exists "$name"; then echo "kind cluster $name"; fi
}

case ${1:-} in
up)
    name=$2 image=$3 kubeconfig=$4 config=${5:-$here/cluster.yaml}
    "$here/../airgap/docker-privileged.sh" "$image"
    if cluster_exists "$name"; then
        say "kind cluster $name exists; reusing it"
        "$kind" export kubeconfig --name "$name" --kubeconfig "$kubeconfig"
    else
        say "kind create cluster $name ($image, $config)"
        start=$SECONDS
        "$kind" create cluster --name "$name" --image "$image" --config "$config" \
            --kubeconfig "$kubeconfig" --wait 0s
        say "created in $((SECONDS - start)) s"
    fi
    start=$SECONDS
    if ! KUBECONFIG=$kubeconfig "$kubectl" wait --for=condition=Ready node --all --timeout=300s; then
        say "the node did not become Ready; node, pods and kubelet log:"
        KUBECONFIG=$kubeconfig "$kubectl" describe nodes | tail -40 || true
        KUBECONFIG=$kubeconfig "$kubectl" get pods -A -o wide || true
        docker exec "$name-control-plane" journalctl -u kubelet --no-pager | tail -40 || true
        exit 1
    fi
    # One CoreDNS replica is plenty on one node, and leaves CPU requests to the job.
    KUBECONFIG=$kubeconfig "$kubectl" -n kube-system scale deployment coredns --replicas=1 >/dev/null
    KUBECONFIG=$kubeconfig "$kubectl" -n kube-system rollout status deployment coredns --timeout=180s
    say "node Ready after $((SECONDS - start)) s more; kubeconfig: $kubeconfig"
    ;;
load)
    name=$2; shift 2
    for image in "$@"; do
        id=$(docker image inspect -f '{{.Id}}' "$image")
        if [[ "$(docker exec "$name-control-plane" crictl inspecti -q "$image" 2>/dev/null)" == *"${id#sha256:}"* ]]; then
            say "$image already in the node"
        else
            missing+=("$image")
        fi
    done
    if (( ${#missing[@]} )); then
        say "kind load docker-image ${missing[*]}"
        start=$SECONDS
        "$kind" load docker-image --name "$name" "${missing[@]}"
        say "loaded in $((SECONDS - start)) s"
    fi
    ;;
down)
    name=$2 kubeconfig=$3
    "$kind" delete cluster --name "$name" --kubeconfig "$kubeconfig"
    if docker network inspect kind >/dev/null 2>&1 && \
       [[ $(docker network inspect kind -f '{{len .Containers}}') == 0 ]]; then
        docker network rm kind >/dev/null
    fi
    rm -f "$kubeconfig"
    left=$(leftovers "$name")
    if [[ -n "$left" ]]; then
        say "left behind after deleting cluster $name:"
        echo "$left"
        exit 1
    fi
    say "cluster $name deleted; no containers or networks left"
    ;;
*)
    sed -n '2,7p' "$0" >&2
    exit 2
    ;;
esac
