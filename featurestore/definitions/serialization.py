"""Definitions as plain JSON-ready dicts, and back.

An object refers to the objects it uses by name (a view names its entities and
source), so a set of dicts is resolved as a whole by ``featurestore.registry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.durations import format_duration, parse_duration
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_logging import (
    FileLoggingDestination,
    LoggingConfig,
    RepositoryLoggingDestination,
)
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.field import Field
from featurestore.definitions.label_view import ConflictPolicy, LabelView
from featurestore.definitions.on_demand import OnDemandFeatureView
from featurestore.definitions.project import Project
from featurestore.definitions.sources import FileSource, PushSource, RequestSource, TableSource
from featurestore.types import parse_type

__all__ = [
    "aggregation_from_dict",
    "entity_from_dict",
    "field_from_dict",
    "logging_config_from_dict",
    "on_demand_extras",
    "on_demand_extras_from_dict",
    "project_from_dict",
    "source_from_dict",
    "to_dict",
    "view_class_and_extras",
]

Json = dict[str, Any]

_VIEW_DEFAULTS: dict[str, Any] = {
    "offline": False,
    "org": "",
    "enable_validation": False,
    "version": "latest",
    "enabled": True,
}
"""Feast's view arguments, written only when they differ from these defaults, so that
registries of views that do not use them keep their bytes and hash."""


def _view_extras(v: FeatureView) -> Json:
    out: Json = {k: getattr(v, k) for k, d in _VIEW_DEFAULTS.items() if getattr(v, k) != d}
    if isinstance(v, LabelView):
        out["label"] = {
            "labeler_field": v.labeler_field,
            "conflict_policy": v.conflict_policy.value,
            "reference_feature_view": v.reference_feature_view,
        }
    return out


def view_class_and_extras(d: Mapping[str, Any]) -> tuple[type[FeatureView], Json]:
    """The view class of a serialized view and its keyword arguments beyond the base ones."""
    extras: Json = {k: d[k] for k in _VIEW_DEFAULTS if k in d}
    label = d.get("label")
    if label is None:
        return FeatureView, extras
    extras.update(
        labeler_field=label["labeler_field"],
        conflict_policy=ConflictPolicy(label["conflict_policy"]),
        reference_feature_view=label["reference_feature_view"],
    )
    return LabelView, extras


def _logging_config(c: LoggingConfig) -> Json:
    if isinstance(c.destination, RepositoryLoggingDestination):
        return {"destination": {"kind": "repository"}, "sample_rate": c.sample_rate}
    return {
        "destination": {
            "path": c.destination.path,
            "partition_by": list(c.destination.partition_by),
        },
        "sample_rate": c.sample_rate,
    }


def logging_config_from_dict(d: Mapping[str, Any] | None) -> LoggingConfig | None:
    if d is None:
        return None
    dest = d["destination"]
    if dest.get("kind") == "repository":
        return LoggingConfig(RepositoryLoggingDestination(), sample_rate=d["sample_rate"])
    return LoggingConfig(
        destination=FileLoggingDestination(
            path=dest["path"], partition_by=dest["partition_by"] or None
        ),
        sample_rate=d["sample_rate"],
    )


_PROJECT_TIMES = ("created_timestamp", "last_updated_timestamp")


def project_from_dict(d: Mapping[str, Any]) -> Project:
    times = {k: datetime.fromisoformat(d[k]) for k in _PROJECT_TIMES if k in d}
    return Project(
        name=d["name"], description=d["description"], tags=d["tags"], owner=d["owner"], **times
    )


_FIELD_DEFAULTS: dict[str, Any] = {
    "vector_index": False,
    "vector_length": 0,
    "vector_search_metric": None,
}
"""Feast's vector arguments of a Field, written only when set (registries keep their hash)."""


_PUSH_DEFAULTS: dict[str, Any] = {"owner": ""}
_REQUEST_DEFAULTS: dict[str, Any] = {"owner": "", "timestamp_field": None}


_ON_DEMAND_DEFAULTS: dict[str, Any] = {
    "entities": (),
    "input_schema": (),
    "write_to_online_store": False,
    "singleton": False,
    "track_metrics": False,
    "version": "latest",
    "org": "",
    "enabled": True,
}
"""Feast's on-demand view arguments, written only when set (registries keep their hash)."""


def on_demand_extras(v: OnDemandFeatureView) -> Json:
    """The serialized Feast arguments of an on-demand view that differ from the defaults."""
    out = _non_default(v, _ON_DEMAND_DEFAULTS)
    if "entities" in out:
        out["entities"] = list(v.entities)
    if "input_schema" in out:
        out["input_schema"] = [_field(f) for f in v.input_schema]
    return out


def on_demand_extras_from_dict(d: Mapping[str, Any]) -> Json:
    """The keyword arguments of ``on_demand_extras`` read back."""
    out = _given(d, _ON_DEMAND_DEFAULTS)
    if "input_schema" in out:
        out["input_schema"] = [field_from_dict(f) for f in out["input_schema"]]
    return out


def _non_default(obj: object, defaults: Mapping[str, Any]) -> Json:
    """The attributes of ``obj`` named in ``defaults`` whose values differ from them."""
    return {k: getattr(obj, k) for k, d in defaults.items() if getattr(obj, k) != d}


def _given(d: Mapping[str, Any], defaults: Mapping[str, Any]) -> Json:
    """The keys of ``defaults`` present in the serialized ``d``."""
    return {k: d[k] for k in defaults if k in d}


def _field(f: Field) -> Json:
    return {
        "name": f.name,
        "dtype": str(f.dtype),
        "description": f.description,
        "tags": dict(f.tags),
        **_non_default(f, _FIELD_DEFAULTS),
    }


