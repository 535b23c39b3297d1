"""``FeatureView``: features of entities read from a source, and projections of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from featurestore.definitions._checks import (
    FrozenDict,
    as_tuple,
    check_duration,
    check_instances,
    check_name,
    check_tags,
    check_text,
    check_unique,
    close_matches,
)
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.entity import Entity
from featurestore.definitions.field import Field
from featurestore.definitions.sources import PushSource, TableSource
from featurestore.errors import DefinitionError

__all__ = ["FeatureView", "FeatureViewProjection"]

_MIN_TTL = timedelta(milliseconds=1)
"""The shortest ttl: online keys expire by the millisecond."""


@dataclass(frozen=True, init=False)
class FeatureViewProjection:
    """A selection of a view's features (``view[["a", "b"]]``), used by services and refs."""

    name: str
    features: tuple[Field, ...]

    def __init__(self, *, name: str, features: Iterable[Field]) -> None:
        object.__setattr__(self, "name", check_name(name, "projection view name"))
        fields = as_tuple(features, f"projection of {name!r} features")
        check_instances(fields, (Field,), f"projection of {name!r} features")
        check_unique((f.name for f in fields), f"projection of {name!r}")
        object.__setattr__(self, "features", fields)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def feature_refs(self) -> tuple[str, ...]:
        """``"view:feature"`` for each selected feature."""
        return tuple(f"{self.name}:{f.name}" for f in self.features)


def project(view_name: str, available: tuple[Field, ...], names: object) -> FeatureViewProjection:
    """The projection of ``names`` among ``available`` features of view ``view_name``."""
    if isinstance(names, str):
        names = [names]
    selected = as_tuple(names if isinstance(names, Sequence) else None, f"{view_name}[...]")
    by_name = {f.name: f for f in available}
    fields = []
    for name in selected:
        if name not in by_name:
            raise DefinitionError(
                f"view {view_name!r} has no feature {name!r}{close_matches(str(name), by_name)}; "
                f"its features are {', '.join(by_name) or '(none)'}"
            )
        fields.append(by_name[name])
    return FeatureViewProjection(name=view_name, features=fields)


