"""Online data namespaced by branch: each branch serves from its own key prefix.

The default branch keeps the project's prefix, ``{key_prefix}:{view}:{key}``, so its
lookups send the same commands as ever; branch ``B`` writes and reads under
``{key_prefix}@{B}:{view}:{key}`` (``@`` is in no project or branch name, and no
``{key_prefix}:*`` pattern matches those keys). A namespace's materialization records
live in it too, so ``materialize(ref="dev")`` never moves what ``main`` serves.

Branch namespaces that were written are listed in one small set,
``{key_prefix}:_namespaces``, added to just before a namespace's first write of a run,
so ``online_status`` lists them in one command instead of walking the keyspace; deleting
a namespace removes its keys first and its member last, so a killed delete is still
listed and the next one finishes it. Housekeeping that must be complete (teardown,
erasure, orphans) also walks the keyspace (SCAN) for ``{key_prefix}@*`` keys.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from featurestore.boundary import redact, translated
from featurestore.errors import FeatureStoreError, NotFoundError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    import online
    from featurestore.features import FeaturePlan
    from featurestore.registry import Registry
    from featurestore.store import FeatureStore

__all__ = [
    "NAMESPACES_SET",
    "SEPARATOR",
    "collect_orphans",
    "delete_entity_online",
    "delete_namespace",
    "free_branch",
    "materialized_any",
    "materialized_namespace",
    "namespaces",
    "online_for",
    "prefix_of",
    "register",
    "serving_for",
    "serving_registry",
    "teardown",
    "written_branch",
]

SEPARATOR = "@"
NAMESPACES_SET = "_namespaces"
"""The set, under the project's prefix, of branches whose namespace was written."""


def _default(store: FeatureStore) -> str:
    return store.config.default_branch


def prefix_of(store: FeatureStore, branch: str) -> str:
    """The key prefix of ``branch``'s namespace: the project's for the default branch."""
    base = store.online_store.key_prefix
    return base if branch == _default(store) else f"{base}{SEPARATOR}{branch}"


def online_for(store: FeatureStore, branch: str | None) -> online.RedisOnlineStore:
    """The online store of ``branch``'s namespace (None: the default branch's).

    Shares the project store's connections. Call ``register`` before writing to it
    (``materialized_namespace`` gives a store that does so itself).
    """
    base = store.online_store
    if branch is None or branch == _default(store):
        return base
    return base.with_prefix(f"{base.key_prefix}{SEPARATOR}{branch}")


def register(store: FeatureStore, branch: str) -> None:
    """List ``branch``'s namespace; call before writing it, so no written one is unlisted."""
    if branch != _default(store):
        store.online_store.add_members(NAMESPACES_SET, [branch])


