"""Erasure: forget one entity (a person) everywhere, and keep an audit that says so.

``erase(store, {"driver_id": 1001}, reason=...)`` rewrites the whole history of the
repository (``repos.Repository.rewrite``): every table part holding the entity's rows
(``tables/<t>/part-*.parquet`` whose columns include all its join keys: feature
tables, source tables and the serving log alike) is replaced by a content-named part
without them, every saved dataset's ``data.parquet`` likewise (its ``meta.json`` gets
``redacted``, the erasure's id and its new row count and entity hash), on every branch,
tag and commit, staged writes included. Commits get new ids; an old id still resolves
(to its new commit), so a model's saved dataset and its ``commit_id`` stay findable.
Then the entity's online keys go in every branch namespace, the online server rewrites
its persistence files (append-only file, snapshot) so they hold the keys no more (an
external server's replicas and backups are the operator's; the record's ``notes`` say
so), and the materialization records naming old commits are moved to the new ones. ``collect=True`` runs GC, which
removes the replaced objects from disk at once, whatever the retention, and every object
nothing names any more (a staged write replaced or reset before its commit may hold the
entity's rows too).

The audit is the rewrite's record in the metadata database, written in the same
transaction that moves the refs (append-only; ``erasures()``): when, why, by whom,
which commits and saved datasets changed and how many rows each table lost. It holds
no key value: the entity is named by an HMAC of its keys under a secret of the
repository, so ``erasures({"driver_id": 1001})`` answers "was this person erased, and
when", and ``saved_datasets(containing=...)`` before it "was their data used".

A crash before the refs move leaves the history as it was and no record; after it, the
history is erased and recorded, and rerunning ``erase`` finishes the online part (and
appends a record that changed no commit). The record gets ``online_keys_deleted`` once
the online keys are gone.

Entity values are read as their join keys' declared types before anything is done, the
way lookups read them (``"1001"`` is 1001 for an Int64 key; ``"abc"``, 1.5 or True is a
``ValidationError``), so the audit's hash names the typed value whichever form was given.
Lookups served by another process before the erasure and still in its serving log queue
are dropped at its flush (``featurestore.serving_log``), so they do not bring rows back.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from featurestore.boundary import translated
from featurestore.errors import BackendError, FeatureStoreError, ValidationError

if TYPE_CHECKING:
    import fsspec

    import repos
    from featurestore.store import FeatureStore

__all__ = [
    "ErasureRecord",
    "erase",
    "erased_since",
    "erasures",
    "key_hash",
    "key_hashes",
    "without_erased",
]

_KIND = "erasure"
_ONLINE = "online_keys_deleted"
_NOTES = "notes"
_PART = re.compile(r"^tables/([^/]+)/part-[^/]+\.parquet$")
_DATA = re.compile(r"^datasets/([^/]+)/data\.parquet$")
_META = re.compile(r"^datasets/([^/]+)/meta\.json$")


@dataclass(frozen=True)
class ErasureRecord:
    """One erasure: when, why, by whom, and what it changed (never the key's value).

    ``key_hash`` is an HMAC of the entity's keys under the repository's secret;
    ``commits`` maps each rewritten commit's old id to its new one; ``tables`` counts the
    rows removed per table, and per saved dataset as ``dataset:<name>`` (over distinct
    objects: a row kept in two parts counts twice).
    ``online_keys_deleted`` is added to the audit once the online keys are gone (None
    when read back from an erasure stopped before that); ``objects_collected`` is known
    only to the call that erased.
    """

    id: str
    erased_at: datetime
    reason: str
    by: str
    entity_keys: tuple[str, ...]
    key_hash: str
    commits: Mapping[str, str] = field(repr=False)
    datasets: tuple[str, ...]
    tables: Mapping[str, int]
    online_keys_deleted: int | None = None
    objects_collected: int | None = None
    notes: tuple[str, ...] = ()
    """What the erasure did or could not do beyond the repository (the online server's
    persistence files; an external server's replicas and backups)."""

    @property
    def rows_removed(self) -> int:
        """Rows removed from tables and saved datasets, over distinct objects."""
        return sum(self.tables.values())


def _canonical(value: Any) -> Any:
    return {"bytes": value.hex()} if isinstance(value, bytes) else value


def key_hash(repo: repos.Repository, entity: Mapping[str, Any]) -> str:
    """The audit's name of ``entity`` (typed join key -> value): an HMAC of its canonical
    form under the repository's secret, so the audit holds no key value."""
    return key_hashes(repo, [entity])[0]


def key_hashes(repo: repos.Repository, entities: Sequence[Mapping[str, Any]]) -> list[str]:
    """``key_hash`` of each of ``entities``, reading the secret once."""
    texts = [
        b"erasure\x00"
        + json.dumps(
            {k: _canonical(v) for k, v in sorted(e.items())},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        for e in entities
    ]
    with translated():
        return repo.keyed_hashes(texts)


def without_erased(
    repo: repos.Repository, table: pa.Table, erased: Sequence[ErasureRecord], at: str | None
) -> pa.Table:
    """``table`` without the rows of entities that ``erased`` erased after the row's
    time (column ``at``; None: whatever its time): each distinct key is hashed once."""
    keep: pa.ChunkedArray | None = None
    for record in erased:
        keys = list(record.entity_keys)
        if not keys or not all(k in table.column_names for k in keys):
            continue
        before = (
            pa.chunked_array([pa.array([True] * table.num_rows, pa.bool_())])
            if at is None
            else pc.fill_null(pc.less_equal(table.column(at), pa.scalar(record.erased_at)), False)
        )
        if not table.num_rows or not pc.any(before).as_py():
            continue
        rows = table.select(keys).to_pylist()
        distinct = sorted({tuple(r[k] for k in keys) for r in rows}, key=repr)
        hashes = key_hashes(repo, [dict(zip(keys, t, strict=True)) for t in distinct])
        hit = {t for t, h in zip(distinct, hashes, strict=True) if h == record.key_hash}
        if not hit:
            continue
        match = pa.array([tuple(r[k] for k in keys) in hit for r in rows], pa.bool_())
        drop = pc.and_(before, match)
        keep = pc.invert(drop) if keep is None else pc.and_(keep, pc.invert(drop))
    return table if keep is None else table.filter(keep)


def _key_types(store: FeatureStore) -> dict[str, pa.DataType | None]:
    """Every join key of an entity or feature view on any branch -> its declared type
    (None where views declare it differently, or nothing declares it)."""
    from featurestore.entity_keys import key_types

    with translated():
        refs = [b.id for b in store.branches()]
    regs = [store.registry(ref) for ref in refs]
    types = key_types(
        (f.name, f.dtype.to_arrow()) for reg in regs for v in reg.feature_views
        for f in v.entity_columns
    )  # fmt: skip
    for reg in regs:
        for name in (
            *(k for v in reg.feature_views for k in v.join_keys),
            *(k for e in reg.entities for k in e.join_keys),
        ):
            types.setdefault(name, None)
    return types


def _check_entity(store: FeatureStore, entity: object) -> dict[str, Any]:
    """``entity`` with each value read as its join key's type, the way lookups read keys
    (``"1002"`` is 1002 for an integer key); refused before anything is done."""
    from featurestore.entity_keys import cast_key_strings, check_key_values

    if not isinstance(entity, Mapping) or not entity:
        raise ValidationError(
            "give the entity as its join keys and values, e.g. {'driver_id': 1001}"
        )
    for k in entity:
        if not isinstance(k, str) or not k:
            raise ValidationError(f"entity key {k!r}: give join key names as strings")
    types = _key_types(store)
    unknown = sorted(set(entity) - set(types))
    if unknown:
        raise ValidationError(
            f"{', '.join(map(repr, unknown))} is not a join key of any entity or feature "
            f"view; the join keys are {sorted(types)}"
        )
    out: dict[str, Any] = {}
    for k, v in entity.items():
        dtype = types[k]
        (value,) = cast_key_strings(k, [v], dtype)
        try:
            check_key_values(k, [value], dtype)
        except ValidationError as e:
            text = str(e).replace("entity row 0 has", "the entity has")
            raise ValidationError(text.replace(" in entity row 0", "")) from None
        if isinstance(value, pa.Scalar):
            value = value.as_py()
        item = getattr(value, "item", None)
        if callable(item) and not isinstance(value, str | bytes):
            value = item()  # numpy scalars
        out[k] = value
    return dict(sorted(out.items()))


@dataclass
class _Filtered:
    table: pa.Table | None  # the rows kept; None: nothing matched, the object stays
    removed: int


class _Filter:
    """Filters Parquet objects without the entity's rows (one read per object)."""

    def __init__(self, entity: Mapping[str, Any], fs: fsspec.AbstractFileSystem | None) -> None:
        self.entity = entity
        self.fs = fs  # reads the objects' addresses when they are URLs (S3)
        self.cache: dict[str, _Filtered] = {}
        self.tables: dict[str, int] = {}
        self.datasets: dict[str, tuple[int, str]] = {}  # name -> (rows kept, entity hash)
        self.removed: list[pa.Table] = []  # the rows taken out, for composite online keys
        self.parts: dict[str, str | None] = {}  # old part's checksum -> its new path, if any

    def rows(self, info: repos.ObjectInfo) -> _Filtered:
        hit = self.cache.get(info.checksum)
        if hit is not None:
            return hit
        from offline import _fs

        schema = _fs.read_schema(info.physical_address, self.fs)
        hit = _Filtered(None, 0)
        if all(k in schema.names for k in self.entity):
            values = {}
            for k, v in self.entity.items():
                try:
                    values[k] = pa.scalar(v).cast(schema.field(k).type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    values = {}
                    break
            if values:
                table = _fs.read_table(info.physical_address, self.fs)
                mask: pa.ChunkedArray | None = None
                for k, scalar in values.items():
                    eq = pc.fill_null(pc.equal(table.column(k), scalar), False)
                    mask = eq if mask is None else pc.and_(mask, eq)
                assert mask is not None
                removed = int(pc.sum(mask).as_py() or 0)
                if removed:
                    hit = _Filtered(table.filter(pc.invert(mask)), removed)
                    self.removed.append(table.filter(mask))
        self.cache[info.checksum] = hit
        return hit

    def prepare_datasets(self, repo: repos.Repository) -> None:
        """Filter every saved dataset first, so its ``meta.json`` can say what changed."""
        from featurestore.datasets import DATASETS_BRANCH, _entity_hash

        with translated():
            if DATASETS_BRANCH not in [b.id for b in repo.branches()]:
                return
            ref = repo.ref(DATASETS_BRANCH)
            infos = {o.path: o for o in ref.objects("datasets/")}
            for path in infos:
                m = _META.match(path)
                data = infos.get(f"datasets/{m.group(1)}/data.parquet") if m else None
                if m is None or data is None:
                    continue
                meta = json.loads(ref.object(path).read())
                got = self.rows(data)
                if got.table is not None:
                    n_features = len(meta.get("feature_refs", ()))
                    self.datasets[m.group(1)] = (
                        got.table.num_rows,
                        _entity_hash(got.table, n_features),
                    )

    def transform(self, path: str, info: repos.ObjectInfo) -> repos.TransformResult:
        import repos

        part = _PART.match(path)
        data = _DATA.match(path)
        if part is not None or data is not None:
            got = self.rows(info)
            if got.table is None:
                return repos.KEEP
            if part is not None:
                self.tables[part.group(1)] = self.tables.get(part.group(1), 0) + got.removed
                if got.table.num_rows == 0:
                    self.parts[info.checksum] = None
                    return None
                body = _parquet(got.table)
                # named after its bytes, and after the part it replaces: two parts left
                # with equal rows stay two, as the table held them
                digest = hashlib.sha256(body).hexdigest()[:32]
                name = f"tables/{part.group(1)}/part-{digest}-{info.checksum[:8]}.parquet"
                self.parts[info.checksum] = name
                return {name: body}
            assert data is not None
            name = data.group(1)
            self.tables[f"dataset:{name}"] = self.tables.get(f"dataset:{name}", 0) + got.removed
            if name not in self.datasets:
                self.datasets[name] = (got.table.num_rows, "")
            return _parquet(got.table)
        meta = _META.match(path)
        if meta is not None and meta.group(1) in self.datasets:
            return self.meta(info, meta.group(1))
        return repos.KEEP

    def meta(self, info: repos.ObjectInfo, name: str) -> bytes:
        if self.fs is None:
            with open(info.physical_address, "rb") as f:
                meta = json.load(f)
        else:
            meta = json.loads(self.fs.cat_file(info.physical_address))
        rows, entity_hash = self.datasets[name]
        meta.setdefault("original_num_rows", meta.get("num_rows"))
        meta["num_rows"] = rows
        if entity_hash:
            meta["entity_rows_hash"] = entity_hash
        meta["redacted"] = True
        meta["erasures"] = [*meta.get("erasures", ()), self.erasure_id]
        return json.dumps(meta).encode()

    erasure_id = ""


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def _record(rewrite: repos.Rewrite) -> ErasureRecord | None:
    md = rewrite.metadata
    if md.get("kind") != _KIND:
        return None
    return ErasureRecord(
        id=md["erasure_id"],
        erased_at=rewrite.created,
        reason=md["reason"],
        by=md["by"],
        entity_keys=tuple(json.loads(md["entity_keys"])),
        key_hash=md["key_hash"],
        commits=dict(rewrite.commits),
        datasets=tuple(json.loads(md["datasets"])),
        tables=json.loads(md["tables"]),
        online_keys_deleted=int(md[_ONLINE]) if _ONLINE in md else None,
        notes=tuple(json.loads(md[_NOTES])) if _NOTES in md else (),
    )


def erase(
    store: FeatureStore,
    entity: Mapping[str, Any],
    reason: str,
    by: str | None = None,
    collect: bool = False,
) -> ErasureRecord:
    """Remove ``entity``'s rows from every table, saved dataset and serving log in the
    whole history, its online keys in every namespace, and record why (module docstring)."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("give the reason for the erasure, e.g. reason='GDPR request 42'")
    if by is not None and (not isinstance(by, str) or not by.strip()):
        raise ValidationError("by: give who asked for the erasure, or leave it out")
    keys = _check_entity(store, entity)
    repo = store.repository
    log = getattr(store, "_serving_log", None)
    if log is not None:
        log.flush()  # queued lookups of the entity land before the rewrite filters them
    filt = _Filter(keys, repo.filesystem)
    filt.erasure_id = uuid.uuid4().hex
    filt.prepare_datasets(repo)
    who = by if by is not None else repo.author
    entity_hash = key_hash(repo, keys)

    def metadata() -> dict[str, str]:
        return {
            "kind": _KIND,
            "erasure_id": filt.erasure_id,
            "reason": reason,
            "by": who,
            "entity_keys": json.dumps(list(keys)),
            "key_hash": entity_hash,
            "datasets": json.dumps(sorted(filt.datasets)),
            "tables": json.dumps(dict(sorted(filt.tables.items()))),
        }

    with translated():
        rewrite = repo.rewrite(filt.transform, prefix=["tables/", "datasets/"], metadata=metadata)
    record = _record(rewrite)
    assert record is not None
    try:
        online_deleted = _forget_online(store, keys, rewrite.commits, filt)
    except FeatureStoreError as e:
        raise BackendError(
            f"erasure {record.id} removed the entity's rows from the whole history, but its "
            f"online keys could not be deleted ({e}); run the same erase again once the "
            "online store answers"
        ) from e
    notes = _rewrite_online_files(store, record.id)
    with translated():
        repo.annotate_rewrite(
            rewrite.id, {_ONLINE: str(online_deleted), _NOTES: json.dumps(list(notes))}
        )
    collected = None
    if collect:
        with translated():
            collected = repo.gc(orphans_after=timedelta(0)).objects_removed
    return replace(
        record, online_keys_deleted=online_deleted, objects_collected=collected, notes=notes
    )


def _rewrite_online_files(store: FeatureStore, erasure_id: str) -> tuple[str, ...]:
    """Rewrite the online server's persistence files, which still hold the deleted keys'
    writes: the embedded server's must be (or the erasure is not done); an external
    server's are rewritten as far as it lets us, and its replicas and backups are the
    operator's to handle. Notes for the audit."""
    import online

    target = store.online_store
    embedded = getattr(store, "_embedded", None) is not None
    try:
        done = target.rewrite_persistence()
    except online.OnlineError as e:
        if embedded:
            raise BackendError(
                f"erasure {erasure_id} deleted the entity's rows and online keys, but the "
                f"embedded online server could not rewrite its files ({e}); run the same "
                "erase again"
            ) from e
        return (
            f"the external online store's persistence files were not rewritten ({e}): run "
            "BGREWRITEAOF and BGSAVE there; its replicas and backups are the operator's",
        )
    files = " and ".join({"aof": "append-only file", "rdb": "snapshot"}[d] for d in done)
    if embedded:
        return (f"embedded online server: {files or 'no persistence file'} rewritten",)
    return (
        f"external online store: {files or 'no persistence file'} rewritten; its replicas "
        "and backups are the operator's to erase",
    )


def _forget_online(
    store: FeatureStore,
    keys: Mapping[str, Any],
    commits: Mapping[str, str],
    filt: _Filter,
) -> int:
    """Delete the entity's online keys everywhere: views keyed by exactly its keys, and
    views keyed by more (``driver_id, customer_id``) at every key tuple of the rows taken
    out. Then point materialization records at the new commits and at the parts that
    replaced the ones they read, so the next incremental run stays incremental."""
    removed_rows = filt.removed
    import online
    from featurestore import materialization as m
    from featurestore import namespaces
    from featurestore.aggregates import series_table

    removed = namespaces.delete_entity_online(store, keys)
    with translated():
        branches = [b.id for b in store.branches()]
    views = {v.name: v for b in branches for v in store.registry(b).feature_views if v.online}
    composite: dict[str, list[bytes]] = {}
    for name, view in sorted(views.items()):
        names = tuple(view.join_keys)
        if not set(keys) < set(names):
            continue
        tuples = {
            tuple(row[k] for k in names)
            for t in removed_rows
            if all(k in t.column_names for k in names)
            for row in t.select(list(names)).to_pylist()
        }
        if tuples:
            with translated():
                composite[name] = [online.encode_entity_key(names, list(v)) for v in sorted(tuples)]
    with translated():
        for branch in [store.config.default_branch, *namespaces.namespaces(store)]:
            target = namespaces.online_for(store, branch)
            removed += sum(
                target.delete(table, ks)
                for view, ks in composite.items()
                for table in (view, series_table(view))
            )
            if not commits:
                continue
            records = sorted([*views, *(series_table(v) for v in views)])
            for state in m.read_states(target, records).values():
                new = commits.get(state.commit_id)
                if new is not None:
                    files = _moved_files(store, new, state.files, filt.parts)
                    m.write_state(target, replace(state, commit_id=new, files=files))
    return removed


def _moved_files(
    store: FeatureStore, commit: str, files: Sequence[str], parts: Mapping[str, str | None]
) -> tuple[str, ...]:
    """``files`` (objects' physical addresses, named by checksum) with each replaced part
    swapped for its replacement at ``commit``; a part that lost every row drops out."""
    if not any(f.rsplit("/", 1)[-1] in parts for f in files):
        return tuple(files)
    with translated():
        where = {
            o.path: o.physical_address for o in store.repository.ref(commit).objects("tables/")
        }
    out = []
    for f in files:
        checksum = f.rsplit("/", 1)[-1]
        if checksum not in parts:
            out.append(f)
        elif (path := parts[checksum]) is not None:
            out.append(where.get(path, f))
    return tuple(out)


def erasures(store: FeatureStore, entity: Mapping[str, Any] | None = None) -> list[ErasureRecord]:
    """The audit: every erasure, oldest first; with ``entity``, only that entity's."""
    with translated():
        rewrites: Sequence[repos.Rewrite] = store.repository.rewrites()
    records = [r for r in map(_record, rewrites) if r is not None]
    if entity is None:
        return records
    wanted = key_hash(store.repository, _check_entity(store, entity))
    return [r for r in records if r.key_hash == wanted]


def erased_since(store: FeatureStore, since: datetime) -> list[ErasureRecord]:
    """The erasures recorded after ``since``, oldest first (one small query when none)."""
    with translated():
        rewrites: Sequence[repos.Rewrite] = store.repository.rewrites(since=since)
    return [r for r in map(_record, rewrites) if r is not None]
