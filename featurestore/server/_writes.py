"""The write endpoints' bodies (Feast's shapes) and the store calls behind them:
``/push``, ``/write-to-online-store``, ``/materialize`` and ``/materialize-incremental``.

Feast's own fields are all taken; ``allow_registry_cache``, ``transform_on_write`` and
``full_feature_names`` change nothing here (without a ref the server writes with the
default branch's committed definitions, cached for a second, and writes run no
transformation).

Each takes a ``ref`` body field or the ``X-Featurestore-Ref`` header, parsed as a
lookup's (400 for an empty one, 400 ``ref_mismatch`` when they differ). Pushes and
online writes go to that branch's namespace (and an offline push to that branch); a
tag or commit is refused there (404), as for lookups. Materialization from a branch
writes its namespace; from a tag or commit it serves that commit on the default
branch (a rollback), as ``FeatureStore.materialize(ref=)`` does. Internal branches are
refused (403).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.definitions import PushSource
from featurestore.server._calls import check_view, jsonable, serving_registry
from featurestore.server._errors import HTTPError
from featurestore.server._feast_shape import body_ref, merged_ref
from featurestore.server._frames import frame
from featurestore.server._times import parse_time

if TYPE_CHECKING:
    from featurestore import FeatureStore
    from featurestore.registry import Registry

__all__ = [
    "MaterializeRequest",
    "Push",
    "Write",
    "materialize",
    "materialize_incremental",
    "parse_materialize",
    "parse_materialize_incremental",
    "parse_push",
    "parse_write",
    "push",
    "write_to_online_store",
]

PUSH_TARGETS = ("online", "offline", "online_and_offline")
FEAST_EVENT_TS = "event_timestamp"
FEAST_CREATED = "created"
"""The time columns Feast's SDK sends to ``/write-to-online-store``, whatever the view's."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bad(message: str) -> HTTPError:
    return HTTPError(400, "bad_request", message)


def _object(body: object, needs: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad(f"the body must be a JSON object with {needs}")
    return body


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"`{name}` must be true or false")
    return value


def _name(body: dict[str, Any], name: str, what: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"`{name}` must name {what}")
    return value


def _views(body: dict[str, Any]) -> list[str] | None:
    views = body.get("feature_views")
    if views is not None and (
        not isinstance(views, list) or not all(isinstance(v, str) for v in views)
    ):
        raise _bad("`feature_views` must be a list of feature view names")
    return views


def _version(body: dict[str, Any]) -> None:
    version = body.get("version")
    if version is not None and (not isinstance(version, str) or version.lower() != "latest"):
        raise HTTPError(
            422,
            "validation_error",
            "`version`: feature views are versioned by commit here, not numbered; leave "
            '`version` out (or "latest") to materialize the views as committed',
        )


def _check_views(registry: Registry, views: list[str] | None) -> None:
    for name in views or ():
        check_view(registry, name)


# -- /push ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Push:
    """A parsed ``POST /push`` body."""

    source: str
    table: pa.Table
    to: str
    ref: str | None = None
    """The branch written (None: the default one)."""


def _target(value: object) -> str:
    """``to`` as Feast sends it (``online``...) or as its enum prints (``PushMode.ONLINE``)."""
    if isinstance(value, str):
        name = value.strip().lower().removeprefix("pushmode.")
        if name in PUSH_TARGETS:
            return name
    raise _bad(f"`to` must be one of {', '.join(PUSH_TARGETS)}")


def parse_push(body: object, max_rows: int, header: str | None = None) -> Push:
    """Validate a push body: ``{push_source_name, df, to, allow_registry_cache,
    transform_on_write}`` (Feast's) and ``ref``, with the ref header's value."""
    body = _object(body, "`push_source_name` and `df`")
    source = _name(body, "push_source_name", "a push source")
    to = _target(body.get("to") or "online")
    _flag(body, "allow_registry_cache", True)
    _flag(body, "transform_on_write", True)
    ref = merged_ref(body_ref(body), header)
    return Push(source, frame(body.get("df"), max_rows), to, ref)


def _written(store: FeatureStore, ref: str | None, action: str) -> Registry:
    """The definitions a write of ``ref`` uses: the served ones of the default branch,
    or a branch's own (a tag, commit or internal branch is refused first)."""
    from featurestore.namespaces import written_branch

    if ref is None:
        return serving_registry(store)
    return store.registry(written_branch(store, ref, action))


def push(store: FeatureStore, request: Push) -> dict[str, Any]:
    """Push the rows; answer how many went where."""
    sources = _written(store, request.ref, "push to").data_sources_by_name
    if not isinstance(sources.get(request.source), PushSource):
        pushes = sorted(n for n, s in sources.items() if isinstance(s, PushSource))
        raise HTTPError(
            404,
            "not_found",
            f"no push source {request.source!r} is applied; known: {', '.join(pushes) or '(none)'}",
            "PushSourceNotFoundException",
        )
    store.push(request.source, request.table, to=request.to, branch=request.ref)  # type: ignore[arg-type]
    return {
        "push_source_name": request.source,
        "rows": request.table.num_rows,
        "to": request.to,
        "branch": request.ref or store.config.default_branch,
    }


