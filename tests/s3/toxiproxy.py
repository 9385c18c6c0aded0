"""Toxiproxy in front of MinIO: S3 at cloud latency, with dropped connections, on one machine.

MinIO on 127.0.0.1 answers in well under a millisecond, so a reader that waits for each GET in
turn looks as fast as one that overlaps them. `bin/toxiproxy-server` (`make toxiproxy`) is a TCP
proxy whose toxics add what a real object store has: latency on every response, connections
reset or cut short on a share of them. It is driven through its HTTP API (JSON over urllib, no
client library), as documented in the README of github.com/Shopify/toxiproxy.

    with Toxiproxy.start(log) as toxiproxy:
        proxy = toxiproxy.create_proxy("s3", "127.0.0.1:9000")
        with proxy.latency(20):
            ...  # every response through proxy.endpoint arrives 20 ms late
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3kit import REPO, start_server, stop_server

TOXIPROXY = REPO / "bin" / "toxiproxy-server"
STREAMS = ("upstream", "downstream")


class ToxiproxyError(RuntimeError):
    """The API refused a call (its status and message), e.g. a toxic name already in use."""


def _check(stream: str, toxicity: float) -> None:
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, not {stream!r}")
    if not 0.0 <= toxicity <= 1.0:
        raise ValueError(f"toxicity is a share of connections, 0..1, not {toxicity}")


@dataclass
class Toxic:
    """One active toxic; a context manager that removes it on exit, so a test cannot leak it."""

    proxy: Proxy
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]

    def update(self, toxicity: float | None = None, **attributes: Any) -> None:
        """Change its toxicity or attributes in place, on the connections already open too."""
        body: dict[str, Any] = {"attributes": {**self.attributes, **attributes}}
        if toxicity is not None:
            _check(self.stream, toxicity)
            body["toxicity"] = toxicity
        reply = self.proxy.server.call("POST", f"/proxies/{self.proxy.name}/toxics/{self.name}", body)
        self.toxicity, self.attributes = reply["toxicity"], reply["attributes"]

    def remove(self) -> None:
        self.proxy.remove_toxic(self.name)

    def __enter__(self) -> Toxic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


@dataclass
class Proxy:
    """A listening address whose connections are forwarded to `upstream`, through the toxics."""

    server: Toxiproxy
    name: str
    listen: str
    upstream: str

    @property
    def endpoint(self) -> str:
        """The URL clients use instead of the upstream's (FRUITS_S3_ENDPOINT, boto3's endpoint_url)."""
        return f"http://{self.listen}"

    def add_toxic(self, kind: str, *, stream: str = "downstream", toxicity: float = 1.0, name: str | None = None,
                  **attributes: Any) -> Toxic:
        """Any toxic of the API by its type; toxicity is the share of connections it applies to."""
        _check(stream, toxicity)
        body = {"name": name or f"{kind}_{stream}", "type": kind, "stream": stream, "toxicity": toxicity,
                "attributes": attributes}
        reply = self.server.call("POST", f"/proxies/{self.name}/toxics", body)
        return Toxic(self, reply["name"], reply["type"], reply["stream"], reply["toxicity"], reply["attributes"])

    def latency(self, ms: int, jitter: int = 0, *, stream: str = "downstream", toxicity: float = 1.0) -> Toxic:
        """Each piece of data waits `ms` +- `jitter`: downstream, every response is that much later."""
        return self.add_toxic("latency", stream=stream, toxicity=toxicity, latency=ms, jitter=jitter)

    def reset_peer(self, toxicity: float, timeout_ms: int = 0, *, stream: str = "downstream") -> Toxic:
        """A TCP reset ("connection reset by peer") on that share of connections, after `timeout_ms`."""
        return self.add_toxic("reset_peer", stream=stream, toxicity=toxicity, timeout=timeout_ms)

    def limit_data(self, toxicity: float, nbytes: int, *, stream: str = "downstream") -> Toxic:
        """Close that share of connections once `nbytes` have passed: a response cut short."""
        return self.add_toxic("limit_data", stream=stream, toxicity=toxicity, bytes=nbytes)

    def timeout(self, toxicity: float, timeout_ms: int, *, stream: str = "downstream") -> Toxic:
        """Let nothing through on that share of connections, and close them after `timeout_ms`
        (0: keep them open and silent until the toxic is removed)."""
        return self.add_toxic("timeout", stream=stream, toxicity=toxicity, timeout=timeout_ms)

    def toxics(self) -> list[dict[str, Any]]:
        return self.server.call("GET", f"/proxies/{self.name}/toxics")

    def remove_toxic(self, name: str) -> None:
        self.server.call("DELETE", f"/proxies/{self.name}/toxics/{name}")

    def clear(self) -> None:
        """Remove every toxic of this proxy (the others keep theirs)."""
        for toxic in self.toxics():
            self.remove_toxic(toxic["name"])

    def set_enabled(self, enabled: bool) -> None:
        """Disabled, the proxy refuses connections and drops the open ones: the store is down."""
        self.server.call("POST", f"/proxies/{self.name}", {"enabled": enabled})

    def delete(self) -> None:
        self.server.call("DELETE", f"/proxies/{self.name}")


@dataclass
class Toxiproxy:
    """A running toxiproxy-server and a client of its API; `stop()` (or leaving `with`) ends it."""

    api: str
    log: Path
    process: Any = field(repr=False)

    @classmethod
    def start(cls, log: Path, port: int | None = None, binary: Path = TOXIPROXY, timeout: float = 30) -> Toxiproxy:
        """Start the server with its API on 127.0.0.1:`port` (a free one by default); returns once it answers."""
        if not binary.is_file():
            raise RuntimeError(f"{binary} is missing: run 'make toxiproxy' (make test does it)")
        if port is None:
            from helpers import free_port

            port = free_port()
        api = f"http://127.0.0.1:{port}"
        # Info: one line per proxy and per connection; its default logs every link at trace level.
        env = {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "info")}
        process = start_server([str(binary), "-host", "127.0.0.1", "-port", str(port)], f"{api}/version", log,
                               env=env, timeout=timeout)
        return cls(api, log, process)

    def stop(self) -> None:
        stop_server(self.process)

    def __enter__(self) -> Toxiproxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API request; the decoded JSON reply (None for 204). Raises ToxiproxyError on 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                text = reply.read()
        except urllib.error.HTTPError as error:
            raise ToxiproxyError(f"{method} {path}: {error.code} {error.read().decode(errors='replace').strip()}") from None
        return json.loads(text) if text.strip() else None

    def version(self) -> str:
        with urllib.request.urlopen(f"{self.api}/version", timeout=10) as reply:
            return reply.read().decode().strip()

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> Proxy:
        """A proxy to `upstream` (host:port). Port 0 lets the server pick a free one, read back from its reply."""
        reply = self.call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True})
        return Proxy(self, reply["name"], reply["listen"], reply["upstream"])

    def proxies(self) -> list[str]:
        return sorted(self.call("GET", "/proxies"))

    def reset(self) -> None:
        """Every proxy enabled again, every toxic removed."""
        self.call("POST", "/reset")


def host_port(endpoint: str) -> str:
    """'http://127.0.0.1:9000' -> '127.0.0.1:9000': a proxy's upstream is a TCP address, not a URL."""
    return endpoint.split("://", 1)[-1].rstrip("/")
