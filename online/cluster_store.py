"""`RedisClusterOnlineStore`: the online store on Redis / Valkey Cluster.

Key layout: ``{key_prefix}:{table}:{E}`` where ``E`` is the entity key with ``|`` written
``||`` and ``}`` written ``|)``, so the braces are the key's one hash tag and every view
(and aggregation series) of one entity lives in one slot. The single-node store's
monotonic write script runs unchanged, one call per slot; a lookup sends one pipeline
per node, to all nodes before reading any answer; a write splits its batch by node and
writes the nodes in parallel threads. A primary that stops answering is waited out
(the cluster promotes its replica): commands are retried against the new slot map
until ``failover_timeout`` runs out. A write is acknowledged once the primary and
``replica_acks`` of its live replicas hold it (``WAIT``), so a failover keeps it.
"""

from __future__ import annotations

import binascii
import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis

from online._links import Link
from online.codec import encode_column
from online.errors import CommandError, ConnectionFailedError, InvalidInputError
from online.redis_store import (
    _NOTHING,
    _ROWS_PER_BLOCK,
    _ROWS_PER_CALL,
    WRITE_SHA,
    PreparedRead,
    RedisOnlineStore,
    _bulk,
    _bulk_array,
    _check_name,
    _lb,
    _spans,
    pack,
)
from online.store import ReadRequest
from online.tiles import _READ_SHA

__all__ = ["RedisClusterOnlineStore", "cluster_key", "hash_slot"]

SLOTS = 16384
_REDIRECTS = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "READONLY", "MASTERDOWN")
_READ_ONLY = {b"HMGET", b"HGET", b"SMEMBERS", b"SCAN", b"PING", b"INFO", b"EXISTS"}
_READ_SCRIPTS = {_READ_SHA}
_WRITE_HEAD = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n" + WRITE_SHA + b"\r\n"


def _escape(key: bytes) -> bytes:
    """``|`` as ``||``, ``}`` as ``|)``; the empty key as a lone ``|`` (a tag is never empty)."""
    return key.replace(b"|", b"||").replace(b"}", b"|)") or b"|"


def cluster_key(key: bytes) -> bytes:
    """The hash-tagged form of an encoded entity key: ``{`` escaped key ``}``."""
    return b"{" + _escape(key) + b"}"


def _tagged(keys: Iterable[bytes]) -> tuple[list[bytes], list[int]]:
    """`cluster_key` and the slot of each key, in one pass."""
    tagged: list[bytes] = []
    slots: list[int] = []
    crc = binascii.crc_hqx
    for key in keys:
        e = key.replace(b"|", b"||").replace(b"}", b"|)") or b"|"
        tagged.append(b"{" + e + b"}")
        slots.append(crc(e, 0) & 16383)
    return tagged, slots