@dataclass(frozen=True, init=False)
class FeatureView:
    """Features of ``entities`` read from ``source`` (a ``TableSource`` or ``PushSource``).

    ``schema`` lists the columns; a column named like a join key gives that key's type
    and is not a feature. With ``aggregations`` the view is windowed: its features are
    the aggregation outputs, computed from the raw rows of the source, and ``schema``
    lists the raw columns they read.
    ``ttl``: how far back a value stays valid (None or 0: forever; else at least 1 ms).
    Without ``entities`` (Feast's ``entities=[]``) the view holds one global row per
    time: training sets join it to every entity row by time, and lookups return its
    latest value for every entity row.

    Feast's ``offline``, ``org``, ``enable_validation`` and ``version`` are kept in the
    registry: rows are always checked against the schema when written (what Feast's
    ``enable_validation=True`` asks for), offline rows always live in the repository
    (``offline``), and ``version`` is a label: the versions of the data and of the
    definitions are commits. ``enabled=False`` (Feast's) keeps a view applied but out
    of service: training sets, lookups and a materialization naming it are refused, and
    a materialization of all views passes it over.
    """

    name: str
    entities: tuple[Entity, ...]
    schema: tuple[Field, ...]
    source: TableSource | PushSource
    ttl: timedelta | None
    online: bool
    aggregations: tuple[Aggregation, ...]
    tags: FrozenDict[str, str]
    description: str
    owner: str
    offline: bool
    org: str
    enable_validation: bool
    version: str
    enabled: bool

    def __init__(
        self,
        *,
        name: str,
        source: TableSource | PushSource,
        entities: Sequence[Entity] = (),
        schema: Sequence[Field] = (),
        ttl: timedelta | None = None,
        online: bool = True,
        aggregations: Sequence[Aggregation] = (),
        tags: Mapping[str, str] | None = None,
        description: str = "",
        owner: str = "",
        offline: bool = False,
        org: str = "",
        enable_validation: bool = False,
        version: str = "latest",
        sink_source: object = None,
        mode: object = None,
        enabled: bool = True,
    ) -> None:
        check_name(name, "FeatureView name")
        what = f"{type(self).__name__} {name!r}"
        if sink_source is not None:
            raise DefinitionError(
                f"{what}: sink_source (where Feast writes a derived view's output) is not "
                "supported: views read a TableSource or PushSource; compute derived features "
                "with on_demand_feature_view, or ingest them into a table"
            )
        if mode is not None:
            raise DefinitionError(
                f"{what}: mode={mode!r} asks for a transformation inside a feature view, "
                "which is not supported; leave mode out and transform with "
                "on_demand_feature_view"
            )
        ents = as_tuple(entities, f"{what} entities")
        check_instances(ents, (Entity,), f"{what} entities")
        check_unique((e.name for e in ents), f"{what} entities")
        join_keys = [k for e in ents for k in e.join_keys]
        if len(set(join_keys)) != len(join_keys):
            raise DefinitionError(
                f"{what}: its entities share a join key ({', '.join(join_keys)}); each join "
                "key may belong to one entity of a view"
            )
        fields = as_tuple(schema, f"{what} schema")
        check_instances(fields, (Field,), f"{what} schema")
        check_unique((f.name for f in fields), f"{what} schema")
        if not isinstance(source, TableSource | PushSource):
            raise DefinitionError(
                f"{what}: source must be a TableSource or PushSource, not {source!r}"
            )
        reserved = {source.timestamp_field: "the timestamp field"}
        if source.created_timestamp_column:
            reserved[source.created_timestamp_column] = "the created timestamp column"
        key_types = {k: e.value_type for e in ents for k in e.join_keys}
        for f in fields:
            if f.name in reserved:
                raise DefinitionError(
                    f"{what}: schema field {f.name!r} is {reserved[f.name]} of source "
                    f"{source.name!r}; timestamps are not features, remove it from the schema"
                )
            declared = key_types.get(f.name)
            if declared is not None and declared != f.dtype:
                raise DefinitionError(
                    f"{what}: field {f.name!r} is a join key of type {declared} in its entity "
                    f"but {f.dtype} in the schema; make them agree"
                )
        if isinstance(ttl, timedelta) and ttl == timedelta(0):
            ttl = None  # Feast's convention: a ttl of 0 means values never expire
        if ttl is not None:
            check_duration(ttl, f"{what} ttl")
            if ttl < _MIN_TTL:
                raise DefinitionError(
                    f"{what}: ttl {ttl} is under a millisecond, the finest expiry the online "
                    "store keeps; use at least timedelta(milliseconds=1), or None (or 0) for "
                    "values that never expire"
                )
        for flag, value in (
            ("online", online),
            ("offline", offline),
            ("enable_validation", enable_validation),
            ("enabled", enabled),
        ):
            if not isinstance(value, bool):
                raise DefinitionError(f"{what}: {flag} must be True or False, not {value!r}")
        aggs = as_tuple(aggregations, f"{what} aggregations")
        check_instances(aggs, (Aggregation,), f"{what} aggregations")
        check_unique((a.name for a in aggs), f"{what} aggregations")
        if aggs and not ents:
            raise DefinitionError(
                f"{what}: a windowed view (aggregations) needs entities to aggregate per "
                "entity; give it entities, or drop aggregations for one global row per time"
            )
        by_name = {f.name: f for f in fields}
        for agg in aggs:
            if agg.column in key_types:
                raise DefinitionError(
                    f"{what}: aggregation {agg.name!r} reads join key {agg.column!r}; "
                    "aggregate a feature column instead"
                )
            if agg.column not in by_name:
                raise DefinitionError(
                    f"{what}: aggregation {agg.name!r} reads column {agg.column!r}, which is "
                    f"not in the schema{close_matches(agg.column, by_name)}; add "
                    f"Field(name={agg.column!r}, dtype=...) to the schema"
                )
            if agg.name in key_types or agg.name in reserved:
                raise DefinitionError(
                    f"{what}: aggregation output {agg.name!r} is also a join key or timestamp "
                    "column; give the Aggregation another name"
                )
            agg.output_dtype(by_name[agg.column].dtype)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "entities", ents)
        object.__setattr__(self, "schema", fields)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "ttl", ttl)
        object.__setattr__(self, "online", online)
        object.__setattr__(self, "aggregations", aggs)
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))
        object.__setattr__(self, "description", check_text(description, f"{what} description"))
        object.__setattr__(self, "owner", check_text(owner, f"{what} owner"))
        object.__setattr__(self, "offline", offline)
        object.__setattr__(self, "org", check_text(org, f"{what} org"))
        object.__setattr__(self, "enable_validation", enable_validation)
        object.__setattr__(self, "version", check_text(version, f"{what} version"))
        object.__setattr__(self, "enabled", enabled)

    @property
    def join_keys(self) -> tuple[str, ...]:
        """The join keys of all entities, in order."""
        return tuple(k for e in self.entities for k in e.join_keys)

    @property
    def entity_columns(self) -> tuple[Field, ...]:
        """Join keys as Fields, typed by the schema or the entity's ``value_type``.

        A key whose type is given by neither is left out (its type comes from the data).
        """
        by_name = {f.name: f for f in self.schema}
        out: list[Field] = []
        for entity in self.entities:
            for key in entity.join_keys:
                if key in by_name:
                    out.append(by_name[key])
                elif entity.value_type is not None:
                    out.append(Field(name=key, dtype=entity.value_type))
        return tuple(out)

    @property
    def is_aggregation(self) -> bool:
        return bool(self.aggregations)

    @property
    def raw_columns(self) -> tuple[Field, ...]:
        """Schema fields that are not join keys: the columns read from the source."""
        keys = set(self.join_keys)
        return tuple(f for f in self.schema if f.name not in keys)

    @property
    def features(self) -> tuple[Field, ...]:
        """The view's features: aggregation outputs if it aggregates, else ``raw_columns``."""
        if not self.aggregations:
            return self.raw_columns
        by_name = {f.name: f for f in self.schema}
        return tuple(
            Field(name=a.name, dtype=a.output_dtype(by_name[a.column].dtype))
            for a in self.aggregations
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def max_window(self) -> timedelta | None:
        """The longest aggregation window (None for plain views)."""
        return max((a.time_window for a in self.aggregations), default=None)

    @property
    def projection(self) -> FeatureViewProjection:
        """All features of the view."""
        return FeatureViewProjection(name=self.name, features=self.features)

    def __getitem__(self, names: Sequence[str]) -> FeatureViewProjection:
        """Select features like Feast: ``view[["conv_rate", "acc_rate"]]``."""
        return project(self.name, self.features, names)
