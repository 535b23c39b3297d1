"""What keeps GC from racing writers: upload intents, the GC lock and expired commits.

A writer records an intent for each object before its bytes land (or before it trusts
that identical bytes are already there), and clears it in the transaction that stages or
commits the object. GC deletes only while holding the GC lock exclusively, and only
objects that no intent, staged row or reachable commit names at that moment. Every
metadata write transaction holds the lock shared (SQLite serializes writers anyway), so a
writer either finishes before a GC batch or sees the batch's deletions completed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from repos import _metadata as md
from repos.errors import NotFoundError

GC_LOCK = "gc_lock"


def lock_shared(conn: sa.Connection) -> None:
    """Hold the GC lock shared until the transaction ends (PostgreSQL: row lock)."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            sa.select(md.settings.c.key)
            .where(md.settings.c.key == GC_LOCK)
            .with_for_update(read=True)
        )


def lock_exclusive(conn: sa.Connection) -> None:
    """Hold the GC lock exclusively until the transaction ends (SQLite: BEGIN IMMEDIATE)."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            sa.select(md.settings.c.key).where(md.settings.c.key == GC_LOCK).with_for_update()
        )


def refuse_expired(conn: sa.Connection, commit_ids: Iterable[str]) -> None:
    """Raise if a ref is about to reach a commit whose objects GC may have collected."""
    for cid in sorted(set(commit_ids)):
        if conn.execute(_EXPIRED, {"cid": cid}).first() is not None:
            raise NotFoundError(
                f"commit {cid[:12]} was unreachable from every branch and tag when garbage "
                "collection ran, so its objects may be gone: use a commit a branch or tag "
                "reaches"
            )


_EXPIRED = sa.select(md.expired.c.commit_id).where(md.expired.c.commit_id == sa.bindparam("cid"))


@dataclass
class Operation:
    """The intents of one write operation: cleared by the transaction that makes them
    safe (``done``), or at the operation's end."""

    token: str
    done: bool = False


class Intents:
    """Upload intents of one repository handle, grouped per operation by a token."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._local = threading.local()

    def _token(self) -> str:
        token: str | None = getattr(self._local, "token", None)
        return token if token is not None else uuid.uuid4().hex  # outside an operation: expires

    def record(self, checksums: Iterable[str], token: str | None = None) -> None:
        """Record intents for ``checksums`` (committed before this returns)."""
        rows = [
            {"token": token or self._token(), "checksum": c, "created": time.time()}
            for c in checksums
        ]
        if not rows:
            return
        with self._engine.connect().execution_options(immediate=True) as conn, conn.begin():
            lock_shared(conn)
            conn.execute(md.intents.insert(), rows)

    def admit(self, checksum: str) -> None:
        """The object store's hook: record one object's intent before it lands."""
        self.record([checksum])

    @contextmanager
    def operation(self) -> Iterator[Operation]:
        """Group this thread's intents under one token; those not cleared by the
        transaction that makes them safe (the operation failed first) are cleared at the end."""
        if getattr(self._local, "token", None) is not None:
            raise RuntimeError("write operations do not nest")
        op = Operation(uuid.uuid4().hex)
        self._local.token = op.token
        try:
            yield op
        finally:
            self._local.token = None
            if not op.done:
                conn = self._engine.connect().execution_options(immediate=True)
                with conn, conn.begin():
                    clear(conn, op)


def clear(conn: sa.Connection, op: Operation | None) -> None:
    """Drop an operation's intents inside the transaction that made its objects safe."""
    if op is not None:
        conn.execute(md.intents.delete().where(md.intents.c.token == op.token))
        op.done = True
