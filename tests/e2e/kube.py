"""The e2e tier's view of the kind cluster: Kubernetes API clients, helm and kubectl from bin/,
polling with readable timeouts, an executor-pod recorder, and the diagnostics a failing test prints."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kubernetes import client, config
from kubernetes.client.rest import ApiException

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "bin"
CHART = ROOT / "charts" / "fruits-pipeline"
# The job's namespace, and the operator's own: the release (and its operator) live in the latter.
NAMESPACE = "fruits"
OPERATOR_NAMESPACE = "spark-operator"
RELEASE = "fruits-pipeline"
# Pod Security "restricted", enforced on both namespaces: every pod that runs there meets it.
RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
SPARK_GROUP, SPARK_VERSION, SPARK_PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
# The operator's Spark Connect servers (their own API version, alpha in operator 2.5.2).
CONNECT_VERSION, CONNECT_PLURAL = "v1alpha1", "sparkconnects"
TERMINAL = {"COMPLETED", "FAILED", "SUBMISSION_FAILED", "INVALIDATING"}


def run(*args: str, timeout: float = 900, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure raise with the command line and its output."""
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"command failed (exit {result.returncode}): {' '.join(args)}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result


def wait_for(what: str, probe: Callable[[], object], timeout: float, interval: float = 2.0):
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except ApiException as exc:
            last = f"API error {exc.status}: {exc.reason}"
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


@dataclass
class ExecutorRecord:
    """What an ExecutorWatcher saw of one SparkApplication's executor pods."""

    seen: dict[str, float] = field(default_factory=dict)  # pod -> first seen (s since start)
    running: dict[str, float] = field(default_factory=dict)  # pod -> first Running
    gone: dict[str, float] = field(default_factory=dict)  # pod -> deleted or finished
    nodes: dict[str, str] = field(default_factory=dict)  # pod -> the node it was scheduled on
    peak_running: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (t, running) on each change
    first_running: object = None  # the first pod seen Running, as the API returned it then


class ExecutorWatcher(threading.Thread):
    """Polls the executor pods of one SparkApplication (or those `selector` picks: a Spark Connect
    server's) every second until stopped."""

    def __init__(self, core: client.CoreV1Api, app: str, interval: float = 1.0, selector: str | None = None):
        super().__init__(daemon=True, name=f"executors-{app}")
        self.core, self.app, self.interval = core, app, interval
        self.selector = selector or f"spark-role=executor,sparkoperator.k8s.io/app-name={app}"
        self.record = ExecutorRecord()
        self.start_time = time.monotonic()
        self._stop_event = threading.Event()

    def stop(self) -> ExecutorRecord:
        self._stop_event.set()
        self.join(timeout=10)
        return self.record

    def run(self) -> None:
        rec = self.record
        while not self._stop_event.is_set():
            now = time.monotonic() - self.start_time
            try:
                pods = self.core.list_namespaced_pod(NAMESPACE, label_selector=self.selector).items
            except Exception:  # a poll that fails is skipped, the next one counts
                time.sleep(self.interval)
                continue
            live = set()
            running = 0
            for pod in pods:
                name = pod.metadata.name
                rec.seen.setdefault(name, now)
                if pod.spec.node_name:
                    rec.nodes[name] = pod.spec.node_name
                if pod.metadata.deletion_timestamp is None and pod.status.phase in ("Pending", "Running"):
                    live.add(name)
                if pod.status.phase == "Running" and pod.metadata.deletion_timestamp is None:
                    running += 1
                    rec.running.setdefault(name, now)
                    if rec.first_running is None:
                        rec.first_running = pod
            for name in set(rec.seen) - live - set(rec.gone):
                rec.gone[name] = now
            if not rec.timeline or rec.timeline[-1][1] != running:
                rec.timeline.append((round(now, 1), running))
            rec.peak_running = max(rec.peak_running, running)
            self._stop_event.wait(self.interval)