class _Registering:
    """A branch namespace's store that lists the namespace before its first write, so a
    run refused before writing anything leaves no trace."""

    def __init__(self, store: FeatureStore, branch: str) -> None:
        self._fs = store
        self._branch = branch
        self._inner = online_for(store, branch)
        self._listed = False

    def write(
        self,
        table: str,
        keys: Sequence[bytes],
        values: pa.RecordBatch | pa.Table,
        event_ts: pa.Array | pa.ChunkedArray,
        *,
        commit: str | None = None,
        ttl: timedelta | None = None,
    ) -> online.WriteResult:
        if not self._listed:
            register(self._fs, self._branch)
            self._listed = True
        return self._inner.write(table, keys, values, event_ts, commit=commit, ttl=ttl)

    def read(self, requests: Sequence[online.ReadRequest]) -> list[pa.Table]:
        return self._inner.read(requests)

    def delete(self, table: str, keys: Sequence[bytes]) -> int:
        return self._inner.delete(table, keys)

    def delete_table(self, table: str) -> int:
        return self._inner.delete_table(table)

    def delete_all(self) -> int:
        return self._inner.delete_all()

    def ping(self) -> bool:
        return self._inner.ping()

    def close(self) -> None:
        """Nothing: the connections are the project store's."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def materialized_namespace(store: FeatureStore, ref: str) -> tuple[str, online.OnlineStore]:
    """Where a run from ``ref`` writes: the branch named and its store.

    A branch writes to its own namespace; any other ref (a tag, a commit id, ``main~2``)
    is served by the default branch, as a rollback of production is. Internal branches
    (serving log, saved datasets) are refused: their data is no feature data to serve.
    """
    from featurestore.datasets import refuse_internal

    refuse_internal(ref, "materialize from")
    if ref == _default(store) or not _is_branch(store, ref):
        return _default(store), store.online_store
    return ref, _Registering(store, ref)


def _is_branch(store: FeatureStore, name: str) -> bool:
    from featurestore.datasets import is_internal

    if is_internal(name):
        return False
    with translated():
        return any(b.id == name for b in store.repository.branches())


def written_branch(store: FeatureStore, branch: str | None, action: str) -> str:
    """The branch a push or direct write of ``branch`` goes to (None: the default one).

    Internal branches are refused (RefusedError), and so is any ref that is not a branch
    (a tag, a commit id, ``main~1``), with the NotFoundError lookups give: its namespace
    would be one nothing reads. ``action`` says what was asked (``push to``...).
    """
    from featurestore.datasets import refuse_internal

    name = branch or _default(store)
    refuse_internal(name, action)
    if name != _default(store) and not _is_branch(store, name):
        raise _not_a_branch(store, name, writes=True)
    return name


def materialized_any(store: FeatureStore, branch: str | None) -> bool:
    """Whether ``branch``'s namespace (None: the default one) holds a materialization
    record of any online view its serving definitions name (one command)."""
    from featurestore import materialization as m

    names = [v.name for v in serving_registry(store, branch).feature_views if v.online]
    with translated():
        return bool(names) and bool(m.read_states(online_for(store, branch), names))


def namespaces(store: FeatureStore) -> list[str]:
    """The branches, other than the default one, whose namespace was written (one command)."""
    with translated():
        return store.online_store.members(NAMESPACES_SET)


def _found(store: FeatureStore) -> list[str]:
    """Every branch namespace holding keys or listed: the set and a walk of the keyspace."""
    with translated():
        base = store.online_store
        start = len(base.key_prefix) + len(SEPARATOR)
        walked = {p[start:] for p in base.prefixes_after(SEPARATOR)}
        return sorted(walked | set(base.members(NAMESPACES_SET)))


def delete_namespace(store: FeatureStore, branch: str) -> int:
    """Remove every online key of ``branch``'s namespace; how many keys there were.

    Keys first, the listing last: a delete killed part way stays listed and the next
    delete (or ``teardown``) finishes it. The default branch's data is removed with
    ``FeatureStore.teardown`` instead.
    """
    if branch == _default(store):
        raise ValidationError(
            f"{branch!r} is the default branch, whose online data is the project's; "
            "remove it with FeatureStore.teardown() (`featurestore teardown`)"
        )
    with translated():
        removed = online_for(store, branch).delete_all()
        store.online_store.remove_members(NAMESPACES_SET, [branch])
    return removed


def collect_orphans(store: FeatureStore, *, walk: bool = True) -> dict[str, int]:
    """Remove the namespaces of branches that no longer exist; keys removed per branch.

    ``walk``: find namespaces by walking the keyspace as well as the listing (complete;
    costs a SCAN of every key). Each branch is checked again just before its namespace
    is removed, so a branch created meanwhile keeps its data.
    """
    found = _found(store) if walk else namespaces(store)
    out: dict[str, int] = {}
    for branch in found:
        if branch != _default(store) and not _is_branch(store, branch):
            out[branch] = delete_namespace(store, branch)
    return out


def free_branch(store: FeatureStore, name: str) -> int:
    """After branch ``name`` was deleted: remove its namespace and those of branches
    deleted without their keys (a crash, or a delete through ``repos`` directly) that
    the listing names; online keys removed. An unreachable online store warns."""
    try:
        removed = delete_namespace(store, name)
        return removed + sum(collect_orphans(store, walk=False).values())
    except FeatureStoreError as e:
        warnings.warn(
            f"deleted branch {name!r}, but its online data could not be removed: "
            f"{redact(str(e))}. Once the online store answers, delete another branch or "
            "run `featurestore gc` (FeatureStore.collect_online_orphans())",
            RuntimeWarning,
            stacklevel=3,
        )
        return 0


def teardown(store: FeatureStore) -> int:
    """Remove every online key of the project: each branch namespace, then the default
    branch's (records first, as ``materialization.clear_all_online`` does)."""
    from featurestore import materialization as m

    removed = sum(delete_namespace(store, b) for b in _found(store) if b != _default(store))
    with translated():
        return removed + m.clear_all_online(store.online_store)