# -- /write-to-online-store ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Write:
    """A parsed ``POST /write-to-online-store`` body."""

    view: str
    table: pa.Table
    ref: str | None = None
    """The branch written (None: the default one)."""


def parse_write(body: object, max_rows: int, header: str | None = None) -> Write:
    """Validate ``{feature_view_name, df, allow_registry_cache, transform_on_write, ref}``
    with the ref header's value."""
    body = _object(body, "`feature_view_name` and `df`")
    view = _name(body, "feature_view_name", "a feature view")
    _flag(body, "allow_registry_cache", True)
    _flag(body, "transform_on_write", True)
    ref = merged_ref(body_ref(body), header)
    return Write(view, frame(body.get("df"), max_rows), ref)


def _view_times(table: pa.Table, timestamp_field: str, created_column: str | None) -> pa.Table:
    """Feast's ``event_timestamp`` / ``created`` columns named as the view's source names
    them; a ``created`` column the source lacks is dropped."""
    names = table.schema.names
    if FEAST_EVENT_TS in names and timestamp_field not in names:
        table = table.rename_columns([timestamp_field if n == FEAST_EVENT_TS else n for n in names])
    names = table.schema.names
    if FEAST_CREATED in names and created_column not in names:
        if created_column:
            table = table.rename_columns(
                [created_column if n == FEAST_CREATED else n for n in names]
            )
        elif timestamp_field != FEAST_CREATED:
            table = table.drop_columns([FEAST_CREATED])
    return table


def write_to_online_store(store: FeatureStore, request: Write) -> dict[str, Any]:
    """Write one view's rows online (monotonic, as a push); answer how many."""
    registry = _written(store, request.ref, "write online to")
    check_view(registry, request.view)
    table = request.table
    view = registry.feature_views_by_name.get(request.view)
    if view is not None:
        source = view.source
        created = getattr(source, "created_timestamp_column", None)
        table = _view_times(table, source.timestamp_field, created)
    store.write_to_online_store(request.view, table, branch=request.ref)
    return {
        "feature_view_name": request.view,
        "rows": table.num_rows,
        "branch": request.ref or store.config.default_branch,
    }


# -- /materialize and /materialize-incremental ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class MaterializeRequest:
    """A parsed ``POST /materialize`` body: the range, the views (None: all) and the
    ref materialized from (None: the default branch)."""

    start: datetime | None
    end: datetime
    views: list[str] | None
    ref: str | None = None


def parse_materialize(body: object, header: str | None = None) -> MaterializeRequest:
    """Validate Feast's ``{start_ts, end_ts, feature_views, disable_event_timestamp,
    full_feature_names, version}`` and ``ref``, with the ref header's value; times as
    Feast parses them (naive means UTC)."""
    body = _object(body, "`start_ts` and `end_ts`")
    views = _views(body)
    _flag(body, "full_feature_names", False)
    _version(body)
    ref = merged_ref(body_ref(body), header)
    if _flag(body, "disable_event_timestamp", False):
        # Feast's meaning: everything up to now.
        return MaterializeRequest(EPOCH, datetime.now(UTC), views, ref)
    if body.get("start_ts") is None or body.get("end_ts") is None:
        raise _bad(
            "give `start_ts` and `end_ts` (or `disable_event_timestamp: true` for everything "
            "up to now)"
        )
    start = parse_time(body.get("start_ts"), "start_ts")
    end = parse_time(body.get("end_ts"), "end_ts")
    if start >= end:
        raise _bad(f"`start_ts` ({start.isoformat()}) must be before `end_ts` ({end.isoformat()})")
    return MaterializeRequest(start, end, views, ref)


def _materialized(store: FeatureStore, ref: str | None, views: list[str] | None) -> None:
    """Refuse an internal branch, then 404 for views ``ref`` does not define."""
    from featurestore.datasets import refuse_internal

    if ref is not None:
        refuse_internal(ref, "materialize from")
    _check_views(store.registry(ref), views)


def materialize(store: FeatureStore, request: MaterializeRequest) -> dict[str, Any]:
    """Materialize the views over the range; answer what each view did."""
    _materialized(store, request.ref, request.views)
    results = store.materialize(
        request.start, request.end, feature_views=request.views, ref=request.ref
    )
    return {"results": jsonable(results)}


def parse_materialize_incremental(body: object, header: str | None = None) -> MaterializeRequest:
    """Validate Feast's ``{end_ts, feature_views, full_feature_names, version}`` and
    ``ref``, with the ref header's value."""
    body = _object(body, "`end_ts`")
    views = _views(body)
    _flag(body, "full_feature_names", False)
    _version(body)
    ref = merged_ref(body_ref(body), header)
    return MaterializeRequest(None, parse_time(body.get("end_ts"), "end_ts"), views, ref)


def materialize_incremental(store: FeatureStore, request: MaterializeRequest) -> dict[str, Any]:
    """Materialize up to the request's end; answer what each view did."""
    _materialized(store, request.ref, request.views)
    results = store.materialize_incremental(
        request.end, feature_views=request.views, ref=request.ref
    )
    return {"results": jsonable(results)}
