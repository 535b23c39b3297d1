"""The store calls behind each endpoint, run in worker threads, and their JSON forms."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.server._errors import HTTPError
from featurestore.server._feast_shape import LookupRequest, columns, feast_response

if TYPE_CHECKING:
    from featurestore import FeatureStore
    from featurestore.definitions import FeatureService
    from featurestore.lookup import OnlineResponse

__all__ = [
    "Push",
    "branches",
    "diff",
    "jsonable",
    "log",
    "lookup",
    "lookup_arrow",
    "lookup_feast",
    "materialize_incremental",
    "online_status",
    "parse_materialize",
    "parse_push",
    "push",
    "tags",
]

PUSH_TARGETS = ("online", "offline", "online_and_offline")
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
    r"(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
"""An ISO 8601 time, matched whole (``fullmatch``) and in ASCII digits only."""


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of records, mappings, datetimes and durations."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    if hasattr(value, "name") and isinstance(value.name, str):
        return value.name
    return str(value)


def _bad(message: str) -> HTTPError:
    return HTTPError(400, "bad_request", message)


def _features(store: FeatureStore, lookup: LookupRequest) -> list[str] | FeatureService:
    if lookup.feature_service is not None:
        return store.get_feature_service(lookup.feature_service)
    return list(lookup.features)


def lookup(store: FeatureStore, request: LookupRequest) -> OnlineResponse:
    """One online read for a parsed lookup request."""
    return store.get_online_features(
        _features(store, request),
        request.entity_rows,
        full_feature_names=request.full_feature_names,
    )


def lookup_arrow(store: FeatureStore, request: LookupRequest) -> pa.Table:
    """The lookup as an Arrow table: join keys, then per feature its values, event time
    and the commit it was materialized from."""
    return lookup(store, request).to_arrow(include_metadata=True)


def lookup_feast(store: FeatureStore, request: LookupRequest) -> dict[str, Any]:
    """The lookup in Feast's feature server response shape."""
    return feast_response(lookup(store, request), request)


@dataclasses.dataclass(frozen=True)
class Push:
    """A parsed ``POST /push`` body."""

    source: str
    table: pa.Table
    to: str


def _column(name: str, values: list[Any]) -> pa.Array:
    if values and all(isinstance(v, str) and _ISO.fullmatch(v) for v in values if v is not None):
        import pandas as pd

        try:
            parsed = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
        except (ValueError, TypeError):
            raise _bad(f"`df.{name}` holds a value that is not a valid timestamp") from None
        return pa.Array.from_pandas(parsed)  # nanoseconds: the store checks what it takes
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        raise _bad(f"`df.{name}` mixes values of different types") from None


def parse_push(body: object, max_rows: int) -> Push:
    """Validate a push body: ``{push_source_name, df: {column: [...]}, to}``."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object with `push_source_name` and `df`")
    source = body.get("push_source_name")
    if not isinstance(source, str) or not source:
        raise _bad("`push_source_name` must name a push source")
    to = body.get("to", "online")
    if to not in PUSH_TARGETS:
        raise _bad(f"`to` must be one of {', '.join(PUSH_TARGETS)}")
    df = columns(body.get("df"), "df")
    if not df:
        raise _bad("`df` must hold at least one column")
    lengths = {len(v) for v in df.values()}
    if len(lengths) != 1:
        raise _bad("every column in `df` must have the same length")
    rows = lengths.pop()
    if rows == 0:
        raise _bad("`df` must hold at least one row")
    if rows > max_rows:
        raise HTTPError(
            413, "too_many_rows", f"{rows} rows in one push; this server takes at most {max_rows}"
        )
    table = pa.table({name: _column(name, values) for name, values in df.items()})
    return Push(source, table, str(to))


def push(store: FeatureStore, request: Push) -> dict[str, Any]:
    """Push the rows; answer how many went where."""
    store.push(request.source, request.table, to=request.to)  # type: ignore[arg-type]
    return {"push_source_name": request.source, "rows": request.table.num_rows, "to": request.to}


def _timestamp(value: object, what: str) -> datetime:
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        raise _bad(f"`{what}` must be an ISO 8601 timestamp such as 2025-01-01T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"`{what}` is not a valid timestamp: {value}") from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_materialize(body: object) -> tuple[datetime, list[str] | None]:
    """Validate ``{end_ts, feature_views}``."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object with `end_ts`")
    end = _timestamp(body.get("end_ts"), "end_ts")
    views = body.get("feature_views")
    if views is not None and (
        not isinstance(views, list) or not all(isinstance(v, str) for v in views)
    ):
        raise _bad("`feature_views` must be a list of feature view names")
    return end, views


def materialize_incremental(
    store: FeatureStore, end: datetime, views: list[str] | None
) -> dict[str, Any]:
    """Materialize up to ``end``; answer what each view did."""
    results = store.materialize_incremental(end, feature_views=views)
    return {"results": jsonable(results)}


def branches(store: FeatureStore) -> dict[str, Any]:
    """The users' branches (internal ones left out) and the commits they point at."""
    with translated():
        return {"branches": [{"name": b.id, "commit_id": b.resolve()} for b in store.branches()]}


def tags(store: FeatureStore) -> dict[str, Any]:
    """Tags and their commits."""
    with translated():
        return {"tags": [{"name": t.id, "commit_id": t.resolve()} for t in store.repository.tags()]}


def log(store: FeatureStore, ref: str | None, limit: int, prefix: str | None) -> dict[str, Any]:
    """The commit log of ``ref`` (the default branch when absent), newest first."""
    ref = ref or store.config.default_branch
    with translated():
        commits = list(
            store.repository.ref(ref).log(max_amount=limit, prefixes=[prefix] if prefix else None)
        )
    return {"ref": ref, "commits": jsonable(commits)}


def diff(store: FeatureStore, left: str, right: str, prefix: str | None) -> dict[str, Any]:
    """The committed paths that differ from ``left`` to ``right``."""
    from featurestore.registry import REGISTRY_PATH, diff_definitions

    with translated():
        changes = list(store.repository.ref(left).diff(right, prefix=prefix or ""))
        body = {"left": left, "right": right, "changes": jsonable(changes)}
        if any(c.path == REGISTRY_PATH for c in changes):  # code changes as source diffs
            body["definitions"] = diff_definitions(store.repository, left, right).to_json()
    return body


def online_status(store: FeatureStore) -> dict[str, Any]:
    """Which commit each view serves online, and its lag."""
    return {"views": [{**jsonable(v), "up_to_date": v.up_to_date} for v in store.online_status()]}
