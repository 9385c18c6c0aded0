#!/usr/bin/env bash
# Create or delete the e2e kind cluster, and check that deleting it leaves nothing behind.
#
#   hack/kind/cluster.sh up NAME NODE_IMAGE KUBECONFIG   create (or reuse) and wait for the nodes Ready
#   hack/kind/cluster.sh load NAME IMAGE...              kind load docker-image into the workers
#   hack/kind/cluster.sh netpol KUBECONFIG IMAGE         start the NetworkPolicy engine (netpol.yaml)
#   hack/kind/cluster.sh down NAME KUBECONFIG            delete; fail if containers or networks remain
# env: KIND_DEFAULT_CNI=no for a node image without kindnetd (hack/airgap/), KIND, KUBECTL
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

route_pod_networks() { # KUBECONFIG: what kindnetd keeps, each node's route to the others' podCIDRs
    local kubeconfig=$1 nodes="" node other cidr address
    for _ in $(seq 60); do
        nodes=$(KUBECONFIG=$kubeconfig "$kubectl" get nodes -o \
            'jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
        # Every node listed with a podCIDR and an address (three fields on each line).
        [[ -n "$nodes" ]] && ! awk 'NF != 3 {bad = 1} END {exit !bad}' <<<"$nodes" && break
        sleep 2
    done
    if [[ -z "$nodes" ]] || awk 'NF != 3 {bad = 1} END {exit !bad}' <<<"$nodes"; then
        say "a node has no podCIDR or address after 120 s:"
        echo "$nodes"
        return 1
    fi
    while read -r node _ _; do
        while read -r other cidr address; do
            [[ "$other" == "$node" || -z "$cidr" || -z "$address" ]] && continue
            docker exec "$node" ip route replace "$cidr" via "$address"
            say "pod network: $node reaches $cidr via $address ($other)"
        done <<<"$nodes"
    done <<<"$nodes"
}

case ${1:-} in
up)
    name=$2 image=$3 kubeconfig=$4 config=$here/cluster.yaml
    "$here/../airgap/docker-privileged.sh" "$image"
    if [[ "${KIND_DEFAULT_CNI:-yes}" == no ]]; then
        config=$(mktemp --suffix .yaml)
        trap 'rm -f "$config"' EXIT
        sed '/^networking:$/a\  disableDefaultCNI: true' "$here/cluster.yaml" >"$config"
        grep -q '^  disableDefaultCNI: true$' "$config"
    fi
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
    # Without kindnetd, the routes between the nodes are set from here (also on a reused cluster,
    # whose nodes lose them when Docker restarts them).
    [[ "${KIND_DEFAULT_CNI:-yes}" == no ]] && route_pod_networks "$kubeconfig"
    start=$SECONDS
    if ! KUBECONFIG=$kubeconfig "$kubectl" wait --for=condition=Ready node --all --timeout=300s; then
        say "a node did not become Ready; nodes, pods and each node's kubelet log:"
        KUBECONFIG=$kubeconfig "$kubectl" describe nodes | tail -60 || true
        KUBECONFIG=$kubeconfig "$kubectl" get pods -A -o wide || true
        for node in $("$kind" get nodes --name "$name"); do
            echo "--- $node"
            docker exec "$node" journalctl -u kubelet -u kind-pod-network --no-pager | tail -30 || true
        done
        exit 1
    fi
    # One CoreDNS replica is plenty here, and leaves CPU requests to the job.
    KUBECONFIG=$kubeconfig "$kubectl" -n kube-system scale deployment coredns --replicas=1 >/dev/null
    KUBECONFIG=$kubeconfig "$kubectl" -n kube-system rollout status deployment coredns --timeout=180s
    say "nodes Ready after $((SECONDS - start)) s more; kubeconfig: $kubeconfig"
    # What the nodes cost before any workload: a tired operator's first question on a small machine.
    mapfile -t names < <("$kind" get nodes --name "$name")
    docker stats --no-stream --format '>> memory: {{.Name}} {{.MemUsage}}' "${names[@]}" || true
    ;;
load)
    name=$2; shift 2
    # Pods run on the workers only (the control plane keeps its NoSchedule taint): no copy of the
    # images on it, which saves a few GB of disk and a minute per image.
    mapfile -t nodes < <("$kind" get nodes --name "$name" | grep -v -- '-control-plane$' || true)
    (( ${#nodes[@]} )) || mapfile -t nodes < <("$kind" get nodes --name "$name")
    missing=()
    for image in "$@"; do
        id=$(docker image inspect -f '{{.Id}}' "$image")
        for node in "${nodes[@]}"; do
            if [[ "$(docker exec "$node" crictl inspecti -q "$image" 2>/dev/null)" != *"${id#sha256:}"* ]]; then
                missing+=("$image")
                break
            fi
        done
    done
    if (( ${#missing[@]} )); then
        say "kind load docker-image ${missing[*]} into ${nodes[*]}"
        start=$SECONDS
        "$kind" load docker-image --name "$name" --nodes "$(IFS=,; echo "${nodes[*]}")" "${missing[@]}"
        say "loaded in $((SECONDS - start)) s"
    else
        say "$* already in ${nodes[*]}"
    fi
    ;;
netpol)
    # After `load`: the engine's image is on the workers (imagePullPolicy Never), so its pods start
    # at once rather than backing off from a pull that cannot succeed.
    kubeconfig=$2 image=$3
    sed "s|@NETPOL_IMAGE@|$image|" "$here/netpol.yaml" | KUBECONFIG=$kubeconfig "$kubectl" apply -f -
    if ! KUBECONFIG=$kubeconfig "$kubectl" -n kube-system rollout status daemonset kube-router --timeout=180s; then
        KUBECONFIG=$kubeconfig "$kubectl" -n kube-system get pods -l k8s-app=kube-router -o wide || true
        KUBECONFIG=$kubeconfig "$kubectl" -n kube-system logs -l k8s-app=kube-router --tail=30 || true
        exit 1
    fi
    say "NetworkPolicies are enforced on the workers (kube-router $image)"
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
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
