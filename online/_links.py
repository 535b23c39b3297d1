"""A cheap connection pool for the read path: a C-level queue of redis-py connections.

redis-py's pools cost tens of microseconds per checkout (locks, health polls, metrics);
a lookup spends less than that on the wire. Connections are still made and handshaken
(AUTH, SELECT, TLS) by redis-py; replies are parsed by hiredis when it is installed.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from typing import Any

import redis

_hiredis: Any
try:
    import hiredis as _hiredis
except ImportError:  # pragma: no cover - hiredis ships with redis[hiredis]
    _hiredis = None

__all__ = ["Link", "LinkPool"]


def _reply_error(message: str) -> redis.ResponseError:
    if message.startswith("NOSCRIPT"):
        return redis.exceptions.NoScriptError(message)
    return redis.ResponseError(message)


class Link:
    """One connection: send packed commands, read replies (errors returned in place)."""

    __slots__ = ("conn", "reader", "sock")

    conn: Any

    def __init__(self, conn: Any) -> None:
        conn.connect()
        self.conn = conn
        sock: socket.socket | None = getattr(conn, "_sock", None)
        self.sock = sock if _hiredis is not None and isinstance(sock, socket.socket) else None
        self.reader: Any = (
            _hiredis.Reader(replyError=_reply_error) if self.sock is not None else None
        )

    def send(self, payload: bytes) -> None:
        """Send packed commands."""
        if self.sock is None:
            self.conn.send_packed_command([payload], check_health=False)  # type: ignore[no-untyped-call]
        else:
            self.sock.sendall(payload)

    def read(self, replies: int) -> list[Any]:
        """Read `replies` answers; error replies come back as `redis.ResponseError` objects."""
        sock = self.sock
        if sock is None:
            return self._read_slow(replies)
        reader = self.reader
        out: list[Any] = []
        recv = sock.recv
        gets = reader.gets
        while len(out) < replies:
            reply = gets()
            if reply is False:
                data = recv(65536)
                if not data:
                    raise redis.ConnectionError("the server closed the connection")
                reader.feed(data)
                continue
            out.append(reply)
        return out

    def _read_slow(self, replies: int) -> list[Any]:
        out: list[Any] = []
        for _ in range(replies):
            try:
                out.append(self.conn.read_response())  # type: ignore[no-untyped-call]
            except redis.ResponseError as e:
                out.append(e)
        return out

    def close(self) -> None:
        """Drop the connection."""
        self.conn.disconnect()


class LinkPool:
    """At most `size` links, made on demand; waits `timeout` s when all are in use."""

    def __init__(self, pool: redis.ConnectionPool, size: int, timeout: float) -> None:
        self._pool = pool
        self._size = size
        self._timeout = timeout
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._made = 0
        # Idle links, and None for a slot whose link was dropped and may be remade.
        self._free: queue.SimpleQueue[Link | None] = queue.SimpleQueue()

    def get(self) -> Link:
        """A connected link; raises `redis.ConnectionError` if none frees up in time."""
        if self._pid != os.getpid():
            self._reset()
        try:
            link = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._made < self._size
                if grow:
                    self._made += 1
            if grow:
                link = None
            else:
                try:
                    link = self._free.get(timeout=self._timeout)
                except queue.Empty:
                    raise redis.ConnectionError(
                        f"all {self._size} connections are busy; raise max_connections"
                    ) from None
        if link is None:
            try:
                link = Link(self._pool.make_connection())
            except BaseException:
                self._free.put(None)
                raise
        return link

    def put(self, link: Link, *, broken: bool = False) -> None:
        """Return a link; a broken one is closed and its slot freed."""
        if broken:
            link.close()
            self._free.put(None)
        else:
            self._free.put(link)

    def close(self) -> None:
        """Close every idle link (their slots stay, links are remade on demand)."""
        items = []
        while True:
            try:
                items.append(self._free.get_nowait())
            except queue.Empty:
                break
        for link in items:
            if link is not None:
                link.close()
            self._free.put(None)