def delete_entity_online(store: FeatureStore, join_keys: Mapping[str, Any]) -> int:
    """Delete one entity's online values in every namespace; how many keys existed.

    The entity is given by all its join keys (``{"driver_id": 1001}``); every view whose
    join keys are exactly those, as defined on any branch (staged or committed), loses
    that entity's key in the default branch's namespace and in every branch namespace.
    """
    import online as online_pkg
    from featurestore.aggregates import series_table

    names = sorted(join_keys)
    if not names:
        raise ValidationError("give the entity's join keys, e.g. {'driver_id': 1001}")
    with translated():
        key = online_pkg.encode_entity_key(names, [join_keys[k] for k in names])
        views = sorted(_views_keyed_by(store, set(names)))
        removed = 0
        for branch in [_default(store), *_found(store)]:
            target = online_for(store, branch)
            tables = [t for view in views for t in (view, series_table(view))]
            removed += sum(target.delete(table, [key]) for table in tables)
    return removed


def _views_keyed_by(store: FeatureStore, names: set[str]) -> set[str]:
    """Online views, on any branch (head or staged), whose join keys are ``names``."""
    out: set[str] = set()
    with translated():
        refs = {ref for b in store.branches() for ref in (b.id, b.resolve())}
    for ref in sorted(refs):
        out.update(
            v.name
            for v in store.registry(ref).feature_views
            if v.online and set(v.join_keys) == names
        )
    return out


# -- lookups of a branch ----------------------------------------------------------------


@dataclass
class Serving:
    """What lookups of one branch use: its head, the definitions there and their plans."""

    head: str
    registry: Registry
    online: online.RedisOnlineStore
    checked: float
    plans: dict[tuple[Any, ...], FeaturePlan] = field(default_factory=dict)


_serving: weakref.WeakKeyDictionary[FeatureStore, dict[str, Serving]] = weakref.WeakKeyDictionary()


def _not_a_branch(store: FeatureStore, ref: str, *, writes: bool = False) -> NotFoundError:
    with translated():
        known = [b.id for b in store.branches()]
    what = "pushes and online writes go to" if writes else "online lookups read"
    served = (
        f"A tag or commit is served by materializing it: `featurestore materialize "
        f"START END --ref {ref}` serves it on {_default(store)!r} (a rollback)"
        if writes
        else "Tags and commits are served by materializing them on a branch"
    )
    return NotFoundError(
        f"ref {ref!r} is not a branch: {what} a branch's namespace, so pass "
        f"a branch name (one of {', '.join(known[:20]) or '(none)'}), or leave ref out for "
        f"{_default(store)!r}. {served}"
    )


def serving_for(store: FeatureStore, branch: str) -> Serving:
    """The definitions, plans and store lookups of ``branch`` use (a non-default branch),
    cached until its head moves, checked at most every ``store.registry_ttl_s``.

    That ``branch`` is a branch (not a tag or commit) is checked whenever its head is
    new, so a lookup whose head did not move costs one metadata query, as ``main``'s.
    """
    cache = _serving.get(store)
    if cache is None:
        cache = _serving.setdefault(store, {})
    entry = cache.get(branch)
    now = time.monotonic()
    if entry is not None and now - entry.checked < store.registry_ttl_s:
        return entry
    target = online_for(store, branch)
    if entry is not None:
        try:
            head = store.resolve(branch)
        except NotFoundError:
            cache.pop(branch, None)
            raise _not_a_branch(store, branch) from None
        if entry.head == head and entry.online is target:
            entry.checked = now
            return entry
    if not _is_branch(store, branch):
        raise _not_a_branch(store, branch)
    head = store.resolve(branch)
    entry = Serving(head, store.registry(head), target, now)
    if len(cache) > 64:
        cache.clear()
    cache[branch] = entry
    return entry


def serving_registry(store: FeatureStore, ref: str | None) -> Registry:
    """The definitions lookups of ``ref`` serve (None: the default branch's)."""
    if ref is None or ref == _default(store):
        return store._serving_registry()
    return serving_for(store, ref).registry
