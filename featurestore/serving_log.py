"""The serving log: what each logged online lookup returned, committed in the repository.

A feature service with a ``logging_config`` logs a sample of its lookups (``sample_rate``).
A logged lookup gets a request id (``OnlineResponse.request_id``: a UUIDv7 as 32 hex
digits, so ids sort by time and each flushed object holds a narrow range of them, which
lets a search by id skip the others by their Parquet statistics) and puts one record on
a bounded in-memory queue; nothing else happens on the request path. A background thread takes the queue every ``flush_interval_s`` seconds or
``flush_rows`` rows (``serving_log`` in ``featurestore.yaml``) and appends it to the
table ``serving_log__<service>`` on the internal branch ``serving-log``, one commit per
flush, so the log is versioned and ``store.sql(..., ref="serving-log")`` reads it.
``store.close()`` (and the HTTP service's shutdown) flushes what is queued.

Bounded memory: the queue holds at most ``max_queue_rows`` rows (one row per entity row
and feature, about 90 bytes each queued; each lookup also counts ``LOOKUP_COST_ROWS`` for
its own ~3 KB), so it stays near ``max_queue_rows`` x 100 bytes: about 10 MB by default.
A lookup that does not fit is not logged (counted in ``dropped``; it gets no request
id), and is never waited for. Loss window: a SIGKILL loses what is queued, at
most one flush interval of lookups (or ``max_queue_rows`` rows). A flush stages each
service's rows as one change and then commits, so a kill during a flush leaves a batch
staged whole or not at all; the next flush (of any process) commits a staged batch.

Erasure (``featurestore.erasure``) holds against every process's queue: a flush reads the
audit for erasures newer than its oldest queued lookup (one small query; key columns are
hashed only when there is one) and drops the rows of entities erased after they were
queued, and before committing it drops, from every part still staged (its own, or one a
killed flush left), the rows of entities erased since.

Schema, one row per (lookup, entity row, feature)::

    request_id, requested_at, feature_service, ref, definitions_commit, row,
    <the service's join keys, typed as declared>, request_data (JSON text),
    feature, feature_ref, value (JSON text), status, event_timestamp, commit_id

Values are JSON text because one table holds every feature of a service whatever its
type, so adding or removing a feature, or changing its type, never changes the table's
schema; DuckDB casts the text (``value::DOUBLE``) or reads it with its JSON functions.
The join keys are typed columns, so ``WHERE driver_id = 1001`` finds an entity's rows
(and erasure filters them like any table's). A service whose join keys change logs into
``serving_log__<service>__<digest>`` (the schema's), leaving the old table as it was.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.boundary import translated

if TYPE_CHECKING:
    import fsspec

    import repos
    from featurestore.config import ServingLogConfig
    from featurestore.definitions import FeatureService
    from featurestore.erasure import ErasureRecord
    from featurestore.features import FeaturePlan
    from featurestore.lookup import OnlineResponse
    from featurestore.store import FeatureStore

__all__ = [
    "LOOKUP_COST_ROWS",
    "SERVING_LOG_BRANCH",
    "TABLE_PREFIX",
    "ServingLog",
    "json_text",
    "log_lookup",
    "log_tables",
    "new_request_id",
]

SERVING_LOG_BRANCH = "serving-log"
TABLE_PREFIX = "serving_log__"
LOOKUP_COST_ROWS = 32
"""A queued lookup counts as its rows plus this many against ``max_queue_rows``: what it
holds beyond its values (the response's lists and maps, ~3 KB) is about 32 rows' worth,
so the queue's memory is about ``max_queue_rows`` x 100 bytes whatever the lookups' shape."""
_TS = pa.timestamp("us", tz="UTC")
_LOGGED_AT = "__logged_at"
_LOG_PART = re.compile(rf"^tables/{TABLE_PREFIX}[^/]+/part-[^/]+\.parquet$")
_FIXED_HEAD = (
    ("request_id", pa.string()),
    ("requested_at", _TS),
    ("feature_service", pa.string()),
    ("ref", pa.string()),
    ("definitions_commit", pa.string()),
    ("row", pa.int32()),
)
_FIXED_TAIL = (
    ("request_data", pa.string()),
    ("feature", pa.string()),
    ("feature_ref", pa.string()),
    ("value", pa.string()),
    ("status", pa.string()),
    ("event_timestamp", _TS),
    ("commit_id", pa.string()),
)
log = logging.getLogger("featurestore.serving_log")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_text(value: Any) -> str | None:
    """A served value as the JSON text the log stores (None stays null); bytes as base64."""
    if value is None:
        return None
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class _Record:
    """One logged lookup, as it came back; made into rows by the flush thread."""

    request_id: str
    requested_at: datetime
    service: str
    ref: str
    definitions_commit: str | None
    key_types: tuple[tuple[str, pa.DataType | None], ...]
    features: tuple[tuple[str, str], ...]
    """(output name, ``view:feature``) of each feature, in response order."""
    request_data: Mapping[str, list[Any]]
    response: OnlineResponse
    entity_rows: int
    logged_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When it was queued (the clock's time, whatever ``requested_at`` says): an erasure
    recorded after it drops the erased entity's rows at the flush."""

    @property
    def rows(self) -> int:
        return self.entity_rows * len(self.features)

    @property
    def cost(self) -> int:
        """What the record counts against ``max_queue_rows``."""
        return self.rows + LOOKUP_COST_ROWS


def _values(columns: Mapping[str, pa.Array], name: str) -> list[Any]:
    """A response column as a list, without building Arrow data when it is kept as one."""
    pylist = getattr(columns, "pylist", None)
    if pylist is not None:
        values: list[Any] = pylist(name)
        return values
    return list(columns[name].to_pylist())


def _record_table(records: Sequence[_Record]) -> pa.Table:
    """The log rows of ``records`` of one service with one schema."""
    first = records[0]
    keys = [k for k, _ in first.key_types]
    clash = sorted(set(keys) & {name for name, _ in (*_FIXED_HEAD, *_FIXED_TAIL)})
    if clash:
        raise ValueError(
            f"join key(s) {clash} of service {first.service!r} are named like the serving "
            "log's own columns; rename them to log this service"
        )
    cols: dict[str, list[Any]] = {name: [] for name, _ in (*_FIXED_HEAD, *_FIXED_TAIL)}
    key_cols: dict[str, list[Any]] = {k: [] for k in keys}
    for r in records:
        resp = r.response
        n = r.entity_rows
        entities = {k: _values(resp.entity_columns, k) for k in keys}
        request = (
            [json_text({k: v[i] for k, v in r.request_data.items()}) for i in range(n)]
            if r.request_data
            else [None] * n
        )
        positions = list(range(n))
        for name, ref in r.features:
            values = _values(resp.features, name)
            if name in resp.json_features:
                values = [None if v is None else json.loads(v) for v in values]
            cols["request_id"] += [r.request_id] * n
            cols["requested_at"] += [r.requested_at] * n
            cols["feature_service"] += [r.service] * n
            cols["ref"] += [r.ref] * n
            cols["definitions_commit"] += [r.definitions_commit] * n
            cols["row"] += positions
            for k in keys:
                key_cols[k] += entities[k]
            cols["request_data"] += request
            cols["feature"] += [name] * n
            cols["feature_ref"] += [ref] * n
            cols["value"] += map(json_text, values)
            cols["status"] += resp.statuses(name)
            cols["event_timestamp"] += _values(resp.event_timestamps, name)
            cols["commit_id"] += _values(resp.commits, name)
    arrays: dict[str, pa.Array] = {}
    fields: list[pa.Field] = []
    for name, dtype in _FIXED_HEAD:
        arrays[name] = pa.array(cols[name], type=dtype)
        fields.append(pa.field(name, dtype))
    for k, dtype in first.key_types:
        try:
            array = pa.array(key_cols[k], type=dtype)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array([json_text(v) for v in key_cols[k]], type=pa.string())
        arrays[k] = array
        fields.append(pa.field(k, array.type))
    for name, dtype in _FIXED_TAIL:
        arrays[name] = pa.array(cols[name], type=dtype)
        fields.append(pa.field(name, dtype))
    return pa.Table.from_arrays(list(arrays.values()), schema=pa.schema(fields))


def log_tables(tables: Iterable[str]) -> list[str]:
    """The names among ``tables`` that hold serving log rows."""
    return [t for t in tables if t.startswith(TABLE_PREFIX)]


def _table_for(service: str, schema: pa.Schema, stored: Mapping[str, pa.Schema]) -> str:
    """The log table of ``service`` for rows of ``schema``: its own, or one named after
    the schema when its own was made for other join keys."""
    base = f"{TABLE_PREFIX}{service}"
    if base not in stored or stored[base].equals(schema):
        return base
    digest = hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()[:8]
    return f"{base}__{digest}"


def _log_branch(repo: repos.Repository) -> repos.Branch:
    """The ``serving-log`` branch, made at the repository's first (empty) commit, so that
    it holds the log tables and nothing else."""
    branch = repo.branch(SERVING_LOG_BRANCH)
    if SERVING_LOG_BRANCH in {b.id for b in repo.branches()}:
        return branch
    root = None
    for c in repo.ref(repo.default_branch).log(first_parent=True):
        root = c.id
    assert root is not None
    return branch.create(root, exist_ok=True)


class ServingLog:
    """The queue of one store's logged lookups and the thread that commits it."""

    def __init__(self, store: FeatureStore, config: ServingLogConfig) -> None:
        self.config = config
        self._store = weakref.ref(store)
        self._queue: deque[_Record] = deque()
        self._rows = 0
        self._cost = 0
        """Queued rows, plus ``LOOKUP_COST_ROWS`` per queued lookup."""
        self._cond = threading.Condition()
        self._flushing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = False
        self.dropped = 0
        """Lookups not logged: the queue was full, or they could not be made into rows."""
        self.written_rows = 0
        """Rows this process has committed (or staged, when its commit failed)."""
        self.last_error: str | None = None
        """The last flush failure, if any (the rows stay queued when nothing was staged)."""
        _LIVE.add(self)

    @property
    def queued_rows(self) -> int:
        return self._rows

    def offer(self, record: _Record) -> bool:
        """Queue ``record`` unless the queue is full; never blocks on a flush."""
        with self._cond:
            if self._cost + record.cost > self.config.max_queue_rows:
                self.dropped += 1
                return False
            self._queue.append(record)
            self._rows += record.rows
            self._cost += record.cost
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(
                    target=self._run, name="featurestore-serving-log", daemon=True
                )
                self._thread.start()
            if self._rows >= self.config.flush_rows:
                self._cond.notify()
        return True

    def _take(self) -> list[_Record]:
        with self._cond:
            taken = list(self._queue)
            self._queue.clear()
            self._rows = self._cost = 0
        return taken

    def _run(self) -> None:
        interval = self.config.flush_interval_s
        while True:
            with self._cond:
                if not self._stop and self._rows < self.config.flush_rows:
                    self._cond.wait(interval)
                if self._stop:
                    return
            if self._store() is None:
                return
            self.flush()

    def flush(self) -> int:
        """Commit every queued record now; the number of log rows written."""
        with self._flushing:
            records = self._take()
            if not records:
                return 0
            store = self._store()
            if store is None:
                return 0
            try:
                return self._write(store, records)
            except Exception as e:  # the log must never fail a lookup or a close
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("serving log: flush failed (%s)", self.last_error)
                return 0

    def _write(self, store: FeatureStore, records: list[_Record]) -> int:
        """Stage each service's rows as one change, then commit them all.

        Records a failure left unstaged go back on the queue; records that cannot be made
        into rows at all are dropped (counted), so that one cannot stop the log.
        """
        import repos as repos_pkg

        groups: dict[tuple[str, pa.Schema], list[_Record]] = {}
        for r in records:
            groups.setdefault((r.service, _schema_of(r)), []).append(r)
        pending: list[tuple[str, pa.Table, list[_Record]]] = []
        checked_at = datetime.now(UTC)
        erased = _erased_since(store, min(r.logged_at for r in records))
        for (service, _), group in groups.items():
            try:
                table = _record_table(group)
                if erased:
                    table = _without_erased(store, table, group, erased)
                pending.append((service, table, group))
            except (pa.ArrowException, TypeError, ValueError) as e:
                self.dropped += len(group)
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning(
                    "serving log: %d lookup(s) of %s not logged (%s)",
                    len(group),
                    service,
                    self.last_error,
                )
        written = 0
        earlier: Mapping[str, repos.ObjectInfo] = {}
        try:
            branch = _log_branch(store.repository)
            earlier = _staged_parts(branch)
            stored = {
                name: store.tables.schema(branch, name)
                for name in log_tables(store.tables.tables(branch))
            }
            while pending:
                service, table, _ = pending[0]
                if not table.num_rows:  # every row was of erased entities
                    pending.pop(0)
                    continue
                name = _table_for(service, table.schema, stored)
                if name not in stored:
                    stored[name] = store.tables.create_table(branch, name, table.schema)
                store.tables.write(branch, name, table, mode="append")
                written += table.num_rows
                pending.pop(0)
        except Exception:
            self._requeue([r for _, _, group in pending for r in group])
            raise
        finally:
            if written:
                _scrub_staged(store, branch, earlier, checked_at)
                self.written_rows += written
                # another process's flush may have committed what this one staged
                with contextlib.suppress(repos_pkg.EmptyCommitError):
                    branch.commit(
                        f"serving log: {written} rows",
                        metadata={"serving_log_rows": str(written)},
                    )
        return written

    def _requeue(self, records: list[_Record]) -> None:
        """Put back records a failed flush did not stage, as far as the queue has room."""
        with self._cond:
            for r in reversed(records):
                if self._cost + r.cost > self.config.max_queue_rows:
                    self.dropped += 1
                    continue
                self._queue.appendleft(r)
                self._rows += r.rows
                self._cost += r.cost

    def compact(self) -> list[str]:
        """Rewrite each log table's small objects into large ones sorted by request id
        (so time too), as one commit on the log branch; the tables compacted.

        The log grows by one object per service per flush; compacting now and then keeps
        ``sql`` and ``explain`` reading few objects. Rows queued meanwhile wait.
        """
        store = self._store()
        if store is None:
            return []
        with self._flushing, translated():
            repo = store.repository
            if SERVING_LOG_BRANCH not in {b.id for b in repo.branches()}:
                return []
            branch = repo.branch(SERVING_LOG_BRANCH)
            done = [
                name
                for name in log_tables(store.tables.tables(branch))
                if store.tables.compact(branch, name, sort_by=["request_id", "row", "feature"])
            ]
            if done:
                branch.commit(f"compact serving log: {', '.join(done)}")
            return done

    def close(self) -> None:
        """Stop the thread and commit what is queued."""
        with self._cond:
            self._stop = True
            self._cond.notify()
            thread = self._thread
            self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()


def _erased_since(store: FeatureStore, since: datetime) -> list[ErasureRecord]:
    from featurestore.erasure import erased_since

    return erased_since(store, since)


def _without_erased(
    store: FeatureStore,
    table: pa.Table,
    records: Sequence[_Record],
    erased: Sequence[ErasureRecord],
) -> pa.Table:
    """The rows of ``records`` (``table``, as ``_record_table`` made it) less those of
    entities an erasure in ``erased`` removed after the record was queued."""
    from featurestore.erasure import without_erased

    at = pa.array(
        [r.logged_at for r in records for _ in range(r.rows)], pa.timestamp("us", tz="UTC")
    )
    stamped = table.append_column(_LOGGED_AT, at)
    kept = without_erased(store.repository, stamped, erased, _LOGGED_AT)
    return kept.drop_columns([_LOGGED_AT])


def _staged_parts(branch: repos.Branch) -> dict[str, repos.ObjectInfo]:
    """The log parts staged on ``branch`` and not committed: path -> object."""
    with translated():
        return {
            c.path: branch.object(c.path).stat()
            for c in branch.uncommitted("tables/")
            if c.type != "removed" and _LOG_PART.match(c.path)
        }


def _scrub_staged(
    store: FeatureStore,
    branch: repos.Branch,
    earlier: Mapping[str, repos.ObjectInfo],
    checked_at: datetime,
) -> int:
    """Drop from the log parts staged on ``branch`` the rows of erased entities; rows
    removed. This flush's own parts (not in ``earlier``) lose every row of an entity
    erased after ``checked_at``, when it filtered its rows; a part a killed flush left
    staged (in ``earlier``) loses the rows of entities erased after their lookup."""
    import pyarrow.parquet as pq

    from featurestore.erasure import without_erased
    from offline import _fs

    infos = _staged_parts(branch)
    fs = store.repository.filesystem
    if not infos:
        return 0
    left = [i for p, i in infos.items() if earlier.get(p) == i]
    since = min([checked_at, *(_oldest(i.physical_address, fs) for i in left)])
    erased = _erased_since(store, since)
    if not erased:
        return 0
    late = [e for e in erased if e.erased_at > checked_at]
    upload: dict[str, bytes] = {}
    delete: list[str] = []
    removed = 0
    with translated():
        for path, info in infos.items():
            mine = earlier.get(path) != info
            if mine and not late:
                continue
            table = _fs.read_table(info.physical_address, fs)
            kept = (
                without_erased(store.repository, table, late, None)
                if mine
                else without_erased(store.repository, table, erased, "requested_at")
            )
            if kept.num_rows == table.num_rows:
                continue
            removed += table.num_rows - kept.num_rows
            if kept.num_rows:
                sink = pa.BufferOutputStream()
                pq.write_table(kept, sink, compression="snappy")
                upload[path] = sink.getvalue().to_pybytes()
            else:
                delete.append(path)
        if upload or delete:
            branch.stage(upload=upload, delete=delete)
    return removed


def _oldest(path: str, fs: fsspec.AbstractFileSystem | None) -> datetime:
    """The earliest ``requested_at`` of a log part (its start of time when it has none)."""
    from offline import _fs

    column = _fs.read_table(path, fs, columns=["requested_at"]).column("requested_at")
    low = pc.min(column).as_py()
    return low if isinstance(low, datetime) else datetime.min.replace(tzinfo=UTC)


def _schema_of(record: _Record) -> pa.Schema:
    """The join key part of a record's schema: records with equal ones share a table."""
    return pa.schema([(k, t if t is not None else pa.string()) for k, t in record.key_types])


_LIVE: weakref.WeakSet[ServingLog] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for serving_log in list(_LIVE):
        serving_log.close()


@dataclass(frozen=True)
class _PlanFacts:
    """What a record needs of a plan, computed once per plan."""

    key_types: tuple[tuple[str, pa.DataType | None], ...]
    features: tuple[tuple[str, str], ...]
    request_fields: frozenset[str]


_facts: dict[int, tuple[FeaturePlan, _PlanFacts]] = {}


def _plan_facts(plan: FeaturePlan) -> _PlanFacts:
    cached = _facts.get(id(plan))
    if cached is not None and cached[0] is plan:
        return cached[1]
    declared: dict[str, pa.DataType | None] = {}
    for view in plan.views.values():
        for f in view.entity_columns:
            declared.setdefault(f.name, f.dtype.to_arrow())
    facts = _PlanFacts(
        key_types=tuple((k, declared.get(k)) for k in plan.join_keys),
        features=tuple(
            (out, f"{v}:{f}") for (v, f), out in zip(plan.refs, plan.output_names, strict=True)
        ),
        request_fields=frozenset(plan.request_fields),
    )
    if len(_facts) > 1024:
        _facts.clear()
    _facts[id(plan)] = (plan, facts)
    return facts


def new_request_id() -> str:
    """A UUIDv7 (milliseconds since the epoch, then random bits) as 32 hex digits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return f"{value:032x}"


def log_lookup(
    store: FeatureStore,
    service: FeatureService,
    plan: FeaturePlan,
    response: OnlineResponse,
    columns: Mapping[str, list[Any]],
    now: datetime | None,
    ref: str | None = None,
    definitions_commit: str | None = None,
) -> OnlineResponse:
    """``response`` with a request id if the lookup through ``service`` is logged.

    Logged when the service has a logging config, the draw falls within its
    ``sample_rate`` and the queue has room; the record is queued, never written here.
    """
    config = service.logging_config
    settings = store.config.serving_log
    if config is None or not settings.enabled or config.sample_rate <= 0:
        return response
    if config.sample_rate < 1 and random.random() >= config.sample_rate:
        return response
    at = datetime.now(UTC) if now is None else now
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    n = len(next(iter(columns.values()))) if columns else 0
    if not n:
        first = next(iter(response.features.values()), None)
        n = len(first) if first is not None else 0
    facts = _plan_facts(plan)
    record = _Record(
        request_id=new_request_id(),
        requested_at=at,
        service=service.name,
        ref=ref or store.config.default_branch,
        definitions_commit=definitions_commit,
        key_types=facts.key_types,
        features=facts.features,
        request_data={k: list(v) for k, v in columns.items() if k in facts.request_fields},
        response=response,
        entity_rows=n,
    )
    if not store.serving_log.offer(record):
        return response
    return replace(response, request_id=record.request_id)
