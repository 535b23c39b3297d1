"""Explaining a past online lookup: what was served, and the same features recomputed.

``store.explain(request_id)`` finds a lookup in the serving log (``featurestore.serving_log``)
and lists, per entity row and feature, the value served, its event time and the commit it
was materialized from. It then rebuilds those features with a point-in-time join
(``get_historical_features``) at the lookup's time, pinned to the commit each value came
from (values without one, pushed or not found, at the commit whose definitions served
the lookup), and marks every value where the two differ: training/serving skew.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.display import LIMIT, html_table, text_table
from featurestore.errors import FeatureStoreError, NotFoundError, ValidationError
from featurestore.serving_log import SERVING_LOG_BRANCH, json_text, log_tables

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

__all__ = ["ExplainedValue", "Explanation", "explain"]

_ID = re.compile(r"[0-9a-f]{32}")
_LOG_COLUMNS = frozenset(
    {
        "request_id",
        "requested_at",
        "feature_service",
        "ref",
        "definitions_commit",
        "row",
        "request_data",
        "feature",
        "feature_ref",
        "value",
        "status",
        "event_timestamp",
        "commit_id",
    }
)
_ENTITY_TS = "event_timestamp"


@dataclass(frozen=True)
class ExplainedValue:
    """One feature of one entity row: what was served and what the recomputation gives."""

    row: int
    entity: Mapping[str, Any]
    feature: str
    feature_ref: str
    served: Any
    status: str
    event_timestamp: datetime | None
    commit_id: str | None
    """The commit the served value was materialized from (None: pushed, not found or
    computed on demand)."""
    recomputed_at: str | None
    """The commit the point-in-time recomputation read (the rewritten one, when an
    erasure rewrote ``commit_id`` since)."""
    recomputed: Any = None
    matches: bool | None = None
    """Whether served and recomputed agree (None: the recomputation failed; see ``note``)."""
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "entity": dict(self.entity),
            "feature": self.feature,
            "feature_ref": self.feature_ref,
            "served": self.served,
            "status": self.status,
            "event_timestamp": None
            if self.event_timestamp is None
            else self.event_timestamp.isoformat(),
            "commit_id": self.commit_id,
            "recomputed_at": self.recomputed_at,
            "recomputed": self.recomputed,
            "matches": self.matches,
            "note": self.note,
        }


@dataclass(frozen=True, repr=False)
class Explanation:
    """A logged lookup, its served values and their point-in-time recomputation."""

    request_id: str
    requested_at: datetime
    feature_service: str
    ref: str
    """The branch whose online namespace served the lookup."""
    definitions_commit: str | None
    """The commit whose definitions the lookup served."""
    values: tuple[ExplainedValue, ...] = field(default=())
    erased_rows: tuple[int, ...] = ()
    """Entity rows of the lookup an erasure since removed from the log (not in ``values``)."""
    erasures: tuple[str, ...] = ()
    """The erasures recorded after the lookup, when it lost rows to them."""

    @property
    def commits(self) -> tuple[str, ...]:
        """The commits the served values were materialized from."""
        return tuple(dict.fromkeys(v.commit_id for v in self.values if v.commit_id))

    @property
    def differences(self) -> list[ExplainedValue]:
        """The values where serving and the recomputation disagree."""
        return [v for v in self.values if v.matches is False]

    @property
    def skew(self) -> bool:
        """Whether any served value differs from its recomputation."""
        return bool(self.differences)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the HTTP ``/explain`` body and ``--json``)."""
        return {
            "request_id": self.request_id,
            "requested_at": self.requested_at.isoformat(),
            "feature_service": self.feature_service,
            "ref": self.ref,
            "definitions_commit": self.definitions_commit,
            "commits": list(self.commits),
            "skew": self.skew,
            "differences": len(self.differences),
            "values": [v.to_dict() for v in self.values],
            "erased_rows": list(self.erased_rows),
            "erasures": list(self.erasures),
        }

    @property
    def erased_note(self) -> str | None:
        """What an erasure took out of this lookup, in words (None: nothing)."""
        if not self.erased_rows:
            return None
        rows = ", ".join(map(str, self.erased_rows))
        return (
            f"row(s) {rows} not shown: their entity was erased after this lookup "
            f"(erasure {', '.join(e[:12] for e in self.erasures)})"
        )

    def _columns(self) -> dict[str, list[Any]]:
        return {
            "row": [v.row for v in self.values],
            "entity": [_entity_text(v.entity) for v in self.values],
            "feature": [v.feature for v in self.values],
            "served": [v.served for v in self.values],
            "commit": [None if v.commit_id is None else v.commit_id[:12] for v in self.values],
            "recomputed": [v.recomputed for v in self.values],
            "match": [_match_text(v) for v in self.values],
        }

    def _caption(self) -> str:
        what = (
            f"{len(self.differences)} difference(s): training/serving skew"
            if self.skew
            else "no differences"
        )
        return (
            f"Explanation of {self.request_id}: {self.feature_service} at "
            f"{self.requested_at.isoformat(sep=' ')} on {self.ref}; {what}"
        )

    def __repr__(self) -> str:
        note = f"\nnote: {self.erased_note}" if self.erased_note else ""
        return f"{self._caption()}\n{text_table(self._columns(), limit=len(self.values))}{note}"

    def _repr_html_(self) -> str:
        columns = self._columns()
        statuses = {"match": ["PRESENT" if m != "DIFFERS" else "DIFFERS" for m in columns["match"]]}
        return html_table(
            columns, self._caption(), statuses=statuses, limit=max(LIMIT, len(self.values))
        )


