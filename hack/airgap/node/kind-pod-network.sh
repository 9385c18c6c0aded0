#!/bin/bash
# The CNI config of a node image built without kindnetd (which cannot be pulled here): a ptp
# config for the podCIDR the controller manager gave this node, written once that is known. The
# routes between the nodes' podCIDRs are set from the host by hack/kind/cluster.sh, because a
# kubelet may read its own Node object only, not the others'. Run by kind-pod-network.service.
set -u
kubeconfig=/etc/kubernetes/kubelet.conf
conflist=/etc/cni/net.d/10-kind-ptp.conflist
node=$(hostname)  # kind names each node's container, and so its host name, after the node

# The kubelet's own credentials appear once kubeadm has run (init or join).
cidr=
until [[ -n "$cidr" ]]; do
    sleep 2
    [[ -s "$kubeconfig" ]] && cidr=$(kubectl --kubeconfig "$kubeconfig" --request-timeout=10s \
        get node "$node" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null)
done
cat >"$conflist.tmp" <<CONF
{
  "cniVersion": "1.0.0",
  "name": "kind",
  "plugins": [
    {
      "type": "ptp",
      "mtu": 1500,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "ranges": [[{ "subnet": "$cidr" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CONF
mv "$conflist.tmp" "$conflist"
echo "pod network: $node has $cidr"