def hash_slot(key: bytes) -> int:
    """The cluster slot of a Redis key (CRC16 of its hash tag, or of the whole key)."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key, 0) & (SLOTS - 1)


def _check_braces(kind: str, name: str) -> None:
    if "{" in name or "}" in name:
        raise InvalidInputError(
            f"{kind} {name!r} holds a brace; on Redis Cluster the braces of a key are its "
            "entity's hash tag, so use a name without '{' or '}'"
        )


class _Command(bytes):
    """One packed command with its slot and whether it writes."""

    slot: int
    writes: bool


def _command(payload: bytes, slot: int, writes: bool) -> _Command:
    cmd = _Command(payload)
    cmd.slot = slot
    cmd.writes = writes
    return cmd


def _split(payload: bytes) -> list[_Command]:
    """The packed commands of ``payload`` (RESP arrays of bulk strings), each routed by its
    first key: the fourth argument of EVALSHA, else the second."""
    out: list[_Command] = []
    pos, end = 0, len(payload)
    while pos < end:
        start = pos
        eol = payload.index(b"\r\n", pos)
        count = int(payload[pos + 1 : eol])
        pos = eol + 2
        args: list[bytes] = []
        for i in range(count):
            eol = payload.index(b"\r\n", pos)
            size = int(payload[pos + 1 : eol])
            pos = eol + 2
            if i < 4:
                args.append(payload[pos : pos + size])
            pos += size + 2
        name = args[0].upper()
        if name in (b"EVALSHA", b"EVAL"):
            key = args[3] if len(args) > 3 and args[2] != b"0" else b""
            writes = args[1] not in _READ_SCRIPTS
        else:
            key = args[1] if len(args) > 1 else b""
            writes = name not in _READ_ONLY
        out.append(_command(payload[start:pos], hash_slot(key), writes))
    return out


def _redirect(reply: Any) -> str | None:
    """The redirect or transient cluster error of a reply, if it is one."""
    if isinstance(reply, redis.ResponseError):
        text = str(reply)
        if text.startswith(_REDIRECTS):
            return text
    return None


class _Topology:
    """The cluster's slot map and one single-node store per node, shared by every prefix."""

    def __init__(
        self,
        urls: Sequence[str],
        key_prefix: str,
        socket_timeout: float,
        max_connections: int,
    ) -> None:
        self.template = urlsplit(urls[0])
        self.startup = [self._address(u) for u in urls]
        self.key_prefix = key_prefix
        self.socket_timeout = socket_timeout
        self.max_connections = max_connections
        self.lock = threading.Lock()
        self.nodes: dict[tuple[str, int], RedisOnlineStore] = {}
        self.primaries: list[RedisOnlineStore] = []
        self.replicas: dict[int, int] = {}
        """id(primary store) -> how many live replicas it has."""
        self.slots: list[RedisOnlineStore] = []
        self.version = 0
        self.loaded: set[tuple[int, bytes]] = set()
        self._threads: ThreadPoolExecutor | None = None
        self._threads_pid = os.getpid()

    @staticmethod
    def _address(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise InvalidInputError(
                f"bad Redis Cluster URL {parts.scheme}://{parts.hostname or ''}: use "
                "redis://host:port or rediss://host:port of any node"
            )
        return parts.hostname, parts.port or 6379

    def node(self, host: str, port: int) -> RedisOnlineStore:
        found = self.nodes.get((host, port))
        if found is None:
            netloc = self.template.netloc.rpartition("@")
            auth = netloc[0] + netloc[1]
            url = urlunsplit(
                (self.template.scheme, f"{auth}{host}:{port}", "", self.template.query, "")
            )
            found = RedisOnlineStore(
                url,
                key_prefix=self.key_prefix,
                socket_timeout=self.socket_timeout,
                max_connections=self.max_connections,
            )
            self.nodes[(host, port)] = found
        return found

    def threads(self) -> ThreadPoolExecutor:
        """The writer threads, made on first use (and again in a forked child)."""
        if self._threads is None or self._threads_pid != os.getpid():
            self._threads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fs-cluster")
            self._threads_pid = os.getpid()
        return self._threads

    def refresh(self, seen: int | None = None) -> None:
        """Read the slot map (CLUSTER SLOTS) from the first node that answers.

        ``seen``: the version the caller saw; another thread's newer refresh is kept.
        """
        with self.lock:
            if seen is not None and seen != self.version:
                return
            candidates = [
                *self.primaries,
                *(self.node(h, p) for h, p in self.startup),
                *self.nodes.values(),
            ]
            errors: list[str] = []
            tried: set[int] = set()
            for store in candidates:
                if id(store) in tried:
                    continue
                tried.add(id(store))
                try:
                    reply = store._command("CLUSTER", "SLOTS")
                except (ConnectionFailedError, CommandError) as e:
                    errors.append(str(e))
                    continue
                if self._load(reply, store):
                    return
                errors.append(f"{store.where} serves no complete slot map yet")
            raise ConnectionFailedError(
                "cannot read the slot map of the Redis Cluster from any of its nodes ("
                + "; ".join(errors[:3])
                + "). Check that the cluster runs and the URL names one of its nodes"
            )

    def _load(self, reply: Any, asked: RedisOnlineStore) -> bool:
        slots: list[RedisOnlineStore | None] = [None] * SLOTS
        primaries: dict[int, RedisOnlineStore] = {}
        replicas: dict[int, int] = {}
        default_host = asked.where.rpartition(":")[0]
        for entry in reply:
            start, end, primary, *followers = entry
            host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
            store = self.node(host or default_host, int(primary[1]))
            primaries[id(store)] = store
            replicas[id(store)] = len(followers)
            for follower in followers:
                fhost = follower[0].decode() if isinstance(follower[0], bytes) else follower[0]
                self.node(fhost or default_host, int(follower[1]))
            slots[int(start) : int(end) + 1] = [store] * (int(end) - int(start) + 1)
        if any(s is None for s in slots):
            return False
        self.slots = slots  # type: ignore[assignment]
        self.primaries = list(primaries.values())
        self.replicas = replicas
        self.version += 1
        return True

    def close(self) -> None:
        for store in list(self.nodes.values()):
            store.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None


class RedisClusterOnlineStore(RedisOnlineStore):
    """The online store on a Redis >= 7.0 / Valkey Cluster; `url`: any node (or a list).

    Same API and results as `RedisOnlineStore`; keys carry their entity's hash tag (see
    the module docstring). ``replica_acks``: live replicas that must hold a write before
    it returns (``WAIT``; 0 turns that off); ``failover_timeout``: how long commands are
    retried while the cluster fails a primary over.
    """

    max_script_keys = 1
    """An aggregation script touches one entity: its keys share one slot."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        key_prefix: str = "fs",
        socket_timeout: float = 5.0,
        max_connections: int = 64,
        replica_acks: int = 1,
        replica_ack_timeout: float = 2.0,
        failover_timeout: float = 20.0,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise InvalidInputError("no Redis Cluster node given; pass the URL of any node")
        _check_name("key_prefix", key_prefix)
        _check_braces("key_prefix", key_prefix)
        if replica_acks < 0 or replica_ack_timeout <= 0 or failover_timeout < 0:
            raise InvalidInputError(
                "replica_acks must be >= 0, replica_ack_timeout > 0 and failover_timeout >= 0"
            )
        self.url = urls[0]
        self.key_prefix = key_prefix
        self.replica_acks = replica_acks
        self.replica_ack_timeout = replica_ack_timeout
        self.failover_timeout = failover_timeout
        self._topology = _Topology(urls, key_prefix, socket_timeout, max_connections)
        self.where = "cluster " + ",".join(f"{h}:{p}" for h, p in self._topology.startup)
        self._script_loaded = False
        self._plans = {}
        self._plans_by_id = {}
        self._derived = {}

    def with_prefix(self, key_prefix: str) -> RedisClusterOnlineStore:
        """This store under another key prefix, sharing its connections and slot map."""
        if key_prefix == self.key_prefix:
            return self
        derived = self._derived.get(key_prefix)
        if not isinstance(derived, RedisClusterOnlineStore):
            _check_name("key_prefix", key_prefix)
            _check_braces("key_prefix", key_prefix)
            derived = object.__new__(RedisClusterOnlineStore)
            derived.__dict__.update(self.__dict__)
            derived.key_prefix = key_prefix
            derived._plans = {}
            derived._plans_by_id = {}
            if len(self._derived) > 1024:
                self._derived.clear()
            self._derived[key_prefix] = derived
        return derived

    # -- keys ----------------------------------------------------------------

    def _table_prefix(self, table: str) -> bytes:
        _check_braces("table", table)
        return super()._table_prefix(table)

    def _entity_key(self, prefix: bytes, key: bytes) -> bytes:
        return prefix + cluster_key(key)

    def _slot_map(self) -> list[RedisOnlineStore]:
        topology = self._topology
        if not topology.slots:
            topology.refresh()
        return topology.slots

    # -- routing and retries ---------------------------------------------------

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        """``attempt()``, retried on connection errors and cluster redirects (after
        reading the slot map again) until ``failover_timeout`` has passed."""
        deadline = time.monotonic() + self.failover_timeout
        pause = 0.05
        while True:
            seen = self._topology.version
            try:
                return attempt()
            except (ConnectionFailedError, _Retry) as e:
                if time.monotonic() + pause > deadline:
                    if isinstance(e, _Retry):
                        raise CommandError(
                            f"Redis Cluster at {self.where} kept answering {e}; it may be "
                            "resharding or failing over: retry once it settles"
                        ) from None
                    raise ConnectionFailedError(
                        f"{e} (the cluster did not recover within {self.failover_timeout} s "
                        "of retries; check that every slot has a live primary)"
                    ) from e
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
            with contextlib.suppress(ConnectionFailedError):
                self._topology.refresh(seen)

    def _exchange(self, commands: Iterable[bytes], replies: int) -> list[Any]:
        """Send commands, each to the node of its slot, and return their replies in order.

        Nodes run in parallel; each node's writes are followed by ``WAIT``. Redirects
        and lost nodes are retried (see `_retrying`); ``replies`` is not needed.
        """
        routed: list[_Command] = []
        for command in commands:
            if isinstance(command, _Command):
                routed.append(command)
            else:
                routed.extend(_split(command))
        out: list[Any] = [None] * len(routed)
        todo = list(range(len(routed)))

        def attempt() -> None:
            nonlocal todo
            todo, failure = self._send(routed, todo, out)
            if failure is not None:
                raise failure
            if todo:
                raise _Retry(_redirect(out[todo[0]]) or "writes no replica acknowledged")

        if todo:
            self._retrying(attempt)
        return out

    def _send(
        self, routed: list[_Command], todo: list[int], out: list[Any]
    ) -> tuple[list[int], ConnectionFailedError | None]:
        """Send ``routed[i]`` for i in ``todo``, each node's share in its own thread; fill
        ``out``; return what to retry, and a node's connection error if one failed."""
        slots = self._slot_map()
        groups: dict[int, tuple[RedisOnlineStore, list[int]]] = {}
        for i in todo:
            node = slots[routed[i].slot]
            group = groups.get(id(node))
            if group is None:
                groups[id(node)] = (node, [i])
            else:
                group[1].append(i)
        topology = self._topology

        def run(node: RedisOnlineStore, indices: list[int]) -> list[int]:
            cmds = [routed[i] for i in indices]
            acks = min(self.replica_acks, topology.replicas.get(id(node), 0))
            wait = acks > 0 and any(c.writes for c in cmds)
            if wait:
                timeout_ms = int(self.replica_ack_timeout * 1000)
                cmds.append(_command(pack("WAIT", acks, timeout_ms), 0, False))
            got = node._exchange(cmds, len(cmds))
            retry: list[int] = []
            if wait:
                acked = got.pop()
                if not isinstance(acked, int) or acked < acks:
                    retry = [i for i in indices if routed[i].writes]
            for i, reply in zip(indices, got, strict=True):
                out[i] = reply
                if _redirect(reply) is not None and not (retry and routed[i].writes):
                    retry.append(i)
            return retry

        items = list(groups.values())
        futures = [topology.threads().submit(run, node, idx) for node, idx in items[1:]]
        retry: list[int] = []
        failure: ConnectionFailedError | None = None
        for n, (node, indices) in enumerate(items):
            try:
                retry.extend(run(node, indices) if n == 0 else futures[n - 1].result())
            except ConnectionFailedError as e:
                failure = e
                retry.extend(indices)
        return sorted(retry), failure

    def _command(self, *args: bytes | str | int) -> Any:
        """One command: keyless ones go to every primary (the first reply returns), keyed
        ones to their slot's node; ``UNLINK`` / ``DEL`` of many keys are split by slot."""
        name = (args[0] if isinstance(args[0], bytes) else str(args[0]).encode()).upper()
        if name in (b"UNLINK", b"DEL") and len(args) > 2:
            keys = [a if isinstance(a, bytes) else str(a).encode() for a in args[1:]]
            return self._unlink(keys)
        if name in (b"SCRIPT", b"PING", b"FLUSHALL", b"CONFIG", b"INFO"):
            return self._broadcast(*args)
        (reply,) = self._exchange([pack(*args)], 1)
        if isinstance(reply, redis.ResponseError):
            raise CommandError(f"Redis at {self.where} rejected {args[0]!r}: {reply}") from reply
        return reply

    def _broadcast(self, *args: bytes | str | int) -> Any:
        def attempt() -> list[Any]:
            return [node._command(*args) for node in list(self._slot_map_primaries())]

        return self._retrying(attempt)[0]

    def _slot_map_primaries(self) -> list[RedisOnlineStore]:
        self._slot_map()
        return self._topology.primaries

    def _unlink(self, keys: Sequence[bytes]) -> int:
        by_slot: dict[int, list[bytes]] = {}
        for key in keys:
            by_slot.setdefault(hash_slot(key), []).append(key)
        commands = [
            _command(pack("UNLINK", *group[i : i + 1000]), slot, True)
            for slot, group in by_slot.items()
            for i in range(0, len(group), 1000)
        ]
        replies = self._exchange(commands, len(commands)) if commands else []
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise CommandError(f"Redis at {self.where} rejected UNLINK: {reply}") from reply
        return sum(int(r) for r in replies)

    # -- writes ----------------------------------------------------------------

    def _write_commands(
        self,
        prefix: bytes,
        keys: Sequence[bytes],
        tbl: pa.Table,
        micros: pa.Array,
        fixed_args: bytes,
        fixed_count: int,
    ) -> Iterator[bytes]:
        """The single-node write, one script call per slot (at most 512 keys each)."""
        tagged, slot_list = _tagged(keys)
        slots = np.array(slot_list, dtype=np.int32)
        order = np.argsort(slots, kind="stable")
        tbl = tbl.take(pa.array(order))
        micros = micros.take(pa.array(order))
        slots = slots[order]
        ncols = tbl.num_columns
        for start in range(0, tbl.num_rows, _ROWS_PER_BLOCK):
            block = tbl.slice(start, _ROWS_PER_BLOCK).combine_chunks()
            size = block.num_rows
            key_arr = pa.array([tagged[i] for i in order[start : start + size]], pa.large_binary())
            key_bulks = _bulk_array(pc.binary_join_element_wise(_lb(prefix), key_arr, _NOTHING))
            row_bulks = _bulk_array(
                micros.slice(start, size).cast(pa.string()).cast(pa.large_binary())
            )
            parts: list[pa.Array | pa.Scalar] = [row_bulks, self._mask_bulks(block)]
            for column in block.columns:
                payload = encode_column(column.combine_chunks())
                parts.append(_bulk_array(payload.fill_null(b"")))
            parts.append(_NOTHING)
            rows = pc.binary_join_element_wise(*parts)
            key_offsets, key_data = _spans(key_bulks)
            row_offsets, row_data = _spans(rows)
            block_slots = slots[start : start + size]
            cuts = np.flatnonzero(np.diff(block_slots)) + 1
            bounds = [0, *cuts.tolist(), size]
            for lo, hi in itertools.pairwise(bounds):
                for a in range(lo, hi, _ROWS_PER_CALL):
                    b = min(a + _ROWS_PER_CALL, hi)
                    count = b - a
                    head = _WRITE_HEAD % (3 + count + fixed_count + count * (ncols + 2))
                    yield _command(
                        b"".join(
                            (
                                head,
                                _bulk(b"%d" % count),
                                key_data[key_offsets[a] : key_offsets[b]],
                                fixed_args,
                                row_data[row_offsets[a] : row_offsets[b]],
                            )
                        ),
                        int(block_slots[a]),
                        True,
                    )

    # -- reads -----------------------------------------------------------------

    def prepare_read(self, requests: Sequence[ReadRequest]) -> PreparedRead:
        """The reads of ``requests`` prepared for repeated use (see `PreparedRead`)."""
        return ClusterPreparedRead(self, requests)

    def _fetch(
        self, requests: Sequence[ReadRequest]
    ) -> Iterator[tuple[ReadRequest, Any, list[Any]]]:
        """All requests in one pipeline per node; each with its plan and its HMGET replies."""
        plans = [self._read_plan(req.table, req.schema) for req in requests]
        commands: list[_Command] = []
        for req, plan in zip(requests, plans, strict=True):
            head, prefix, tail = plan.head, plan.prefix, plan.tail
            plen = len(prefix)
            for k in req.keys:
                tagged = cluster_key(k)
                commands.append(
                    _command(
                        b"%s$%d\r\n%s%s\r\n%s" % (head, plen + len(tagged), prefix, tagged, tail),
                        hash_slot(tagged),
                        False,
                    )
                )
        replies = self._exchange(commands, len(commands)) if commands else []
        pos = 0
        for req, plan in zip(requests, plans, strict=True):
            n = len(req.keys)
            yield req, plan, replies[pos : pos + n]
            pos += n

    def _pipelines(self, payloads: list[tuple[RedisOnlineStore, bytes, int]]) -> list[list[Any]]:
        """Send each node its payload, all before reading any reply: one trip, in parallel."""
        taken: list[tuple[RedisOnlineStore, Link]] = []
        try:
            for node, _, _ in payloads:
                taken.append((node, node._links.get()))
            for (_, link), (_, payload, _) in zip(taken, payloads, strict=True):
                link.send(payload)
            out = [link.read(n) for (_, link), (_, _, n) in zip(taken, payloads, strict=True)]
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            for node, link in taken:
                node._links.put(link, broken=True)
            where = ", ".join(node.where for node, _, _ in payloads)
            raise ConnectionFailedError(
                f"cannot talk to the Redis Cluster node(s) {where}: {e}"
            ) from e
        except BaseException:
            for node, link in taken:
                node._links.put(link, broken=True)
            raise
        for node, link in taken:
            node._links.put(link)
        return out

    # -- deletes and housekeeping ------------------------------------------------

    def delete(self, table: str, keys: Sequence[bytes]) -> int:
        """Remove these keys of `table`; returns how many existed."""
        prefix = self._table_prefix(table)
        return self._unlink([prefix + cluster_key(k) for k in keys]) if keys else 0

    def _delete_matching(self, pattern: bytes) -> int:
        def attempt() -> int:
            removed = 0
            for node in list(self._slot_map_primaries()):
                cursor: bytes | int = 0
                while True:
                    cursor, found = node._command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                    if found:
                        removed += self._unlink(list(found))
                    if int(cursor) == 0:
                        break
            return removed

        return int(self._retrying(attempt))

    def prefixes_after(self, separator: str) -> list[str]:
        """The key prefixes ``{key_prefix}{separator}X`` that hold keys, sorted (SCAN of
        every primary)."""

        def attempt() -> list[str]:
            found: set[str] = set()
            for node in list(self._slot_map_primaries()):
                found.update(node.with_prefix(self.key_prefix).prefixes_after(separator))
            return sorted(found)

        result: list[str] = self._retrying(attempt)
        return result

    def rewrite_persistence(self, timeout: float = 60.0) -> tuple[str, ...]:
        """`RedisOnlineStore.rewrite_persistence` on every primary; what any rewrote."""
        done: set[str] = set()
        for node in list(self._slot_map_primaries()):
            done.update(node.rewrite_persistence(timeout))
        return tuple(sorted(done))

    def ping(self) -> bool:
        """True when every primary answers PING."""
        try:
            primaries = list(self._slot_map_primaries())
        except (ConnectionFailedError, CommandError):
            return False
        return bool(primaries) and all(node.ping() for node in primaries)

    def close(self) -> None:
        """Close every node's connections; the store reconnects if used again."""
        self._topology.close()

    def __enter__(self) -> Self:
        return self

    def __repr__(self) -> str:
        return f"RedisClusterOnlineStore({self.where!r}, key_prefix={self.key_prefix!r})"


class _Retry(Exception):
    """Some commands met a redirect or were not acknowledged: read the slot map again."""


class ClusterPreparedRead(PreparedRead):
    """`PreparedRead` on a cluster: one pipeline per node, sent to all before reading."""

    __slots__ = ()

    _store: RedisClusterOnlineStore

    def read_columns_with(
        self,
        keys: Sequence[Sequence[bytes]],
        now: datetime | None = None,
        extra: bytes = b"",
        extra_replies: int = 0,
    ) -> tuple[list[dict[str, list[Any]]], list[Any]]:
        """`PreparedRead.read_columns_with`, each key's commands sent to its slot's node."""
        plans = self._plans
        tables = len(plans)
        if len(keys) != tables:
            raise InvalidInputError(
                f"got {len(keys)} key lists for {tables} prepared reads; pass one per read"
            )
        store = self._store
        extras = _split(extra) if extra else []
        first = keys[0] if tables else ()
        if tables and all(k is first for k in keys):
            tagged, slots = _tagged(first)
            parts = self._shared_parts
            commands = [k.join(parts(len(k))) for k in tagged]
            per_command = tables
        else:
            commands = []
            slots = []
            for plan, ks in zip(plans, keys, strict=True):
                head, prefix, tail = plan.head, plan.prefix, plan.tail
                plen = len(prefix)
                tagged, some = _tagged(ks)
                slots.extend(some)
                commands.extend(
                    b"%s$%d\r\n%s%s\r\n%s" % (head, plen + len(t), prefix, t, tail) for t in tagged
                )
            per_command = 1
        slots.extend(c.slot for c in extras)
        sizes = [per_command] * len(commands) + [1] * len(extras)
        payloads: list[bytes] = [*commands, *extras]

        starts = list(itertools.accumulate(sizes, initial=0))
        total = starts[-1]

        def attempt() -> list[Any]:
            smap = store._slot_map()
            nodes = [smap[slot] for slot in slots]
            head = nodes[0]
            if all(node is head for node in nodes):
                flat = head._roundtrip(b"".join(payloads), total)
            else:
                groups: dict[int, list[int]] = {}
                owners: dict[int, RedisOnlineStore] = {}
                for i, node in enumerate(nodes):
                    group = groups.get(id(node))
                    if group is None:
                        groups[id(node)] = [i]
                        owners[id(node)] = node
                    else:
                        group.append(i)
                got = store._pipelines(
                    [
                        (
                            owners[n],
                            b"".join([payloads[i] for i in idx]),
                            sum([sizes[i] for i in idx]),
                        )
                        for n, idx in groups.items()
                    ]
                )
                flat = [None] * total
                for idx, replies in zip(groups.values(), got, strict=True):
                    pos = 0
                    for i in idx:
                        size = sizes[i]
                        at = starts[i]
                        flat[at : at + size] = replies[pos : pos + size]
                        pos += size
            for reply in flat:
                if reply.__class__ is not list and _redirect(reply) is not None:
                    raise _Retry(_redirect(reply))
            return flat

        flat: list[Any] = store._retrying(attempt) if payloads else []
        ours = len(flat) - len(extras)
        replies, more = flat[:ours], flat[ours:]
        if per_command == tables:
            per_table = [replies[i::tables] for i in range(tables)]
        else:
            per_table = []
            pos = 0
            for ks in keys:
                per_table.append(replies[pos : pos + len(ks)])
                pos += len(ks)
        out = self._decode_tables(plans, per_table, now)
        return out, more
