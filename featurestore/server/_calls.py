"""The store calls behind each endpoint, run in worker threads, and their JSON forms."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.errors import NotFoundError
from featurestore.server._entities import key_map, normalize_entities
from featurestore.server._errors import HTTPError
from featurestore.server._feast_shape import LookupRequest, feast_response

if TYPE_CHECKING:
    from featurestore import FeatureStore
    from featurestore.definitions import FeatureService
    from featurestore.lookup import OnlineResponse
    from featurestore.registry import Registry

__all__ = [
    "branches",
    "check_view",
    "diff",
    "explain",
    "jsonable",
    "log",
    "lookup",
    "lookup_arrow",
    "lookup_feast",
    "online_status",
    "resolve_lookup",
    "serving_registry",
    "tags",
    "warm_up",
]


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


def serving_registry(store: FeatureStore) -> Registry:
    """The definitions lookups serve (the default branch's, cached by the store)."""
    return store._serving_registry()


def warm_up(store: FeatureStore) -> None:
    """Before the first request: what the first lookup would do while its clients wait.

    Imports the online store's modules (a second or more) and reads the definitions
    lookups serve; then freezes the objects alive (``gc.freeze``) so that the
    collector's full passes scan only what requests allocate, not the hundreds of
    thousands of long-lived objects of the imported libraries (a pass over those held
    every request for 0.1-0.3 s). Garbage is collected first, so none is kept frozen.
    """
    import online  # noqa: F401
    from featurestore import lookup  # noqa: F401

    try:
        serving_registry(store)
    finally:
        gc.collect()
        gc.freeze()


def check_view(registry: Registry, name: str) -> None:
    """404 in Feast's terms when no feature view or on-demand view ``name`` is applied."""
    try:
        registry.get_view(name)
    except NotFoundError as e:
        raise HTTPError(404, "not_found", str(e), "FeatureViewNotFoundException") from None


def _stored_views(registry: Registry, refs: Sequence[str]) -> list[str]:
    """The stored feature views ``refs`` read, on-demand views' inputs included, in order."""
    odfvs = registry.on_demand_feature_views_by_name
    out: dict[str, None] = {}
    pending = [ref.partition(":")[0] for ref in refs]
    seen: set[str] = set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in odfvs:
            pending[:0] = [v for v, _ in odfvs[name].input_refs]
        elif name in registry.feature_views_by_name:
            out[name] = None
    return list(out)


_Resolved = tuple["list[str] | FeatureService", list[str]]
_resolved: dict[tuple[int, str | None, tuple[str, ...]], tuple[Registry, _Resolved]] = {}
"""What a registry resolves a service or a list of refs to, kept while it is served."""


def _resolve(registry: Registry, request: LookupRequest) -> _Resolved:
    """What ``request`` looks up in ``registry`` and the stored views it reads; 404 in
    Feast's terms for an unknown service or view."""
    key = (id(registry), request.feature_service, request.features)
    kept = _resolved.get(key)
    if kept is not None and kept[0] is registry:
        return kept[1]
    features: list[str] | FeatureService
    if request.feature_service is not None:
        try:
            features = registry.get_feature_service(request.feature_service)
        except NotFoundError as e:
            raise HTTPError(404, "not_found", str(e), "FeatureServiceNotFoundException") from None
        refs = [r for p in features.features for r in p.feature_refs]
    else:
        features = list(request.features)
        refs = features
        for view in dict.fromkeys(ref.partition(":")[0] for ref in refs if ":" in ref):
            check_view(registry, view)
    resolved: _Resolved = (features, _stored_views(registry, refs))
    if len(_resolved) > 256:
        _resolved.clear()
    _resolved[key] = (registry, resolved)
    return resolved


def resolve_lookup(
    store: FeatureStore, request: LookupRequest
) -> tuple[LookupRequest, list[str] | FeatureService, list[str]]:
    """The request with entity names and text keys as Feast reads them, what to look up,
    and the stored views read; 404 in Feast's terms for an unknown service or view, and
    for a ``ref`` that is not a branch."""
    from featurestore.namespaces import serving_registry as registry_of

    registry = registry_of(store, request.ref)
    entities = normalize_entities(request.entities, key_map(registry))
    if entities != request.entities:
        request = dataclasses.replace(request, entities=entities)
    features, views = _resolve(registry, request)
    return request, features, views


def lookup(store: FeatureStore, request: LookupRequest) -> OnlineResponse:
    """One online read for a parsed lookup request."""
    request, features, _ = resolve_lookup(store, request)
    return store.get_online_features(
        features,
        request.entity_rows,
        full_feature_names=request.full_feature_names,
        ref=request.ref,
    )


def lookup_arrow(store: FeatureStore, request: LookupRequest) -> pa.Table:
    """The lookup as an Arrow table: join keys, then per feature its values, event time
    and the commit it was materialized from."""
    response = lookup(store, request)
    table = response.to_arrow(include_metadata=True)
    if response.request_id is not None:
        table = table.replace_schema_metadata({"request_id": response.request_id})
    return table


def lookup_feast(store: FeatureStore, request: LookupRequest) -> dict[str, Any]:
    """The lookup in Feast's feature server response shape."""
    request, features, views = resolve_lookup(store, request)
    response = store.get_online_features(
        features,
        request.entity_rows,
        full_feature_names=request.full_feature_names,
        ref=request.ref,
    )
    body = feast_response(response, request, views)
    if response.request_id is not None:
        body["metadata"]["request_id"] = response.request_id
    return body


def explain(store: FeatureStore, request_id: str) -> dict[str, Any]:
    """A logged lookup's served values and their point-in-time recomputation."""
    body: dict[str, Any] = jsonable(store.explain(request_id).to_dict())
    return body


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
            # changed paths without their values: a definition may hold a local path
            body["definitions"] = diff_definitions(store.repository, left, right).to_json(
                values=False
            )
    return body


def online_status(store: FeatureStore) -> dict[str, Any]:
    """Which commit each view serves online, and its lag."""
    return {"views": [{**jsonable(v), "up_to_date": v.up_to_date} for v in store.online_status()]}
