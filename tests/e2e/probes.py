"""Pods that try connections from inside the kind cluster, to see what its NetworkPolicies let
through (kube-router enforces them there: hack/kind/netpol.yaml). Each probe runs the app image
(already on the workers) idle; `kubectl exec` makes it open a TCP connection or resolve a name.
The exec itself enters through the kubelet, which no policy sees; the connection the pod opens is
what the policies judge."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

from kube import Cluster, wait_for

# Python of the app image: open one TCP connection (exit 0) or say why not (exit 1).
CONNECT = ("import socket, sys\n"
           "try:\n"
           "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()\n"
           "except OSError as exc:\n"
           "    sys.exit(f'{sys.argv[1]}:{sys.argv[2]}: {exc}')\n")
RESOLVE = "import socket, sys; print(socket.getaddrinfo(sys.argv[1], None)[0][4][0])"
PYTHON = "/opt/venv/bin/python"
# A connection the policies drop waits this long; one they reject fails at once.
CONNECT_TIMEOUT_S = 3
# kube-router applies a policy (or a new pod's rules) within seconds of seeing it.
SETTLE_TIMEOUT_S = 60
PROBE_READY_TIMEOUT_S = 120


@dataclass
class Probe:
    """One idle pod of the app image that connects where it is told."""

    cluster: Cluster
    name: str
    namespace: str

    @classmethod
    def start(cls, cluster: Cluster, name: str, namespace: str, image: str, *, labels: dict[str, str] | None = None,
              service_account: str | None = None, args: tuple[str, ...] = ("sleep", "infinity")) -> Probe:
        """Create the pod (under Pod Security "restricted", like the job's) and wait until it runs."""
        security = client.V1SecurityContext(allow_privilege_escalation=False, run_as_non_root=True, run_as_user=1000,
                                            capabilities=client.V1Capabilities(drop=["ALL"]),
                                            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"))
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels or {"app": name}),
            spec=client.V1PodSpec(
                service_account_name=service_account, automount_service_account_token=False,
                termination_grace_period_seconds=0, restart_policy="Never",
                containers=[client.V1Container(name="probe", image=image, image_pull_policy="Never", args=list(args),
                                               security_context=security)]))
        probe = cls(cluster, name, namespace)
        probe.delete()  # one left by an interrupted run on a kept cluster (KEEP_CLUSTER=1)
        cluster.core.create_namespaced_pod(namespace, pod)
        wait_for(f"probe pod {namespace}/{name} Running", lambda: probe.pod().status.phase == "Running",
                 timeout=PROBE_READY_TIMEOUT_S)
        return probe

    def pod(self) -> client.V1Pod:
        return self.cluster.core.read_namespaced_pod(self.name, self.namespace)

    def ip(self) -> str:
        return wait_for(f"{self.name}'s pod IP", lambda: self.pod().status.pod_ip, timeout=30)

    def _python(self, code: str, *args: str) -> tuple[bool, str]:
        proc = self.cluster.kubectl("-n", self.namespace, "exec", self.name, "--", PYTHON, "-c", code, *args,
                                    check=False, timeout=CONNECT_TIMEOUT_S + 30)
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()

    def connects(self, host: str, port: int) -> tuple[bool, str]:
        """Whether one TCP connection to host:port opens now, and what the probe said."""
        return self._python(CONNECT, host, str(port), str(CONNECT_TIMEOUT_S))

    def resolves(self, name: str) -> tuple[bool, str]:
        """Whether the cluster DNS answers for `name` (UDP, then TCP, port 53), and the address."""
        return self._python(RESOLVE, name)

    def settles(self, host: str, port: int, *, open_: bool) -> float:
        """Wait until host:port is open (or closed) to this pod, as kube-router catches up with a
        new pod or policy; the seconds that took. A policy never enforced fails here."""
        start = time.monotonic()
        said: list[str] = []

        def as_wanted() -> bool:
            opened, message = self.connects(host, port)
            said.append(message)
            return opened == open_

        state = "open" if open_ else "closed"
        try:
            wait_for(f"{host}:{port} {state} to {self.namespace}/{self.name}", as_wanted, timeout=SETTLE_TIMEOUT_S, interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the probe said: {said[-1:]}") from None
        return time.monotonic() - start

    def delete(self) -> None:
        """Delete the pod, if there is one, and wait until it is gone."""
        try:
            self.cluster.core.delete_namespaced_pod(self.name, self.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return

        def gone() -> bool:
            try:
                self.pod()
            except ApiException as exc:
                if exc.status == 404:
                    return True
                raise
            return False

        wait_for(f"probe pod {self.namespace}/{self.name} to go", gone, timeout=PROBE_READY_TIMEOUT_S)