class Cluster:
    def __init__(self, kubeconfig: str, name: str):
        self.kubeconfig, self.name = kubeconfig, name
        config.load_kube_config(config_file=kubeconfig)
        self.core = client.CoreV1Api()
        self.apps = client.AppsV1Api()
        self.custom = client.CustomObjectsApi()
        self.admission = client.AdmissionregistrationV1Api()
        self.networking = client.NetworkingV1Api()
        self.env = dict(os.environ, KUBECONFIG=kubeconfig)

    @classmethod
    def from_env(cls) -> "Cluster":
        kubeconfig = os.environ.get("KUBECONFIG", "")
        if not kubeconfig or not Path(kubeconfig).is_file():
            raise AssertionError(f"KUBECONFIG={kubeconfig!r} is not a file: run these tests with `make e2e`")
        return cls(kubeconfig, os.environ.get("FRUITS_E2E_CLUSTER", "fruits"))

    # -- tools ---------------------------------------------------------------------------------
    def helm(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        return run(str(BIN / "helm"), *args, timeout=timeout, check=check, env=self.env, cwd=ROOT)

    def kubectl(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        return run(str(BIN / "kubectl"), *args, timeout=timeout, check=check, env=self.env, cwd=ROOT)

    @contextlib.contextmanager
    def port_forward(self, service: str, port: int, namespace: str = NAMESPACE, timeout: float = 60) -> Iterator[int]:
        """`kubectl port-forward svc/SERVICE :PORT` for the duration of the block: yields the local
        port on 127.0.0.1. The connection enters the pod through the kubelet, so the pod's
        NetworkPolicy (which admits the drivers only) does not stand in its way."""
        proc = subprocess.Popen([str(BIN / "kubectl"), "-n", namespace, "port-forward", f"svc/{service}", f":{port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env, cwd=ROOT)
        seen: list[str] = []
        found: list[int] = []

        def read() -> None:  # the first line names the port; the rest is drained so kubectl never blocks
            for line in proc.stdout:
                seen.append(line.rstrip())
                match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
                if match and not found:
                    found.append(int(match.group(1)))

        threading.Thread(target=read, daemon=True, name=f"port-forward-{service}").start()
        try:
            wait_for(f"kubectl port-forward svc/{service} :{port}", lambda: found or proc.poll() is not None, timeout=timeout, interval=0.5)
            if not found:
                raise AssertionError(f"kubectl port-forward svc/{service} :{port} exited {proc.returncode}:\n" + "\n".join(seen[-20:]))
            yield found[0]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    # -- objects -------------------------------------------------------------------------------
    def node_ip(self, selector: str | None = None) -> str:
        """The InternalIP of the first node (of those `selector` picks)."""
        node = self.core.list_node(label_selector=selector).items[0]
        return next(a.address for a in node.status.addresses if a.type == "InternalIP")

    def spark_object(self, version: str, plural: str, name: str) -> dict | None:
        """One of the operator's objects in the job's namespace, or None when it is not there."""
        try:
            return self.custom.get_namespaced_custom_object(SPARK_GROUP, version, NAMESPACE, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def sparkapp(self, name: str) -> dict | None:
        return self.spark_object(SPARK_VERSION, SPARK_PLURAL, name)

    def sparkconnect(self, name: str) -> dict | None:
        return self.spark_object(CONNECT_VERSION, CONNECT_PLURAL, name)

    def app_state(self, name: str) -> str:
        app = self.sparkapp(name) or {}
        return app.get("status", {}).get("applicationState", {}).get("state", "")

    def delete_sparkapp(self, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(SPARK_GROUP, SPARK_VERSION, NAMESPACE, SPARK_PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        wait_for(f"SparkApplication {name} and its pods to go", lambda: self.sparkapp(name) is None
                 and not self.core.list_namespaced_pod(NAMESPACE, label_selector=f"sparkoperator.k8s.io/app-name={name}").items,
                 timeout=180)

    def pods(self, selector: str, namespace: str = NAMESPACE) -> list:
        return self.core.list_namespaced_pod(namespace, label_selector=selector).items

    def restricted_namespace(self, name: str) -> None:
        """Create namespace `name` (if missing) with Pod Security "restricted" enforced."""
        try:
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=RESTRICTED)))
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.patch_namespace(name, {"metadata": {"labels": RESTRICTED}})

    def log_tail(self, pod: str, namespace: str = NAMESPACE, lines: int = 80, container: str | None = None) -> str:
        try:
            return self.core.read_namespaced_pod_log(pod, namespace, tail_lines=lines, container=container)
        except ApiException as exc:
            return f"(no log for {namespace}/{pod}: {exc.reason})"

    def driver_log(self, app: str, lines: int | None = None) -> str:
        drivers = self.pods(f"spark-role=driver,sparkoperator.k8s.io/app-name={app}")
        if not drivers:
            return f"(no driver pod for {app})"
        try:
            return self.core.read_namespaced_pod_log(drivers[0].metadata.name, NAMESPACE, tail_lines=lines)
        except ApiException as exc:
            return f"(no log for driver {drivers[0].metadata.name}: {exc.reason})"

    def run_app(self, name: str, timeout: float, during: Callable[[str], None] | None = None) -> tuple[str, ExecutorRecord, float]:
        """Wait for SparkApplication `name` to end while recording its executors; returns
        (final state, executor record, seconds from submission to the end)."""
        watcher = ExecutorWatcher(self.core, name)
        watcher.start()
        start = time.monotonic()
        try:
            deadline = start + timeout
            state = ""
            while time.monotonic() < deadline:
                state = self.app_state(name)
                if state in TERMINAL:
                    break
                if during:
                    during(state)
                time.sleep(2)
            else:
                raise AssertionError(f"SparkApplication {name} did not finish within {timeout:.0f} s (state {state!r})")
        finally:
            record = watcher.stop()
        return state, record, time.monotonic() - start

    # -- diagnostics ---------------------------------------------------------------------------
    def diagnostics(self) -> str:
        out = []
        out.append("$ kubectl get pods -A -o wide\n" + self.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout)
        out.append("$ kubectl -n fruits get sparkapplications -o wide\n"
                   + self.kubectl("-n", NAMESPACE, "get", "sparkapplications", "-o", "wide", check=False).stdout)
        for app in self.custom.list_namespaced_custom_object(SPARK_GROUP, SPARK_VERSION, NAMESPACE, SPARK_PLURAL)["items"]:
            status = app.get("status", {})
            out.append(f"SparkApplication {app['metadata']['name']}: state={status.get('applicationState')} "
                       f"executors={status.get('executorState')} attempts={status.get('submissionAttempts')}/"
                       f"{status.get('executionAttempts')}")
            out.append(f"--- driver log tail ({app['metadata']['name']}) ---\n" + self.driver_log(app["metadata"]["name"], 60))
        for conn in self.custom.list_namespaced_custom_object(SPARK_GROUP, CONNECT_VERSION, NAMESPACE, CONNECT_PLURAL)["items"]:
            status = conn.get("status", {})
            server = status.get("server", {}).get("podName") or f"{conn['metadata']['name']}-server"
            out.append(f"SparkConnect {conn['metadata']['name']}: state={status.get('state')} executors={status.get('executors')} "
                       f"conditions={[(c.get('type'), c.get('status'), c.get('message')) for c in status.get('conditions', [])]}")
            out.append(f"--- Spark Connect server log tail ({server}) ---\n" + self.log_tail(server, lines=60))
        for pod in self.pods("app.kubernetes.io/name=spark-operator", OPERATOR_NAMESPACE):
            out.append(f"--- operator log tail ({pod.metadata.name}) ---\n"
                       + self.log_tail(pod.metadata.name, OPERATOR_NAMESPACE, lines=40))
        for namespace, last in ((OPERATOR_NAMESPACE, 15), (NAMESPACE, 40)):
            events = self.core.list_namespaced_event(namespace).items
            events.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
            out.append(f"--- events in {namespace} (last {last}) ---\n" + "\n".join(
                f"{e.type:8} {e.reason:24} {e.involved_object.kind}/{e.involved_object.name}: {e.message}" for e in events[-last:]))
        return "\n\n".join(out)
