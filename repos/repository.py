"""``Repository``: opens the object store and the metadata database, and does the work
behind every ref verb (staging, commit, merge, revert, log, diff, GC)."""

from __future__ import annotations

import fnmatch
import getpass
import hashlib
import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, get_args

import fsspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from repos import _log as _logging
from repos import _merge as _merging
from repos import _metadata as md
from repos import _rewrite
from repos._gc import collect
from repos._graph import commit_id
from repos._guard import (
    GC_LOCK,
    Intents,
    Operation,
    clear,
    lock_exclusive,
    lock_shared,
    refuse_expired,
)
from repos._names import check_name, check_path, check_prefix
from repos._namespace import (
    MARKER,
    REPOSITORY_ID,
    Identity,
    bind,
    new_identity,
    read_identity,
    refuse_foreign,
    write_identity,
)
from repos._objects import LocalObjectStore, ObjectStore, open_store
from repos._resolve import (
    MergeResolver,
)
from repos._rewrite import Rewrite, Transform
from repos._tree import Entry, TreeStore
from repos.errors import (
    ConflictError,
    EmptyCommitError,
    HookRejectedError,
    InvalidNameError,
    NotFoundError,
    ProtectedBranchError,
    ReadOnlyReferenceError,
    ReposError,
)
from repos.models import Change, Commit, GCResult, HookEvent, HookEventType, ObjectInfo
from repos.refs import Branch, Reference, Tag

__all__ = ["Hook", "Repository"]

Hook = Callable[[HookEvent], object]
_HOOK_EVENTS: tuple[str, ...] = get_args(HookEventType)
_SUFFIX = re.compile(r"(~[0-9]*|\^[0-9]*)$")
_HEX = re.compile(r"^[0-9a-f]{6,64}$")
_COMMIT_RETRIES = 100
_REWRITE_TABLES = "rewrite_tables"
_HASH_SECRET = "keyed_hash_secret"
_CHUNK = 500

StagedRow = tuple[str, str | None, int | None]  # path, checksum (None: deletion), size