def _entity_text(entity: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in entity.items())


def _match_text(value: ExplainedValue) -> str:
    if value.matches is None:
        return "unknown"
    return "yes" if value.matches else "DIFFERS"


def _same(served: Any, recomputed: Any) -> bool:
    if served == recomputed:
        return True
    if isinstance(served, float) and isinstance(recomputed, float):
        return math.isnan(served) and math.isnan(recomputed)
    if isinstance(recomputed, str) and not isinstance(served, str):  # Json features
        try:
            return bool(json.loads(recomputed) == served)
        except ValueError:
            return False
    return False


def _as_logged(value: Any) -> Any:
    """``value`` as the log stores it (JSON text) and reads it back."""
    text = json_text(value)
    return None if text is None else json.loads(text)


def _find(store: FeatureStore, request_id: str) -> pa.Table:
    """The log rows of ``request_id`` (empty when none)."""
    with translated():
        names = [b.id for b in store.repository.branches()]
        if SERVING_LOG_BRANCH not in names:
            return pa.table({})
        at = store.repository.ref(SERVING_LOG_BRANCH)
        for table in log_tables(store.tables.tables(at)):
            files = store.tables.files(at, table)
            if not files:
                continue
            found = store.engine.sql(
                f"SELECT * FROM log WHERE request_id = '{request_id}' ORDER BY row, feature",
                {"log": files},
            )
            if found.num_rows:
                return found
    return pa.table({})


