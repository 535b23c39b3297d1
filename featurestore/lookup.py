"""Online lookups: many features of many entities in one round trip to the online store.

What a plan reads (per view: table, columns and types, ttl) is prepared once per plan;
values come back as Python lists and the response builds Arrow arrays only when they
are asked for, so a lookup of a few entities costs little more than the round trip.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from featurestore.display import html_table, text_table
from featurestore.entity_keys import cast_key_strings, check_key_values, global_keys, key_types
from featurestore.errors import ValidationError
from featurestore.features import FeaturePlan, internal_name
from featurestore.types import JsonType

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch

    import online
    from featurestore.definitions import FeatureView

__all__ = ["OnlineResponse", "Status"]

Status = Literal["PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE"]


class Columns(Mapping[str, pa.Array]):
    """Named columns kept as Python lists, each made an Arrow array on first access."""

    __slots__ = ("_arrays", "_lists", "_plain", "_types")

    def __init__(
        self,
        lists: Mapping[str, list[Any] | pa.Array],
        types: Mapping[str, pa.DataType | None],
        *,
        plain: bool = False,
    ) -> None:
        """``plain``: the caller vouches that every value of ``lists`` is a list."""
        self._lists = lists
        self._types = types
        self._arrays: dict[str, pa.Array] = {}
        self._plain = plain

    def __getitem__(self, name: str) -> pa.Array:
        array = self._arrays.get(name)
        if array is None:
            values = self._lists[name]
            if isinstance(values, pa.Array):
                array = values
            else:
                array = pa.array(values, type=self._types.get(name))
            self._arrays[name] = array
        return array

    def pylist(self, name: str) -> list[Any]:
        """The values of ``name`` as a list, without building Arrow data."""
        values = self._lists[name]
        return values.to_pylist() if isinstance(values, pa.Array) else list(values)

    def pylists(self) -> dict[str, list[Any]]:
        """Every column as a list, without building Arrow data."""
        if self._plain:
            return {k: list(v) for k, v in self._lists.items()}
        return {
            k: v.to_pylist() if isinstance(v, pa.Array) else list(v) for k, v in self._lists.items()
        }

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)


def _pylist(columns: Mapping[str, pa.Array], name: str) -> list[Any]:
    if isinstance(columns, Columns):
        return columns.pylist(name)
    return list(columns[name].to_pylist())


def _lists_of(columns: Mapping[str, Any]) -> Mapping[str, Any]:
    """Name -> stored values (lists, or Arrow arrays) of ``columns``, without copies."""
    return columns._lists if isinstance(columns, Columns) else columns


def _as_list(values: Any) -> list[Any]:
    return values.to_pylist() if isinstance(values, pa.Array | pa.ChunkedArray) else list(values)


def _pylists(columns: Mapping[str, pa.Array]) -> dict[str, list[Any]]:
    if isinstance(columns, Columns):
        return columns.pylists()
    return {k: list(columns[k].to_pylist()) for k in columns}


class _ByView(Mapping[str, list[Any]]):
    """Output name -> the list of the view it was read from (lists shared by a view)."""

    __slots__ = ("_index", "_lists")

    def __init__(self, index: Mapping[str, int], lists: Sequence[list[Any]]) -> None:
        self._index = index
        self._lists = lists

    def __getitem__(self, name: str) -> list[Any]:
        return self._lists[self._index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


@dataclass(frozen=True, repr=False)
class OnlineResponse:
    """Features of the requested entities; per feature its values, event times and commits.

    Missing values are null with status ``NOT_FOUND``; values older than their view's ttl
    are null with status ``OUTSIDE_MAX_AGE`` (as Feast's). The commit of each value names
    the offline data it was materialized from (null for pushed values).
    """

    entity_columns: Mapping[str, pa.Array]
    features: Mapping[str, pa.Array]
    event_timestamps: Mapping[str, pa.Array]
    commits: Mapping[str, pa.Array]
    found: Mapping[str, pa.Array]
    """Per feature, whether a row was stored for the entity (and not expired)."""
    json_features: frozenset[str] = frozenset()
    """Features of type ``Json``: JSON text in Arrow, parsed by ``to_dict`` (as Feast's)."""
    expired: Mapping[str, Sequence[bool]] = field(default_factory=dict)
    """Per feature of a view with a ttl, whether the stored value was older than the ttl."""
    request_id: str | None = None
    """The id of this lookup in the serving log (``store.explain(request_id)``): set when
    it went through a feature service that logs it (see ``featurestore.serving_log``)."""

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def statuses(self, name: str) -> list[Status]:
        """Per entity row: PRESENT, NULL_VALUE (stored null), NOT_FOUND or OUTSIDE_MAX_AGE."""
        found = _pylist(self.found, name)
        values = _pylist(self.features, name)
        out: list[Status] = [
            "NOT_FOUND" if not f else ("PRESENT" if v is not None else "NULL_VALUE")
            for f, v in zip(found, values, strict=True)
        ]
        expired = self.expired.get(name)
        if expired is not None:
            out = ["OUTSIDE_MAX_AGE" if e else s for s, e in zip(out, expired, strict=True)]
        return out

    def feature_lists(
        self,
    ) -> Iterator[tuple[str, list[Any], list[Any], list[bool], Sequence[bool] | None]]:
        """Per feature: its values (``Json`` ones parsed), event times, found flags and
        expired flags (None: its view has no ttl), as Python lists.

        The lists of the features of one view may be the same objects (what the view's
        read returned): read them, never change them.
        """
        values_of, times_of, found_of = (
            _lists_of(self.features),
            _lists_of(self.event_timestamps),
            _lists_of(self.found),
        )
        expired = self.expired
        json_features = self.json_features
        for name in values_of:
            values = values_of[name]
            if type(values) is not list:
                values = _as_list(values)
            if name in json_features:
                values = [None if v is None else json.loads(v) for v in values]
            times = times_of[name]
            found = found_of[name]
            yield (
                name,
                values,
                times if type(times) is list else _as_list(times),
                found if type(found) is list else _as_list(found),
                expired.get(name),
            )

    def to_dict(self, include_event_timestamps: bool = False) -> dict[str, list[Any]]:
        """Columns as lists: the entity keys, then each feature (Feast's shape)."""
        out = _pylists(self.entity_columns)
        features = _pylists(self.features)
        for name in self.json_features:
            features[name] = [None if v is None else json.loads(v) for v in features[name]]
        if not include_event_timestamps:
            out.update(features)
            return out
        for name, values in features.items():
            out[name] = values
            out[f"{name}__ts"] = _pylist(self.event_timestamps, name)
        return out

    def to_arrow(self, include_metadata: bool = False) -> pa.Table:
        columns: dict[str, pa.Array] = dict(self.entity_columns)
        for name, values in self.features.items():
            columns[name] = values
            if include_metadata:
                columns[f"{name}__event_timestamp"] = self.event_timestamps[name]
                columns[f"{name}__commit"] = self.commits[name]
        return pa.table(columns)

    def to_pandas(self, include_metadata: bool = False) -> pd.DataFrame:
        from featurestore.retrieval import to_pandas

        return to_pandas(self.to_arrow(include_metadata))

    def to_numpy(
        self,
        *,
        dtype: Any = "float32",
        null_fill: float | None = float("nan"),
        features: Sequence[str] | None = None,
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
        """(features in request order, null mask or None); see ``featurestore.tensors``."""
        from featurestore.tensors import to_numpy

        table = pa.table(dict(self.features))
        return to_numpy(table, list(features or self.features), dtype=dtype, null_fill=null_fill)

    def to_torch(
        self,
        *,
        dtype: Any = None,
        device: Any = "cpu",
        null_fill: float | None = float("nan"),
        pin_memory: bool = False,
        features: Sequence[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(features in request order, null mask or None) as tensors on ``device``."""
        from featurestore.tensors import to_torch

        table = pa.table(dict(self.features))
        names = list(features or self.features)
        return to_torch(
            table, names, dtype=dtype, device=device, null_fill=null_fill, pin_memory=pin_memory
        )

    def _caption(self) -> str:
        columns = self.entity_columns or self.features
        n = len(next(iter(columns.values()))) if columns else 0
        names = list(self.features)
        return f"OnlineResponse: {n} entity row(s), {len(names)} feature(s)"

    def __repr__(self) -> str:
        return f"{self._caption()}\n{text_table(self.to_dict())}"

    def _repr_html_(self) -> str:
        statuses = {name: self.statuses(name) for name in self.features}
        return html_table(self.to_dict(), self._caption(), statuses=statuses)

    def to_df(self, include_event_timestamps: bool = False) -> pd.DataFrame:
        """Feast's frame: entity keys, then each feature (and its ``__ts`` if asked)."""
        import pandas as pd

        return pd.DataFrame(self.to_dict(include_event_timestamps))


_TS = pa.timestamp("us", tz="UTC")
_FEW_KEYS = 32
"""Up to this many entities, keys are encoded one by one in Python (cheaper than Arrow)."""


@dataclass(frozen=True)
class _ViewRead:
    name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    columns: tuple[str, ...]
    """The internal name (``view__feature``) of each feature."""
    schema: pa.Schema
    ttl: timedelta | None
    windowed: FeatureView | None = None
    """The windowed view read from its series at the request time (None: a plain read)."""
    counts: tuple[str, ...] = ()
    """Features that count (0, not null, over an empty window, as offline)."""


@dataclass(frozen=True)
class _Prepared:
    """What a plan reads and returns, computed once per plan."""

    reads: tuple[_ViewRead, ...]
    key_sets: tuple[tuple[str, ...], ...]
    types: dict[str, pa.DataType]
    """Output name -> Arrow type of each requested feature."""
    order: tuple[tuple[str, str], ...]
    """(internal name, output name) of each requested ref, in request order."""
    join_keys: tuple[str, ...]
    key_types: dict[str, pa.DataType | None]
    """Join key -> its declared Arrow type (None: unknown or declared differently)."""
    ts_types: dict[str, pa.DataType]
    commit_types: dict[str, pa.DataType]
    found_types: dict[str, pa.DataType]
    outputs: tuple[tuple[int, str, str], ...]
    """(read index, feature, output name) of each requested ref; empty with on-demand views."""
    read_of: dict[str, int]
    """Output name -> index of the read it comes from; empty with on-demand views."""
    readers: dict[int, tuple[object, online.PreparedRead]]
    """id(store) -> (store, its prepared reads of this plan)."""
    json_outputs: frozenset[str] = frozenset()
    """Output names of the requested features of type ``Json``."""

    def reader(self, store: online.RedisOnlineStore) -> online.PreparedRead:
        """The prepared reads of this plan on ``store``, made on first use."""
        seen = self.readers.get(id(store))
        if seen is not None and seen[0] is store:
            return seen[1]
        import online as online_pkg

        reader = store.prepare_read(
            # no cutoff in the store: ``_expire`` applies the ttl, telling expired from missing
            [
                online_pkg.ReadRequest(r.name, (), r.schema, None)
                for r in self.reads
                if r.windowed is None
            ]
        )
        if len(self.readers) > 16:
            self.readers.clear()
        self.readers[id(store)] = (store, reader)
        return reader


_prepared: dict[int, tuple[FeaturePlan, _Prepared]] = {}


def _prepare(plan: FeaturePlan) -> _Prepared:
    cached = _prepared.get(id(plan))
    if cached is not None and cached[0] is plan:
        return cached[1]
    reads = []
    types: dict[str, pa.DataType] = {}
    json_columns: set[str] = set()
    from featurestore.aggregates import tiled

    for name, wanted in plan.stored.items():
        view = plan.views[name]
        declared = {f.name: f.dtype.to_arrow() for f in view.features}
        json_columns.update(
            internal_name(name, f.name) for f in view.features if isinstance(f.dtype, JsonType)
        )
        schema = pa.schema([(f, declared[f]) for f in wanted])
        columns = tuple(internal_name(name, f) for f in wanted)
        if tiled(view):
            counts = tuple(a.name for a in view.aggregations if a.function == "count")
            # offline, windows ignore the ttl: the series answers exactly at the request time
            read = _ViewRead(
                name, tuple(view.join_keys), wanted, columns, schema, None, view, counts
            )
        else:
            read = _ViewRead(name, tuple(view.join_keys), wanted, columns, schema, view.ttl)
        reads.append(read)
        types.update({c: declared[f] for c, f in zip(columns, wanted, strict=True)})
    for odfv in plan.on_demand:
        for out_field in odfv.features:
            types[internal_name(odfv.name, out_field.name)] = out_field.dtype.to_arrow()
            if isinstance(out_field.dtype, JsonType):
                json_columns.add(internal_name(odfv.name, out_field.name))
    order = tuple(
        (internal_name(v, f), out) for (v, f), out in zip(plan.refs, plan.output_names, strict=True)
    )
    outputs = [out for _, out in order]
    index = {r.name: i for i, r in enumerate(reads)}
    stored = (
        ()
        if plan.on_demand
        else tuple(
            (index[v], f, out) for (v, f), out in zip(plan.refs, plan.output_names, strict=True)
        )
    )
    prepared = _Prepared(
        reads=tuple(reads),
        key_sets=tuple(dict.fromkeys(r.join_keys for r in reads)),
        types={out: types[col] for col, out in order},
        order=order,
        join_keys=plan.join_keys,
        key_types=key_types(
            (f.name, f.dtype.to_arrow()) for v in plan.views.values() for f in v.entity_columns
        ),
        ts_types=dict.fromkeys(outputs, _TS),
        commit_types=dict.fromkeys(outputs, pa.string()),
        found_types=dict.fromkeys(outputs, pa.bool_()),
        outputs=stored,
        read_of={out: i for i, _, out in stored},
        readers={},
        json_outputs=frozenset(out for col, out in order if col in json_columns),
    )
    if len(_prepared) > 1024:
        _prepared.clear()
    _prepared[id(plan)] = (plan, prepared)
    return prepared


def _encode(names: tuple[str, ...], columns: Mapping[str, Sequence[Any]], n: int) -> list[bytes]:
    """The stored key of each entity row for the join keys ``names``."""
    import online as online_pkg

    if not names:  # a view without entities: one global row for every entity row
        return global_keys(n)
    lists = [columns[k] for k in names]
    if len(names) == 1 and n > 1:
        keys = _int_keys(names[0], lists[0])
        if keys is not None:
            return keys
    if n <= _FEW_KEYS and all(
        len({type(v) for v in values}) == 1 and type(values[0]) in (int, str) for values in lists
    ):
        if len(names) == 1:
            return [online_pkg.encode_entity_key(names, [v]) for v in lists[0]]
        return [online_pkg.encode_entity_key(names, list(vs)) for vs in zip(*lists, strict=True)]
    arrays, _ = entity_arrays_for(names, columns)
    return online_pkg.encode_entity_keys(list(names), [arrays[k] for k in names])


def _int_keys(name: str, values: Sequence[Any]) -> list[bytes] | None:
    """The stored keys of integer values of one join key, packed at once; None unless
    every value is an int that fits 64 bits (the general path then decides)."""
    import online as online_pkg

    if not all(type(v) is int for v in values):
        return None
    try:
        packed = struct.pack(f">{len(values)}q", *values)
    except struct.error:
        return None
    prefix = online_pkg.encode_entity_key([name], [0])[:-8]
    return [prefix + packed[i : i + 8] for i in range(0, len(packed), 8)]


def entity_arrays_for(
    names: Sequence[str], columns: Mapping[str, Sequence[Any]]
) -> tuple[dict[str, pa.Array], int]:
    """The columns ``names`` of the entity rows as Arrow arrays (checked), and the count."""
    arrays: dict[str, pa.Array] = {}
    for key in names:
        try:
            arrays[key] = pa.array(columns[key])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ValidationError(
                f"join key {key!r}: values of mixed or unsupported types: {e}"
            ) from e
        if arrays[key].null_count:
            raise ValidationError(f"join key {key!r} has null values; give every entity a key")
    return arrays, len(next(iter(arrays.values()))) if arrays else 0


def read_online(
    plan: FeaturePlan,
    columns: Mapping[str, Sequence[Any]],
    store: online.OnlineStore,
    now: datetime | None = None,
    *,
    rows: int | None = None,
) -> OnlineResponse:
    """Read every view of ``plan`` in one call, then compute its on-demand features.

    ``now`` is the time ttl is measured against (default: the current time); ``rows``
    counts the entity rows when they have no columns (views without entities only).
    """
    import online as online_pkg

    prepared = _prepare(plan)
    join_keys = prepared.join_keys
    missing = [k for k in join_keys if k not in columns]
    if missing:
        raise ValidationError(
            f"entity rows lack join key(s) {missing} needed by views {sorted(plan.views)}; "
            f"got {sorted(columns)}"
        )
    counts = {len(v) for v in columns.values()}
    if len(counts) > 1:
        raise ValidationError(f"entity rows: columns have different lengths {sorted(counts)}")
    n = counts.pop() if counts else (rows or 0)
    types = prepared.key_types
    for key in join_keys:
        keys_given = cast_key_strings(key, columns[key], types.get(key))
        if keys_given is not columns[key]:
            columns = {**columns, key: keys_given}
        check_key_values(key, keys_given, types.get(key))
    keys = {names: _encode(names, columns, n) for names in prepared.key_sets}
    if isinstance(store, online_pkg.RedisOnlineStore):
        results = _read_redis(prepared, keys, store, now)
    else:
        requests = [
            online_pkg.ReadRequest(
                table=r.name, keys=keys[r.join_keys], schema=r.schema, ttl=None, now=now
            )
            for r in prepared.reads
        ]
        results = [t.to_pydict() for t in store.read(requests)]
    expired = _expire(prepared.reads, results, now)
    if prepared.outputs:
        return _response(prepared, columns, results, expired)
    values: dict[str, Any] = {}
    ts: dict[str, Any] = {}
    commits: dict[str, Any] = {}
    found: dict[str, Any] = {}
    old: dict[str, list[bool]] = {}
    for r, result, too_old in zip(prepared.reads, results, expired, strict=True):
        event_ts = result[online_pkg.EVENT_TS_COLUMN]
        commit = result[online_pkg.COMMIT_COLUMN]
        present = [t is not None for t in event_ts]
        for f, col in zip(r.features, r.columns, strict=True):
            values[col] = result[f]
            ts[col], commits[col], found[col] = event_ts, commit, present
            if too_old is not None:
                old[col] = too_old
    if plan.on_demand:
        no_ts, no_commit, all_found = [None] * n, [None] * n, [True] * n
        for odfv in plan.on_demand:
            inputs: dict[str, list[Any]] = {}
            for v, f in odfv.input_refs:
                column = values[internal_name(v, f)]  # an Array if an on-demand view made it
                inputs[f] = column.to_pylist() if isinstance(column, pa.Array) else list(column)
            for request_field in odfv.request_fields:
                if request_field.name not in columns:
                    raise ValidationError(
                        f"on-demand view {odfv.name!r} needs request data "
                        f"{request_field.name!r}; pass it with the entity rows"
                    )
                inputs[request_field.name] = list(columns[request_field.name])
            out = odfv.transform_dict(inputs)
            for out_field in odfv.features:
                col = internal_name(odfv.name, out_field.name)
                values[col] = pa.array(
                    out[out_field.name], type=out_field.dtype.to_arrow(), from_pandas=True
                )
                ts[col], commits[col], found[col] = no_ts, no_commit, all_found
    order = prepared.order
    return OnlineResponse(
        entity_columns=Columns({k: list(columns[k]) for k in join_keys}, {}),
        features=Columns({out: values[c] for c, out in order}, prepared.types),
        event_timestamps=Columns({out: ts[c] for c, out in order}, prepared.ts_types),
        commits=Columns({out: commits[c] for c, out in order}, prepared.commit_types),
        found=Columns({out: found[c] for c, out in order}, prepared.found_types),
        json_features=prepared.json_outputs,
        expired={out: old[c] for c, out in order if c in old},
    )


def _read_redis(
    prepared: _Prepared,
    keys: Mapping[tuple[str, ...], list[bytes]],
    store: online.RedisOnlineStore,
    now: datetime | None,
) -> list[dict[str, list[Any]]]:
    """Every read of ``prepared`` in one round trip: plain views' HMGETs and windowed
    views' series scripts at the request time in one pipeline."""
    reads = prepared.reads
    plain = [i for i, r in enumerate(reads) if r.windowed is None]
    if len(plain) == len(reads):
        return prepared.reader(store).read_columns([keys[r.join_keys] for r in reads], now)
    from featurestore.aggregates import series_read, tile_store

    results: list[dict[str, list[Any]]] = [{} for _ in reads]
    windowed = [i for i, r in enumerate(reads) if r.windowed is not None]
    at = datetime.now(UTC) if now is None else now
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    pending = series_read(
        [w for i in windowed if (w := reads[i].windowed) is not None],
        [keys[reads[i].join_keys] for i in windowed],
        tile_store(store),
        at,
    )
    sent: list[Any] | None = None
    if plain:  # the series' scripts travel in the plain views' pipeline: one round trip
        got, sent = prepared.reader(store).read_columns_with(
            [keys[reads[i].join_keys] for i in plain], now, pending.payload, pending.replies
        )
        for i, columns in zip(plain, got, strict=True):
            results[i] = columns
    for i, columns in zip(windowed, pending.finish_columns(sent), strict=True):
        for name in reads[i].counts:
            if name in columns:
                columns[name] = [0 if v is None else v for v in columns[name]]
        results[i] = columns
    return results


def _expire(
    reads: Sequence[_ViewRead], results: list[dict[str, list[Any]]], now: datetime | None
) -> list[list[bool] | None]:
    """Apply each view's ttl to its rows in place: a row older than ``now - ttl`` reads
    null (values, time, commit); per read, which rows that was (None: no ttl)."""
    import online as online_pkg

    out: list[list[bool] | None] = []
    at: datetime | None = None
    for r, result in zip(reads, results, strict=True):
        if r.ttl is None:
            out.append(None)
            continue
        if at is None:
            at = datetime.now(UTC) if now is None else now
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        cutoff = at - r.ttl
        event_ts = result[online_pkg.EVENT_TS_COLUMN]
        too_old = [t is not None and t < cutoff for t in event_ts]
        if any(too_old):
            commits = result[online_pkg.COMMIT_COLUMN]
            lists = [result[f] for f in r.features]
            for i, old in enumerate(too_old):
                if old:
                    event_ts[i] = commits[i] = None
                    for values in lists:
                        values[i] = None
        out.append(too_old)
    return out


def _response(
    prepared: _Prepared,
    columns: Mapping[str, Sequence[Any]],
    results: list[dict[str, list[Any]]],
    expired: list[list[bool] | None],
) -> OnlineResponse:
    """The response of a plan without on-demand views: lists shared per view, not copied."""
    import online as online_pkg

    ts = [r[online_pkg.EVENT_TS_COLUMN] for r in results]
    read_of = prepared.read_of
    return OnlineResponse(
        entity_columns=Columns({k: list(columns[k]) for k in prepared.join_keys}, {}, plain=True),
        features=Columns(
            {out: results[i][f] for i, f, out in prepared.outputs}, prepared.types, plain=True
        ),
        event_timestamps=Columns(_ByView(read_of, ts), prepared.ts_types),
        commits=Columns(
            _ByView(read_of, [r[online_pkg.COMMIT_COLUMN] for r in results]),
            prepared.commit_types,
        ),
        found=Columns(
            _ByView(read_of, [[t is not None for t in times] for times in ts]),
            prepared.found_types,
        ),
        json_features=prepared.json_outputs,
        expired={
            out: too_old for i, _, out in prepared.outputs if (too_old := expired[i]) is not None
        },
    )
