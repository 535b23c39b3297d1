"""Feast's feature server shapes: parsing its lookup request, writing its response.

The response is column-major, as Feast writes it: one result per name in
``metadata.feature_names`` (join keys first, then features), each with the values
for every entity row, a status per value and an event time per value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from featurestore.server._errors import HTTPError

if TYPE_CHECKING:
    from featurestore.lookup import OnlineResponse

__all__ = [
    "REF_HEADER",
    "LookupRequest",
    "body_ref",
    "columns",
    "feast_response",
    "merged_ref",
    "parse_lookup",
    "timestamp_text",
    "with_ref_header",
]

EPOCH_TEXT = "1970-01-01T00:00:00Z"
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class LookupRequest:
    """A parsed ``POST /get-online-features`` body."""

    features: tuple[str, ...]
    feature_service: str | None
    entities: dict[str, list[Any]]
    request_data: dict[str, list[Any]]
    full_feature_names: bool
    rows: int
    include_feature_view_version_metadata: bool = False
    ref: str | None = None
    """The branch to read (``ref`` in the body or the ``X-Featurestore-Ref`` header)."""

    @property
    def entity_rows(self) -> dict[str, list[Any]]:
        """Join keys and request data together, as the store takes them."""
        return {**self.entities, **self.request_data}


def _bad(message: str) -> HTTPError:
    return HTTPError(400, "bad_request", message)


def columns(value: object, what: str) -> dict[str, list[Any]]:
    """``value`` checked as an object of column name -> list of JSON scalars."""
    if not isinstance(value, dict):
        raise _bad(f"`{what}` must be an object of column name -> list of values")
    for name, column in value.items():
        if not isinstance(column, list):
            raise _bad(f"`{what}.{name}` must be a list of values, one per entity row")
        if not all(isinstance(v, _SCALARS) for v in column):
            raise _bad(f"`{what}.{name}` must hold only strings, numbers, booleans or null")
    return value


def parse_lookup(body: object, max_entities: int) -> LookupRequest:
    """Validate a Feast-shaped lookup body; 400 on a malformed one, 413 on too many rows."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object with `features` or `feature_service`")
    service = body.get("feature_service")
    features = body.get("features", [])
    if service is not None and not isinstance(service, str):
        raise _bad("`feature_service` must be a string naming a feature service")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise _bad("`features` must be a list of `view:feature` strings")
    if service is None and not features:
        raise _bad("name the features to look up in `features` or give a `feature_service`")
    entities = columns(body.get("entities"), "entities")
    if not entities:
        raise _bad("`entities` must name at least one join key with its values")
    request_data: dict[str, list[Any]] = {}
    for key in ("request_context", "request_data"):
        if body.get(key) is not None:
            request_data.update(columns(body[key], key))
    lengths = {len(v) for v in (*entities.values(), *request_data.values())}
    if len(lengths) != 1:
        raise _bad("every list in `entities` and the request data must have the same length")
    rows = lengths.pop()
    if rows == 0:
        raise _bad("`entities` must hold at least one entity row")
    if rows > max_entities:
        raise HTTPError(
            413,
            "too_many_entities",
            f"{rows} entity rows in one request; this server answers at most {max_entities}: "
            "split the request",
        )
    full = body.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise _bad("`full_feature_names` must be true or false")
    versions = body.get("include_feature_view_version_metadata", False)
    if not isinstance(versions, bool):
        raise _bad("`include_feature_view_version_metadata` must be true or false")
    ref = body_ref(body)
    return LookupRequest(
        features=tuple(features),
        feature_service=service,
        entities=entities,
        request_data=request_data,
        full_feature_names=full,
        rows=rows,
        include_feature_view_version_metadata=versions,
        ref=ref,
    )


REF_HEADER = "x-featurestore-ref"
"""The header naming the branch a lookup reads, as the body's ``ref`` does."""