def explain(store: FeatureStore, request_id: str) -> Explanation:
    """The explanation of the logged lookup ``request_id`` (see the module docstring)."""
    if not isinstance(request_id, str) or not _ID.fullmatch(request_id):
        raise ValidationError(
            f"{request_id!r} is not a request id: ids are 32 hex digits, as "
            "OnlineResponse.request_id and the X-Request-Id header give them"
        )
    if store._serving_log is not None and store._serving_log.queued_rows:
        store._serving_log.flush()  # a lookup this process just served is explainable
    rows = _find(store, request_id)
    if not rows.num_rows:
        raise NotFoundError(
            f"no logged lookup has request id {request_id!r}: ids come from lookups through "
            "a feature service with a logging_config; a lookup served by another process "
            "is found once that process flushes its serving log (every flush_interval_s "
            f"seconds, and when it closes){_erased_hint(store, request_id)}"
        )
    logged = rows.to_pylist()
    keys = [n for n in rows.schema.names if n not in _LOG_COLUMNS]
    first = logged[0]
    requested_at: datetime = first["requested_at"]
    definitions_commit: str | None = first["definitions_commit"]
    entities: dict[int, dict[str, Any]] = {}
    request_data: dict[int, dict[str, Any]] = {}
    for r in logged:
        entities.setdefault(r["row"], {k: r[k] for k in keys})
        if r["request_data"] is not None:
            request_data.setdefault(r["row"], json.loads(r["request_data"]))
    order = sorted(entities)
    erased_rows, erasures = _erased_rows(store, requested_at, order)
    at_commit: dict[str, set[str]] = {}
    for r in logged:
        commit = r["commit_id"] or definitions_commit
        if commit is not None:
            at_commit.setdefault(commit, set()).add(r["feature_ref"])
    with translated():  # an erasure since rewrote them: name the commits read now
        current = {c: store.repository.rewritten(c) or c for c in at_commit}
    key_types = {k: rows.schema.field(k).type for k in keys}
    recomputed: dict[tuple[str, int, str], Any] = {}
    failures: dict[str, str] = {}
    for commit, refs in at_commit.items():
        try:
            table = _recompute(
                store, commit, sorted(refs), order, entities, request_data, key_types, requested_at
            )
        except FeatureStoreError as e:
            failures[commit] = f"could not recompute at {commit[:12]}: {e}"
            continue
        for ref in refs:
            view, _, feature = ref.partition(":")
            column = table.column(f"{view}__{feature}").to_pylist()
            for i, row in enumerate(order):
                recomputed[(commit, row, ref)] = _as_logged(column[i])
    values = []
    for r in logged:
        served = None if r["value"] is None else json.loads(r["value"])
        commit = r["commit_id"] or definitions_commit
        key = (commit or "", r["row"], r["feature_ref"])
        note = None
        if commit is None:
            note = "no commit to recompute at: the lookup's definitions commit was not logged"
        elif commit in failures:
            note = failures[commit]
        done = key in recomputed
        values.append(
            ExplainedValue(
                row=r["row"],
                entity=entities[r["row"]],
                feature=r["feature"],
                feature_ref=r["feature_ref"],
                served=served,
                status=r["status"],
                event_timestamp=r["event_timestamp"],
                commit_id=r["commit_id"],
                recomputed_at=None if commit is None else current.get(commit, commit),
                recomputed=recomputed.get(key),
                matches=_same(served, recomputed[key]) if done else None,
                note=note,
            )
        )
    order_of = _service_order(store, first["feature_service"], definitions_commit)
    values.sort(key=lambda v: (v.row, order_of.get(v.feature_ref, len(order_of)), v.feature))
    return Explanation(
        request_id=request_id,
        requested_at=requested_at,
        feature_service=first["feature_service"],
        ref=first["ref"],
        definitions_commit=definitions_commit,
        values=tuple(values),
        erased_rows=erased_rows,
        erasures=erasures,
    )


def _erased_hint(store: FeatureStore, request_id: str) -> str:
    """Words for a lookup not found that an erasure since may have emptied."""
    from featurestore.erasure import erased_since

    logged = datetime.fromtimestamp(int(request_id[:12], 16) / 1000, tz=UTC)
    erased = erased_since(store, logged - timedelta(seconds=1))
    if not erased:
        return ""
    return (
        f"; or erasure {erased[-1].id} (recorded after it) removed every row it served "
        "(store.erasures())"
    )


def _erased_rows(
    store: FeatureStore, requested_at: datetime, rows: Sequence[int]
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The rows missing from a logged lookup (gaps in ``rows``) when an erasure was
    recorded after it, and those erasures' ids."""
    from featurestore.erasure import erased_since

    missing = tuple(sorted(set(range(max(rows, default=-1) + 1)) - set(rows)))
    if not missing:
        return (), ()
    erased = erased_since(store, requested_at)
    if not erased:
        return (), ()
    return missing, tuple(e.id for e in erased)


def _service_order(store: FeatureStore, service: str, commit: str | None) -> dict[str, int]:
    """Each feature ref's position in the service as its definitions commit defined it
    (empty when that is unknown: the values then keep the log's order, by name)."""
    if commit is None:
        return {}
    try:
        refs = store.registry(commit).get_feature_service(service).feature_refs
    except FeatureStoreError:
        return {}
    return {ref: i for i, ref in enumerate(refs)}


def _recompute(
    store: FeatureStore,
    commit: str,
    refs: Sequence[str],
    order: Sequence[int],
    entities: Mapping[int, Mapping[str, Any]],
    request_data: Mapping[int, Mapping[str, Any]],
    key_types: Mapping[str, pa.DataType],
    at: datetime,
) -> pa.Table:
    """The features ``refs`` at ``commit`` for the logged entity rows at time ``at``."""
    columns: dict[str, pa.Array] = {
        k: pa.array([entities[i][k] for i in order], type=t) for k, t in key_types.items()
    }
    names = sorted({n for d in request_data.values() for n in d})
    for n in names:
        columns[n] = pa.array([request_data.get(i, {}).get(n) for i in order])
    columns[_ENTITY_TS] = pa.array([at] * len(order), type=pa.timestamp("us", tz="UTC"))
    job = store.get_historical_features(
        pa.table(columns), list(refs), full_feature_names=True, ref=commit
    )
    return job.to_arrow()