def field_from_dict(d: Mapping[str, Any]) -> Field:
    return Field(
        name=d["name"],
        dtype=parse_type(d["dtype"]),
        description=d["description"],
        tags=d["tags"],
        **_given(d, _FIELD_DEFAULTS),
    )


def _projection(p: FeatureViewProjection) -> Json:
    return {"kind": "view", "name": p.name, "features": list(p.feature_names)}


def aggregation_from_dict(d: Mapping[str, Any]) -> Aggregation:
    return Aggregation(
        column=d["column"],
        function=d["function"],
        time_window=parse_duration(d["time_window"]),
        name=d["name"],
    )


def entity_from_dict(d: Mapping[str, Any]) -> Entity:
    return Entity(
        name=d["name"],
        join_keys=d["join_keys"],
        value_type=None if d["value_type"] is None else parse_type(d["value_type"]),
        description=d["description"],
        tags=d["tags"],
        owner=d["owner"],
    )


def source_from_dict(
    d: Mapping[str, Any], tables: Mapping[str, TableSource]
) -> TableSource | PushSource | RequestSource:
    """A source; a push source's ``batch_source`` is looked up by name in ``tables``."""
    kind = d["kind"]
    common = {"name": d["name"], "description": d["description"], "tags": d["tags"]}
    if kind == "file":
        return FileSource(
            **common,
            path=d["path"],
            owner=d["owner"],
            timestamp_field=d["timestamp_field"],
            created_timestamp_column=d["created_timestamp_column"],
            table=d["table"],
            field_mapping=d["field_mapping"],
        )
    if kind == "table":
        return TableSource(
            **common,
            timestamp_field=d["timestamp_field"],
            created_timestamp_column=d["created_timestamp_column"],
            table=d["table"],
            field_mapping=d["field_mapping"],
        )
    if kind == "push":
        return PushSource(
            **common, batch_source=tables[d["batch_source"]], **_given(d, _PUSH_DEFAULTS)
        )
    if kind == "request":
        return RequestSource(
            **common,
            schema=[field_from_dict(f) for f in d["schema"]],
            **_given(d, _REQUEST_DEFAULTS),
        )
    raise ValueError(f"unknown source kind {kind!r}")


def to_dict(obj: object) -> Json:
    """The serialized form of one definition (references by name)."""
    if isinstance(obj, Entity):
        return {
            "name": obj.name,
            "join_keys": list(obj.join_keys),
            "value_type": None if obj.value_type is None else str(obj.value_type),
            "description": obj.description,
            "tags": dict(obj.tags),
            "owner": obj.owner,
        }
    if isinstance(obj, Project):
        return {
            "name": obj.name,
            "description": obj.description,
            "tags": dict(obj.tags),
            "owner": obj.owner,
            **{k: t.isoformat() for k in _PROJECT_TIMES if (t := getattr(obj, k)) is not None},
        }
    if isinstance(obj, FileSource):
        return {
            "kind": "file",
            "name": obj.name,
            "path": obj.path,
            "owner": obj.owner,
            "timestamp_field": obj.timestamp_field,
            "created_timestamp_column": obj.created_timestamp_column,
            "table": obj.table,
            "field_mapping": dict(obj.field_mapping),
            "description": obj.description,
            "tags": dict(obj.tags),
        }
    if isinstance(obj, TableSource):
        return {
            "kind": "table",
            "name": obj.name,
            "timestamp_field": obj.timestamp_field,
            "created_timestamp_column": obj.created_timestamp_column,
            "table": obj.table,
            "field_mapping": dict(obj.field_mapping),
            "description": obj.description,
            "tags": dict(obj.tags),
        }
    if isinstance(obj, PushSource):
        return {
            "kind": "push",
            "name": obj.name,
            "batch_source": obj.batch_source.name,
            "description": obj.description,
            "tags": dict(obj.tags),
            **_non_default(obj, _PUSH_DEFAULTS),
        }
    if isinstance(obj, RequestSource):
        return {
            "kind": "request",
            "name": obj.name,
            "schema": [_field(f) for f in obj.schema],
            "description": obj.description,
            "tags": dict(obj.tags),
            **_non_default(obj, _REQUEST_DEFAULTS),
        }
    if isinstance(obj, FeatureView):
        return {
            "name": obj.name,
            "entities": [e.name for e in obj.entities],
            "schema": [_field(f) for f in obj.schema],
            "source": obj.source.name,
            "ttl": None if obj.ttl is None else format_duration(obj.ttl),
            "online": obj.online,
            "aggregations": [
                {
                    "column": a.column,
                    "function": a.function,
                    "time_window": format_duration(a.time_window),
                    "name": a.name,
                }
                for a in obj.aggregations
            ],
            "tags": dict(obj.tags),
            "description": obj.description,
            "owner": obj.owner,
            **_view_extras(obj),
        }
    if isinstance(obj, OnDemandFeatureView):
        return {
            "name": obj.name,
            "sources": [
                _projection(s)
                if isinstance(s, FeatureViewProjection)
                else {"kind": "request", "name": s.name}
                for s in obj.sources
            ],
            "schema": [_field(f) for f in obj.schema],
            "mode": obj.mode,
            "udf_source": obj.udf_source,
            "description": obj.description,
            "tags": dict(obj.tags),
            "owner": obj.owner,
            **on_demand_extras(obj),
        }
    if isinstance(obj, FeatureService):
        out: Json = {
            "name": obj.name,
            "features": [_projection(p) for p in obj.features],
            "description": obj.description,
            "tags": dict(obj.tags),
            "owner": obj.owner,
        }
        if obj.logging_config is not None:
            out["logging_config"] = _logging_config(obj.logging_config)
        if obj.precompute_online:
            out["precompute_online"] = True
        return out
    raise TypeError(f"not a definition: {obj!r}")