def _default_author() -> str:
    try:
        return os.environ.get("FEATURESTORE_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Repository:
    """A lakeFS-style repository of versioned objects at paths.

    Objects live content-addressed in ``storage`` (a local folder or an fsspec URL);
    refs, commits and staged writes live in the SQLAlchemy database ``metadata_url``
    (by default a SQLite file inside the storage folder).
    """

    def __init__(
        self,
        storage: str,
        store: ObjectStore,
        engine: sa.Engine,
        author: str | None,
        identity: Identity | None = None,
    ) -> None:
        self.storage = storage
        self.author = author or _default_author()
        self._store = store
        self._engine = engine
        self._intents = Intents(engine)
        self._tree = TreeStore(store, admit=self._intents.record)
        self._hooks: dict[str, list[Hook]] = {e: [] for e in _HOOK_EVENTS}
        self._commit_cache: dict[str, tuple[Commit, int]] = {}
        self._before_cas: Callable[[], None] | None = None  # a seam for crash tests
        with engine.connect() as conn:
            rows = conn.execute(sa.select(md.settings.c.key, md.settings.c.value))
            found = {str(k): str(v) for k, v in rows}
        if "default_branch" not in found:
            raise NotFoundError(f"no repository at {storage}: create one with Repository.create()")
        self.id: str = self._claim(found, identity)
        self.default_branch: str = found["default_branch"]
        self._empty: str = found.get("empty_tree") or self._tree.empty()
        if GC_LOCK not in found:  # a repository made before GC took a lock
            md.metadata.create_all(engine)
            try:
                with engine.begin() as conn:
                    conn.execute(md.settings.insert().values(key=GC_LOCK, value=""))
            except IntegrityError:
                pass  # another process added it
        _logging.ensure_generation_index(engine, found)  # one made before the index
        if _REWRITE_TABLES not in found:  # a repository made before history rewrites
            try:
                md.metadata.create_all(engine, tables=[md.rewrites, md.rewritten, md.redacted])
                with engine.begin() as conn:
                    conn.execute(md.settings.insert().values(key=_REWRITE_TABLES, value="1"))
            except sa.exc.SQLAlchemyError:
                pass  # another process made them

    def _claim(self, found: dict[str, str], identity: Identity | None) -> str:
        """This repository's id, checked against the metadata's; a storage or a database
        from before ids is given one (the database's id wins a race)."""
        if identity is not None:
            refuse_foreign(found, identity, self.storage)
            if REPOSITORY_ID in found:
                return identity.id
        elif REPOSITORY_ID in found:
            raise ConflictError(
                f"the metadata database holds repository {found[REPOSITORY_ID][:12]}, whose "
                f"storage is not {self.storage} (it has no repository marker): open the "
                "storage that database belongs to, or give this one its own database"
            )
        rid = identity.id if identity is not None else uuid.uuid4().hex
        try:
            with self._engine.begin() as conn:
                conn.execute(md.settings.insert().values(key=REPOSITORY_ID, value=rid))
        except IntegrityError:
            with self._engine.connect() as conn:
                rid = str(
                    conn.execute(
                        sa.select(md.settings.c.value).where(md.settings.c.key == REPOSITORY_ID)
                    ).scalar_one()
                )
        if identity is None:
            write_identity(self._store, Identity(rid, None))
        return rid

    # -- opening ---------------------------------------------------------------------
    @staticmethod
    def _locate(
        storage: str | os.PathLike[str],
        metadata_url: str | None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> tuple[str, str]:
        storage = os.fspath(storage)
        if not isinstance(storage, str) or not storage:
            raise InvalidNameError(f"invalid storage {storage!r}: give a folder or an fsspec URL")
        store = open_store(storage, storage_options)
        location = store.location
        if metadata_url is None:
            if not isinstance(store, LocalObjectStore):
                raise InvalidNameError(
                    f"storage {storage} is not local: pass metadata_url (a SQLAlchemy URL)"
                )
            metadata_url = f"sqlite:///{Path(location) / '_metadata' / 'repos.sqlite'}"
        return location, metadata_url

    @classmethod
    def create(
        cls,
        storage: str | os.PathLike[str],
        metadata_url: str | None = None,
        default_branch: str = "main",
        exist_ok: bool = False,
        author: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> Repository:
        """Create a repository with ``default_branch`` at an initial, empty commit.

        ``storage_options``: credentials and endpoint of an fsspec URL (for S3 ``key``,
        ``secret``, ``endpoint_url``, ``region``); else the standard AWS variables."""
        check_name(default_branch, "branch")
        location, url = cls._locate(storage, metadata_url, storage_options)
        store = open_store(location, storage_options)
        if isinstance(store, LocalObjectStore):
            store.root.mkdir(parents=True, exist_ok=True)
        identity = read_identity(store)  # first: storage that cannot be reached leaves nothing
        fresh = identity is None
        if identity is None:
            identity = new_identity(url)
            write_identity(store, identity)  # first: a crash after it reruns to the same id
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        base = md.make_engine(url)
        try:
            engine = bind(base, identity, create=True)
            md.metadata.create_all(engine)
            tree = TreeStore(store)
            empty = tree.empty()
            who = author or _default_author()
            now = datetime.now(UTC)
            cid = commit_id((), "Repository created", {}, who, now, empty)
            with engine.connect().execution_options(immediate=True) as conn, conn.begin():
                found = {
                    str(k): str(v)
                    for k, v in conn.execute(sa.select(md.settings.c.key, md.settings.c.value))
                }
                exists = "default_branch" in found
                if exists:
                    refuse_foreign(found, identity, location)
                    if fresh and REPOSITORY_ID not in found and metadata_url is not None:
                        raise ConflictError(
                            f"the metadata database already holds a repository, not the one "
                            f"of {location}: give this storage its own metadata database (or "
                            "PostgreSQL schema)"
                        )
                else:
                    conn.execute(
                        md.settings.insert(),
                        [
                            {"key": "default_branch", "value": default_branch},
                            {"key": "created", "value": now.isoformat()},
                            {"key": "empty_tree", "value": empty},
                            {"key": GC_LOCK, "value": ""},
                            {"key": REPOSITORY_ID, "value": identity.id},
                        ],
                    )
                    conn.execute(
                        md.commits.insert().values(
                            id=cid,
                            parents="[]",
                            message="Repository created",
                            metadata="{}",
                            author=who,
                            creation_date=now.isoformat(),
                            meta_range_id=empty,
                            generation=1,
                        )
                    )
                    conn.execute(
                        md.branches.insert().values(
                            name=default_branch, head=cid, staging_token=uuid.uuid4().hex
                        )
                    )
            if exists and not exist_ok:
                raise ConflictError(
                    f"a repository already exists at {location}: open it with "
                    "Repository.open() or pass exist_ok=True"
                )
            return cls(location, store, engine, author, identity)
        except BaseException as e:
            base.dispose()
            if fresh and not (isinstance(e, ConflictError) and "already exists at" in str(e)):
                store.delete_meta(MARKER)
            raise

    @classmethod
    def open(
        cls,
        storage: str | os.PathLike[str],
        metadata_url: str | None = None,
        author: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> Repository:
        """Open an existing repository (``NotFoundError`` if there is none)."""
        location, url = cls._locate(storage, metadata_url, storage_options)
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            raise NotFoundError(f"no repository at {location}: create one with Repository.create()")
        store = open_store(location, storage_options)
        identity = read_identity(store)
        base = md.make_engine(url)
        try:
            schema = identity.schema if identity is not None else None
            if not sa.inspect(base).has_table(md.settings.name, schema=schema):
                raise NotFoundError(
                    f"no repository at {location}: create one with Repository.create()"
                )
            return cls(location, store, bind(base, identity, create=False), author, identity)
        except BaseException:
            base.dispose()
            raise

    def close(self) -> None:
        """Release database connections."""
        self._engine.dispose()

    @property
    def filesystem(self) -> fsspec.AbstractFileSystem | None:
        """The fsspec filesystem that reads this repository's physical addresses when they
        are URLs (S3 and the like); None when they are local paths."""
        return self._store.filesystem

    def __enter__(self) -> Repository:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Repository({self.storage!r})"

    def scratch(self) -> Path:
        """A new local folder for a writer's temporary files; the writer removes it, and
        one left by a writer that died is removed by the next writer (or by GC)."""
        return self._store.scratch()

    # -- handles -------------------------------------------------------------------
    def branch(self, id: str) -> Branch:
        """A handle on branch ``id`` (no I/O)."""
        return Branch(self, check_name(id, "branch"))

    def tag(self, id: str) -> Tag:
        """A handle on tag ``id`` (no I/O)."""
        return Tag(self, check_name(id, "tag"))

    def ref(self, any: str | Reference | Commit) -> Reference:
        """A handle on any ref: branch, tag, commit id (or unique prefix), ``ref~N``, ``ref^``."""
        if isinstance(any, Reference):
            return any
        if isinstance(any, Commit):
            return Reference(self, any.id)
        if not isinstance(any, str) or not any or "\x00" in any:
            raise InvalidNameError(f"invalid ref {any!r}: give a branch, tag or commit id")
        return Reference(self, any)

    def branches(self) -> list[Branch]:
        """All branches, sorted by name."""
        with self._engine.connect() as conn:
            names = conn.execute(sa.select(md.branches.c.name).order_by(md.branches.c.name))
            return [Branch(self, n) for (n,) in names]

    def tags(self) -> list[Tag]:
        """All tags, sorted by name."""
        with self._engine.connect() as conn:
            names = conn.execute(sa.select(md.tags.c.name).order_by(md.tags.c.name))
            return [Tag(self, n) for (n,) in names]

    # -- protection and hooks ----------------------------------------------------------
    def protect_branch(self, pattern: str) -> None:
        """Protect branches matching the fnmatch ``pattern``: only merges may move them."""
        if not isinstance(pattern, str) or not pattern or "\x00" in pattern:
            raise InvalidNameError(
                f"invalid branch pattern {pattern!r}: give e.g. 'main' or 'release-*'"
            )
        with self._write() as conn:
            if (
                conn.execute(
                    sa.select(md.protected.c.pattern).where(md.protected.c.pattern == pattern)
                ).first()
                is None
            ):
                conn.execute(md.protected.insert().values(pattern=pattern))

    def unprotect_branch(self, pattern: str) -> None:
        """Remove a protection pattern (``NotFoundError`` if it was not set)."""
        with self._write() as conn:
            res = conn.execute(md.protected.delete().where(md.protected.c.pattern == pattern))
            if res.rowcount == 0:
                raise NotFoundError(
                    f"branch pattern {pattern!r} is not protected; see protected_patterns()"
                )

    def protected_patterns(self) -> list[str]:
        """The protection patterns, sorted."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(md.protected.c.pattern).order_by(md.protected.c.pattern))
            return [p for (p,) in rows]

    def _is_protected(self, branch: str, conn: sa.Connection | None = None) -> bool:
        if conn is None:
            return any(fnmatch.fnmatchcase(branch, p) for p in self.protected_patterns())
        rows = conn.execute(sa.select(md.protected.c.pattern))
        return any(fnmatch.fnmatchcase(branch, p) for (p,) in rows)

    def _refuse_if_protected(self, conn: sa.Connection, branch: str, verb: str) -> None:
        if self._is_protected(branch, conn):
            raise ProtectedBranchError(
                f"branch {branch!r} is protected: {verb} on another branch and merge it in"
            )

    def add_hook(self, event: HookEventType, fn: Hook) -> None:
        """Register ``fn(event: HookEvent)``; a pre-hook refuses by raising or returning
        ``False`` or a message string. Post-hooks run after the ref moved."""
        if event not in self._hooks:
            raise InvalidNameError(f"unknown hook event {event!r}: use one of {_HOOK_EVENTS}")
        if not callable(fn):
            raise InvalidNameError(f"hook {fn!r} is not callable")
        self._hooks[event].append(fn)

    def _run_pre_hooks(self, event: HookEvent) -> None:
        for fn in self._hooks[event.type]:
            try:
                verdict = fn(event)
            except Exception as e:
                raise HookRejectedError(
                    f"{event.type} hook {getattr(fn, '__name__', fn)!r} refused on branch "
                    f"{event.branch!r}: {e}"
                ) from e
            if verdict is False or isinstance(verdict, str):
                reason = verdict if isinstance(verdict, str) else "refused"
                raise HookRejectedError(
                    f"{event.type} hook {getattr(fn, '__name__', fn)!r} refused on branch "
                    f"{event.branch!r}: {reason}"
                )

    def _run_post_hooks(self, event: HookEvent) -> None:
        import warnings

        for fn in self._hooks[event.type]:
            try:
                fn(event)
            except Exception as e:  # the ref already moved; report, do not undo
                warnings.warn(f"{event.type} hook failed: {e}", RuntimeWarning, stacklevel=3)

    # -- database helpers -----------------------------------------------------------
    def _write(self, exclusive: bool = False) -> _WriteTxn:
        return _WriteTxn(self._engine, exclusive)

    def _load(self, ids: Iterable[str]) -> dict[str, tuple[Commit, int]]:
        out: dict[str, tuple[Commit, int]] = {}
        missing = []
        for cid in ids:
            hit = self._commit_cache.get(cid)
            if hit is None:
                missing.append(cid)
            else:
                out[cid] = hit
        if missing:
            with self._engine.connect() as conn:
                for chunk in _chunks(missing):
                    for row in conn.execute(
                        sa.select(md.commits).where(md.commits.c.id.in_(chunk))
                    ):
                        c = _logging.commit_of(row)
                        self._commit_cache[c.id] = out[c.id] = (c, row.generation)
            for cid in missing:
                if cid not in out:
                    raise NotFoundError(f"commit {cid} not found in {self.storage}")
        return out

    def _commit(self, cid: str) -> Commit:
        return self._load([cid])[cid][0]

    def _branch_row(self, conn: sa.Connection, name: str) -> tuple[str, str] | None:
        row = conn.execute(
            sa.select(md.branches.c.head, md.branches.c.staging_token).where(
                md.branches.c.name == name
            )
        ).first()
        return None if row is None else (row[0], row[1])

    def _need_branch(self, conn: sa.Connection, name: str) -> tuple[str, str]:
        row = self._branch_row(conn, name)
        if row is None:
            raise NotFoundError(
                f"branch {name!r} not found in {self.storage}: create it with "
                f"repo.branch({name!r}).create(source)"
            )
        return row

    # -- refs -------------------------------------------------------------------------
    def _resolve(self, ref: str) -> str:
        if not isinstance(ref, str) or not ref:
            raise InvalidNameError(f"invalid ref {ref!r}")
        ops: list[str] = []
        base = ref
        while (m := _SUFFIX.search(base)) and m.start() > 0:
            ops.insert(0, m.group())
            base = base[: m.start()]
        cid = self._resolve_base(base, ref)
        for op in ops:
            if len(op) > 10:
                raise InvalidNameError(
                    f"invalid ref {ref[:40]!r}...: an ancestor suffix like '~3' or '^2' takes "
                    "at most 9 digits"
                )
            n = int(op[1:]) if len(op) > 1 else 1
            if op[0] == "~":
                for _ in range(n):
                    parents = self._commit(cid).parents
                    if not parents:
                        raise NotFoundError(f"ref {ref!r} goes past the first commit")
                    cid = parents[0]
            elif n > 0:
                parents = self._commit(cid).parents
                if len(parents) < n:
                    raise NotFoundError(f"ref {ref!r}: commit {cid[:12]} has no parent {n}")
                cid = parents[n - 1]
        return cid

    def _resolve_base(self, base: str, ref: str) -> str:
        with self._engine.connect() as conn:
            row = self._branch_row(conn, base)
            if row is not None:
                return row[0]
            tag = conn.execute(sa.select(md.tags.c.commit_id).where(md.tags.c.name == base)).first()
            if tag is not None:
                return str(tag[0])
            if _HEX.fullmatch(base):
                if len(base) == 64:
                    hit = conn.execute(
                        sa.select(md.commits.c.id).where(md.commits.c.id == base)
                    ).all()
                else:
                    hit = conn.execute(
                        sa.select(md.commits.c.id).where(md.commits.c.id.like(base + "%")).limit(2)
                    ).all()
                if len(hit) == 1:
                    moved = conn.execute(
                        sa.select(md.rewritten.c.new_id).where(md.rewritten.c.old_id == hit[0][0])
                    ).first()  # a commit a history rewrite replaced reads as its new one
                    return str(hit[0][0] if moved is None else moved[0])
                if len(hit) > 1:
                    raise NotFoundError(
                        f"commit prefix {base!r} is ambiguous: give more characters"
                    )
        raise NotFoundError(
            f"ref {ref!r} not found in {self.storage}: give a branch, tag or commit id"
        )

    def _view(self, ref: str) -> tuple[str, str | None]:
        """The commit a ref reads, and the staging token when it names a branch."""
        with self._engine.connect() as conn:
            row = self._branch_row(conn, ref)
        if row is not None:
            return row
        return self._resolve(ref), None

    def _staged(
        self, conn: sa.Connection, token: str, prefix: str = ""
    ) -> list[tuple[str, str | None, int | None, str]]:
        s = md.staging.c
        q = sa.select(s.path, s.checksum, s.size, s.stamp).where(s.token == token)
        if prefix:
            q = q.where(sa.func.substr(s.path, 1, len(prefix)) == prefix)
        rows = [(r[0], r[1], r[2], r[3]) for r in conn.execute(q) if r[0].startswith(prefix)]
        rows.sort()
        return rows

    def _set_branch(self, name: str, source: str, exist_ok: bool) -> None:
        cid = self._resolve(source)
        with self._write() as conn:
            if self._branch_row(conn, name) is not None:
                if exist_ok:
                    return
                raise ConflictError(
                    f"branch {name!r} already exists: delete it first or pass exist_ok=True"
                )
            refuse_expired(conn, [cid])
            conn.execute(
                md.branches.insert().values(name=name, head=cid, staging_token=uuid.uuid4().hex)
            )

    def _delete_branch(self, name: str) -> None:
        if name == self.default_branch:
            raise ProtectedBranchError(
                f"cannot delete the default branch {name!r}: delete another branch instead"
            )
        with self._write() as conn:
            _, token = self._need_branch(conn, name)
            if self._is_protected(name, conn):
                raise ProtectedBranchError(
                    f"branch {name!r} is protected: unprotect it before deleting it"
                )
            conn.execute(md.staging.delete().where(md.staging.c.token == token))
            conn.execute(md.branches.delete().where(md.branches.c.name == name))

    def _set_tag(self, name: str, source: str, exist_ok: bool) -> None:
        cid = self._resolve(source)
        with self._write() as conn:
            if conn.execute(sa.select(md.tags.c.name).where(md.tags.c.name == name)).first():
                if exist_ok:
                    return
                raise ConflictError(
                    f"tag {name!r} already exists: tags are fixed; delete it first or pass exist_ok=True"
                )
            refuse_expired(conn, [cid])
            conn.execute(md.tags.insert().values(name=name, commit_id=cid))

    def _delete_tag(self, name: str) -> None:
        with self._write() as conn:
            if conn.execute(md.tags.delete().where(md.tags.c.name == name)).rowcount == 0:
                raise NotFoundError(f"tag {name!r} not found: see repo.tags()")

    # -- reads ------------------------------------------------------------------------
    def _own_object(self, file: os.PathLike[str]) -> Entry | None:
        """The entry of ``file`` when it is an object of this store (its address)."""
        name = Path(file).name
        if len(name) != 64 or self._store.address(name) != os.fspath(file):
            return None
        fs = self._store.filesystem  # addresses are URLs: ask the storage for the size
        try:
            return name, int(fs.size(os.fspath(file))) if fs else os.stat(file).st_size
        except OSError:
            return None

    def _info(self, path: str, entry: Entry) -> ObjectInfo:
        return ObjectInfo(path, entry[1], entry[0], self._store.address(entry[0]))

    def _objects(self, ref: str, prefix: str, after: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        _check_after(after)
        while True:  # again from the last path yielded when the branch moved under the walk
            head, token = self._view(ref)
            try:
                for info in self._objects_at(head, token, prefix, after):
                    yield info
                    after = info.path
                return
            except _Moved:
                continue

    def _objects_at(
        self, head: str, token: str | None, prefix: str, after: str
    ) -> Iterator[ObjectInfo]:
        """The objects of commit ``head`` merged with the staged rows of ``token``: both
        sides seek to ``after``, so what lies before it is never read."""
        address = self._store.address
        committed = self._tree.entries(self._commit(head).meta_range_id, prefix, after)
        if token is None:
            for p, c, s in committed:
                yield ObjectInfo(p, s, c, address(c))
            return
        staged = self._staged_after(head, token, prefix, after)
        nxt = next(staged, None)
        for p, c, s in committed:
            while nxt is not None and nxt[0] < p:
                if nxt[1] is not None:
                    yield ObjectInfo(nxt[0], nxt[2] or 0, nxt[1], address(nxt[1]))
                nxt = next(staged, None)
            if nxt is not None and nxt[0] == p:
                if nxt[1] is not None:
                    yield ObjectInfo(nxt[0], nxt[2] or 0, nxt[1], address(nxt[1]))
                nxt = next(staged, None)
                continue
            yield ObjectInfo(p, s, c, address(c))
        while nxt is not None:
            if nxt[1] is not None:
                yield ObjectInfo(nxt[0], nxt[2] or 0, nxt[1], address(nxt[1]))
            nxt = next(staged, None)

    def _staged_after(self, head: str, token: str, prefix: str, after: str) -> Iterator[StagedRow]:
        """The staged rows under ``prefix`` with paths greater than ``after``, sorted, read
        a growing batch at a time by seeking on the (token, path) key. ``_Moved`` when the
        branch was committed or reset since ``head`` (its staged rows changed meaning)."""
        s = md.staging.c
        # Python orders str by code point, as SQLite's BINARY and PostgreSQL's "C" order UTF-8.
        path = s.path if self._engine.dialect.name == "sqlite" else s.path.collate("C")
        bounds = [s.token == token, path >= prefix]
        end = _prefix_end(prefix)
        if end is not None:
            bounds.append(path < end)
        batch = 64
        while True:
            q = sa.select(s.path, s.checksum, s.size).where(*bounds, path > after)
            with self._engine.connect() as conn:
                rows = conn.execute(q.order_by(path).limit(batch)).all()
                if self._branch_row_by_token(conn, token) != head:
                    raise _Moved
            for r in rows:
                yield r[0], r[1], r[2]
            if len(rows) < batch:
                return
            after, batch = rows[-1][0], min(batch * 4, 65536)

    def _branch_row_by_token(self, conn: sa.Connection, token: str) -> str | None:
        """The head of the branch whose staging token is ``token`` (None: reset or gone)."""
        b = md.branches.c
        return conn.execute(sa.select(b.head).where(b.staging_token == token)).scalar()

    def _lookup(self, ref: str, path: str) -> Entry | None:
        head, token = self._view(ref)
        if token is not None:
            with self._engine.connect() as conn:
                row = conn.execute(
                    sa.select(md.staging.c.checksum, md.staging.c.size).where(
                        md.staging.c.token == token, md.staging.c.path == path
                    )
                ).first()
            if row is not None:
                return None if row[0] is None else (row[0], int(row[1] or 0))
        return self._tree.lookup(self._commit(head).meta_range_id, path)

    def _stat(self, ref: str, path: str) -> ObjectInfo:
        entry = self._lookup(ref, check_path(path))
        if entry is None:
            raise NotFoundError(f"no object at {path!r} in ref {ref!r}")
        return self._info(path, entry)

    def _open(self, ref: str, path: str) -> BinaryIO:
        checksum = self._stat(ref, path).checksum
        try:
            return self._store.open(checksum)
        except FileNotFoundError as e:
            raise NotFoundError(
                f"the object at {path!r} in {ref!r} was garbage-collected: read it through a "
                "ref that a branch or tag still reaches"
            ) from e

    def _diff(self, left: str, right: str, prefix: str) -> Iterator[Change]:
        check_prefix(prefix)
        lm = self._commit(self._resolve(left)).meta_range_id
        rm = self._commit(self._resolve(right)).meta_range_id
        for path, a, b in self._tree.diff(lm, rm, prefix):
            if a is None:
                yield Change("added", path, b[1] if b else None)
            elif b is None:
                yield Change("removed", path, None)
            else:
                yield Change("changed", path, b[1])

    def _log(
        self, ref: str, max_amount: int | None, prefixes: Sequence[str] | None, first_parent: bool
    ) -> Iterator[Commit]:
        return _logging.log(self, ref, max_amount, prefixes, first_parent)

    # -- staging ----------------------------------------------------------------------
    def _check_writable(self, branch: str) -> None:
        with self._engine.connect() as conn:
            row = self._branch_row(conn, branch)
            if row is None:
                if self._resolve_or_none(branch) is not None:
                    raise ReadOnlyReferenceError(
                        f"{branch!r} is not a branch: write objects through a branch"
                    )
                self._need_branch(conn, branch)
            self._refuse_if_protected(conn, branch, "write")

    def _resolve_or_none(self, ref: str) -> str | None:
        try:
            return self._resolve(ref)
        except ReposError:
            return None

    def _stage(self, branch: str, rows: Sequence[StagedRow], op: Operation | None = None) -> None:
        """Stage ``rows`` in one transaction (all or none) and clear ``op``'s intents."""
        stamp = uuid.uuid4().hex
        with self._write() as conn:
            _, token = self._need_branch(conn, branch)
            self._refuse_if_protected(conn, branch, "write")
            s = md.staging.c
            has_rows = conn.execute(sa.select(s.path).where(s.token == token).limit(1)).first()
            if has_rows:
                for chunk in _chunks([r[0] for r in rows]):
                    conn.execute(md.staging.delete().where(s.token == token, s.path.in_(chunk)))
            conn.execute(
                md.staging.insert(),
                [
                    {"token": token, "path": p, "checksum": c, "size": z, "stamp": stamp}
                    for p, c, z in rows
                ],
            )
            clear(conn, op)

    def _put_all(self, items: Mapping[str, object]) -> list[StagedRow]:
        """Put the objects of ``items`` (checked), recording their intents first."""
        seen: dict[bytes, tuple[str, int]] = {}
        blobs = {
            p: bytes(v) for p, v in items.items() if isinstance(v, bytes | bytearray | memoryview)
        }
        digests = {p: hashlib.sha256(b).hexdigest() for p, b in blobs.items()}
        self._intents.record(sorted(set(digests.values())))
        rows: list[StagedRow] = []
        for p, v in items.items():
            if p in blobs:
                data = blobs[p]
                hit = seen.get(data)
                if hit is None:
                    hit = seen[data] = self._store.put_bytes(data)
                checksum, size = hit
            elif isinstance(v, str | os.PathLike):
                with open(v, "rb") as f:
                    checksum, size = self._store.put_stream(f, self._intents.admit)
            else:
                checksum, size = self._store.put_stream(v, self._intents.admit)  # type: ignore[arg-type]
            rows.append((p, checksum, size))
        return rows

    @staticmethod
    def _check_items(items: Mapping[str, object]) -> list[str]:
        if not isinstance(items, Mapping):
            raise InvalidNameError("upload_many takes a mapping of path -> bytes or file path")
        paths = [check_path(p) for p in items]
        for p, v in items.items():
            if not isinstance(
                v, bytes | bytearray | memoryview | str | os.PathLike
            ) and not hasattr(v, "read"):
                raise InvalidNameError(
                    f"cannot upload {type(v).__name__} at {p!r}: give bytes, a file object or a path"
                )
            if isinstance(v, str | os.PathLike) and not Path(v).is_file():
                raise InvalidNameError(f"cannot upload {p!r}: no file at {os.fspath(v)!r}")
        return paths

    def _upload(self, branch: str, items: Mapping[str, object]) -> list[StagedRow]:
        self._check_items(items)
        self._check_writable(branch)
        with self._intents.operation() as op:
            rows = self._put_all(items)
            if rows:
                self._stage(branch, rows, op)
        return rows

    def _stage_changes(
        self, branch: str, upload: Mapping[str, object], delete: Iterable[str]
    ) -> list[StagedRow]:
        """Upload ``upload`` and stage it with the deletion of ``delete`` as one change."""
        paths = self._check_items(upload)
        gone = [check_path(p) for p in ([delete] if isinstance(delete, str) else delete)]
        both = set(paths) & set(gone)
        if both:
            raise InvalidNameError(
                f"cannot both upload and delete {sorted(both)[0]!r} in one change"
            )
        self._check_writable(branch)
        with self._intents.operation() as op:
            rows = self._put_all(upload)
            rows += [(p, None, None) for p in gone]
            if rows:
                self._stage(branch, rows, op)
        return rows

    def _delete_paths(self, branch: str, paths: Iterable[str], must_exist: bool) -> None:
        checked = [check_path(p) for p in paths]
        self._check_writable(branch)
        if must_exist:
            for p in checked:
                if self._lookup(branch, p) is None:
                    raise NotFoundError(f"no object at {p!r} on branch {branch!r}")
        if checked:
            self._stage(branch, [(p, None, None) for p in checked])

    def _uncommitted(self, branch: str, prefix: str) -> Iterator[Change]:
        check_prefix(prefix)
        with self._engine.connect() as conn:
            head, token = self._need_branch(conn, branch)
            staged = self._staged(conn, token, prefix)
        _, changes = self._effective(self._commit(head).meta_range_id, staged)
        yield from changes

    def _effective(
        self, meta: str, staged: Sequence[tuple[str, str | None, int | None, str]]
    ) -> tuple[list[tuple[str, Entry | None]], list[Change]]:
        ops: list[tuple[str, Entry | None]] = []
        changes: list[Change] = []
        for path, checksum, size, _ in staged:
            old = self._tree.lookup(meta, path)
            if checksum is None:
                if old is not None:
                    ops.append((path, None))
                    changes.append(Change("removed", path, None))
                continue
            new = (checksum, int(size or 0))
            if old == new:
                continue
            ops.append((path, new))
            changes.append(Change("added" if old is None else "changed", path, new[1]))
        return ops, changes

    def _reset(self, branch: str) -> None:
        with self._write() as conn:
            _, token = self._need_branch(conn, branch)
            conn.execute(
                md.branches.update()
                .where(md.branches.c.name == branch)
                .values(staging_token=uuid.uuid4().hex)
            )
            conn.execute(md.staging.delete().where(md.staging.c.token == token))

    # -- commits ----------------------------------------------------------------------
    def _check_commit_args(self, message: object, metadata: object) -> dict[str, str]:
        if not isinstance(message, str):
            raise InvalidNameError(f"commit message must be a string, not {type(message).__name__}")
        meta = {} if metadata is None else metadata
        if not isinstance(meta, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise InvalidNameError("commit metadata must be a mapping of str -> str")
        return dict(meta)

    def _new_commit(
        self, parents: tuple[str, ...], message: str, metadata: Mapping[str, str], meta: str
    ) -> tuple[Commit, int]:
        now = datetime.now(UTC)
        cid = commit_id(parents, message, metadata, self.author, now, meta)
        gen = 1 + max(g for _, g in self._load(parents).values())
        return Commit(cid, parents, message, dict(metadata), self.author, now, meta), gen

    @staticmethod
    def _store_commit(conn: sa.Connection, commit: Commit, gen: int) -> None:
        """Insert ``commit``'s row unless it is there (ids are content hashes)."""
        c = md.commits.c
        if conn.execute(sa.select(c.id).where(c.id == commit.id)).first() is None:
            conn.execute(
                md.commits.insert().values(
                    id=commit.id,
                    parents=json.dumps(list(commit.parents)),
                    message=commit.message,
                    metadata=json.dumps(dict(commit.metadata), sort_keys=True),
                    author=commit.author,
                    creation_date=commit.creation_date.isoformat(),
                    meta_range_id=commit.meta_range_id,
                    generation=gen,
                )
            )

    def _cas(
        self,
        branch: str,
        old_head: str,
        commit: Commit,
        gen: int,
        token: str | None = None,
        stamps: Iterable[str] = (),
        op: Operation | None = None,
        sources: Iterable[str] = (),
    ) -> bool:
        """Insert ``commit`` and move ``branch`` from ``old_head`` to it, atomically; clear
        ``op``'s intents. ``sources``: the other commits whose trees the commit reuses."""
        with self._write() as conn:
            refuse_expired(conn, sources)
            self._store_commit(conn, commit, gen)
            moved = conn.execute(
                md.branches.update()
                .where(md.branches.c.name == branch, md.branches.c.head == old_head)
                .values(head=commit.id)
            )
            if moved.rowcount != 1:
                conn.rollback()
                return False
            s = md.staging.c
            for chunk in _chunks(sorted(set(stamps))):
                conn.execute(md.staging.delete().where(s.token == token, s.stamp.in_(chunk)))
            clear(conn, op)
        self._commit_cache[commit.id] = (commit, gen)
        return True

    def _commit_branch(
        self, branch: str, message: str, metadata: Mapping[str, str] | None, allow_empty: bool
    ) -> Commit:
        meta_kv = self._check_commit_args(message, metadata)
        for attempt in range(_COMMIT_RETRIES):
            with self._engine.connect() as conn, conn.begin():
                head, token = self._need_branch(conn, branch)
                self._refuse_if_protected(conn, branch, "commit")
                staged = self._staged(conn, token)
            head_commit = self._commit(head)
            ops, changes = self._effective(head_commit.meta_range_id, staged)
            if not changes and not allow_empty:
                raise EmptyCommitError(
                    f"nothing to commit on branch {branch!r}: upload or delete objects first, "
                    "or pass allow_empty=True"
                )
            event = HookEvent("pre-commit", branch, tuple(changes), message, meta_kv)
            self._run_pre_hooks(event)
            with self._intents.operation() as op:
                new_meta = self._tree.apply(head_commit.meta_range_id, ops)
                commit, gen = self._new_commit((head,), message, meta_kv, new_meta)
                if self._before_cas is not None:
                    self._before_cas()
                moved = self._cas(branch, head, commit, gen, token, {r[3] for r in staged}, op)
            if moved:
                self._run_post_hooks(
                    HookEvent(
                        "post-commit", branch, tuple(changes), message, meta_kv, commit=commit
                    )
                )
                return commit
            time.sleep(random.uniform(0, 0.01 * min(attempt + 1, 10)))
        raise ConflictError(
            f"branch {branch!r} kept moving while committing ({_COMMIT_RETRIES} tries): retry later"
        )

    def _require_clean(
        self, conn: sa.Connection, branch: str, head: str, token: str, verb: str
    ) -> None:
        staged = self._staged(conn, token)
        if staged and self._effective(self._commit(head).meta_range_id, staged)[1]:
            raise ConflictError(
                f"branch {branch!r} has uncommitted changes: commit or reset them before {verb}"
            )

    def _merge(
        self,
        source: str,
        dest: str,
        strategy: str | None,
        message: str | None,
        metadata: Mapping[str, str] | None,
        allow_empty: bool = False,
        resolver: MergeResolver | None = None,
    ) -> Commit:
        return _merging.merge(
            self, source, dest, strategy, message, metadata, allow_empty, resolver
        )

    def _revert(self, branch: str, reference: str, parent_number: int) -> Commit:
        return _merging.revert(self, branch, reference, parent_number)

    def _cherry_pick(
        self,
        branch: str,
        reference: str,
        parent_number: int,
        message: str | None,
        metadata: Mapping[str, str] | None,
    ) -> Commit:
        return _merging.cherry_pick(self, branch, reference, parent_number, message, metadata)

    # -- history rewrite ---------------------------------------------------------------
    def rewrite(
        self,
        transform: Transform,
        prefix: str | Sequence[str] = "",
        metadata: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
    ) -> Rewrite:
        """Rewrite the whole history: every object under ``prefix`` (one or several) in
        every commit a branch or tag reaches, and staged on a branch, becomes what
        ``transform(path, info)`` returns (``KEEP``, None to drop it, new content, or a
        mapping of path -> content); commits that change get new ids, and every branch and
        tag, protected or not, moves to them in one transaction. ``metadata`` (or a
        function giving it once the transforms ran) is recorded with the rewrite
        (``rewrites()``). Old ids resolve to their new commits (``rewritten``); GC then
        collects the replaced objects whatever the retention. See ``repos._rewrite`` for
        what a crash leaves."""
        return _rewrite.rewrite(self, transform, prefix, metadata)

    def rewritten(self, old_id: str) -> str | None:
        """The id of the commit a history rewrite replaced commit ``old_id`` with, or None."""
        return _rewrite.rewritten(self, old_id)

    def rewrites(self, since: datetime | None = None) -> list[Rewrite]:
        """Every history rewrite recorded, oldest first (append-only); with ``since``,
        only those recorded after that time."""
        return _rewrite.rewrites(self, since)

    def annotate_rewrite(self, rewrite_id: str, metadata: Mapping[str, str]) -> None:
        """Add keys to a recorded rewrite's metadata; keys it holds never change."""
        _rewrite.annotate(self, rewrite_id, metadata)

    def keyed_hash(self, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` under a random secret of this repository, kept in its
        metadata database: records can name a value by it without holding the value."""
        return self.keyed_hashes([data])[0]

    def keyed_hashes(self, items: Sequence[bytes]) -> list[str]:
        """``keyed_hash`` of each of ``items``, reading the secret once."""
        import hmac
        import secrets

        key = sa.select(md.settings.c.value).where(md.settings.c.key == _HASH_SECRET)
        with self._engine.connect() as conn:
            secret = conn.execute(key).scalar_one_or_none()
        if secret is None:
            try:
                with self._write() as conn:
                    conn.execute(
                        md.settings.insert().values(key=_HASH_SECRET, value=secrets.token_hex(32))
                    )
            except ConflictError:
                pass  # another writer made it first
            with self._engine.connect() as conn:
                secret = conn.execute(key).scalar_one()
        raw = bytes.fromhex(str(secret))
        return [hmac.new(raw, data, hashlib.sha256).hexdigest() for data in items]

    # -- garbage collection -------------------------------------------------------------
    def gc(
        self,
        retention: timedelta = timedelta(days=7),
        grace: timedelta = timedelta(hours=6),
        *,
        orphans_after: timedelta | None = None,
    ) -> GCResult:
        """Delete the objects nothing keeps: not reachable from a branch, a tag or a commit
        younger than ``retention``, not staged, not younger than ``retention`` and not being
        uploaded (an upload intent younger than ``grace``). Safe beside any writer.

        Commits that no ref reached and older than ``retention`` become expired: no branch
        or tag may point at them again. ``grace`` bounds how long a writer may take between
        uploading an object and staging or committing it; lower it only when no writer runs.

        ``orphans_after``: an object that no kept commit, staged row or intent names (a
        staged write replaced before its commit, a crashed writer's upload) goes once it
        is this old instead of once older than ``retention`` (``timedelta(0)``: at once,
        still safe beside writers, whose objects their intents name). Objects a history
        rewrite replaced go at once whatever this says.
        """
        return collect(self, retention, grace, orphans_after)


class _Moved(Exception):
    """A branch moved (committed, reset) while its objects were being listed."""


def _check_after(after: object) -> str:
    """``after`` if it is a string a listing can start after."""
    if not isinstance(after, str) or "\x00" in after:
        raise InvalidNameError(
            f"invalid after {after!r}: give the path (a string without NUL) to list after"
        )
    try:
        after.encode()
    except UnicodeEncodeError:
        raise InvalidNameError(
            f"invalid after {after!r}: give a path of valid Unicode (no lone surrogates)"
        ) from None
    return after


def _prefix_end(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (None when
    there is none: '' or only U+10FFFF)."""
    while prefix:
        c = ord(prefix[-1]) + 1
        if c <= 0x10FFFF:
            return prefix[:-1] + chr(0xE000 if 0xD800 <= c <= 0xDFFF else c)
        prefix = prefix[:-1]
    return None


class _WriteTxn:
    """A write transaction (``BEGIN IMMEDIATE`` on SQLite); wraps database errors."""

    def __init__(self, engine: sa.Engine, exclusive: bool = False) -> None:
        self._conn = engine.connect().execution_options(immediate=True)
        self._exclusive = exclusive

    def __enter__(self) -> sa.Connection:
        self._txn = self._conn.begin()
        try:
            (lock_exclusive if self._exclusive else lock_shared)(self._conn)
        except BaseException:
            self._txn.rollback()
            self._conn.close()
            raise
        return self._conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None and self._txn.is_active:
                self._txn.commit()
            elif self._txn.is_active:
                self._txn.rollback()
        except IntegrityError as e:
            raise ConflictError(f"a concurrent change collided: retry ({e.orig})") from e
        finally:
            self._conn.close()
        if isinstance(exc, IntegrityError):
            raise ConflictError(f"a concurrent change collided: retry ({exc.orig})") from exc