def body_ref(body: dict[str, Any]) -> str | None:
    """The body's ``ref`` (None when absent); 400 unless it is a non-empty string."""
    ref = body.get("ref")
    if ref is not None and (not isinstance(ref, str) or not ref):
        raise _bad('`ref` must name a branch, e.g. "dev" (leave it out for the default one)')
    return ref


def merged_ref(ref: str | None, header: str | None) -> str | None:
    """The branch a request names, by its body's ``ref`` and/or the
    ``X-Featurestore-Ref`` header; 400 for an empty header, 400 ``ref_mismatch`` when
    the two name different branches."""
    if header is None:
        return ref
    header = header.strip()
    if not header:
        raise _bad("the X-Featurestore-Ref header is empty; name a branch or leave it out")
    if ref is not None and ref != header:
        raise HTTPError(
            400,
            "ref_mismatch",
            f"the body's `ref` {ref!r} and the X-Featurestore-Ref header {header!r} "
            "name different branches; give one of them, or the same branch in both",
        )
    return header


def with_ref_header(request: LookupRequest, header: str | None) -> LookupRequest:
    """``request`` reading the branch the ``X-Featurestore-Ref`` header names, if any;
    400 ``ref_mismatch`` when the body's ``ref`` names another."""
    ref = merged_ref(request.ref, header)
    return request if ref == request.ref else dataclasses.replace(request, ref=ref)


def timestamp_text(value: datetime | None) -> str:
    """RFC 3339 with a Z, with as many fraction digits as needed (Feast's format)."""
    if value is None:
        return EPOCH_TEXT
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    base = value.isoformat(timespec="seconds")[:19]
    micros = value.microsecond
    if micros == 0:
        return base + "Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"


def _values(columns: Mapping[str, Any], name: str) -> list[Any]:
    pylist = getattr(columns, "pylist", None)
    return list(pylist(name) if pylist is not None else columns[name].to_pylist())


def feast_response(
    response: OnlineResponse, request: LookupRequest, views: Sequence[str] = ()
) -> dict[str, Any]:
    """Feast's JSON response: the join keys of the request, then every feature, in order.

    Join keys read PRESENT at the epoch (Feast's zero timestamp), as Feast answers them;
    so does a feature value without an event time. ``views`` are the stored feature
    views read, listed in ``metadata.feature_view_metadata`` when the request asks for
    it; each has version 0, which Feast leaves out of its JSON (views are versioned
    by commit here, not numbered).
    """
    rows = request.rows
    entity_columns = response.entity_columns
    join_keys = set(entity_columns)  # iterating builds no Arrow data
    keys = [k for k in request.entities if k in join_keys]
    present = ["PRESENT"] * rows
    epoch = [EPOCH_TEXT] * rows
    results: list[dict[str, Any]] = [
        {"values": _values(entity_columns, k), "statuses": present, "event_timestamps": epoch}
        for k in keys
    ]
    texts: dict[datetime | None, str] = {None: EPOCH_TEXT}
    # The features of one view share their times and found flags: convert them once.
    times_of: dict[int, list[str]] = {}
    all_found: dict[int, bool] = {}
    for name, values, event_times, found, expired in response.feature_lists():
        times = times_of.get(id(event_times))
        if times is None:
            times = []
            for t in event_times:
                text = texts.get(t)
                if text is None:
                    text = texts[t] = timestamp_text(t)
                times.append(text)
            times_of[id(event_times)] = times
        everywhere = all_found.get(id(found))
        if everywhere is None:
            everywhere = all_found[id(found)] = all(found)
        if everywhere and None not in values and (expired is None or not any(expired)):
            statuses: list[str] = present
        else:
            statuses = list(response.statuses(name))
        results.append({"values": values, "statuses": statuses, "event_timestamps": times})
    metadata: dict[str, Any] = {"feature_names": [*keys, *response.features]}
    if request.include_feature_view_version_metadata:
        metadata["feature_view_metadata"] = [{"name": v} for v in views]
    return {"metadata": metadata, "results": results}
