"""On-demand feature views: a Python function of request data and stored features.

The same function runs offline (on the joined training frame) and online (on the
looked-up values). It is stored in the registry as source code, never pickled (see
``featurestore.definitions.udf_source`` for what it may use from its module).

A view read from a registry holds only that source: nothing of it runs until the view
is computed (``udf``, ``transform``), and then only if the source is trusted: it was
made in this process from a function this process imported, or the ``trust`` check the
registry was loaded with accepts it (``featurestore.trust``). Otherwise computing it
raises ``UntrustedCodeError``, saying how to trust it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from featurestore.definitions._checks import (
    FrozenDict,
    as_tuple,
    check_instances,
    check_name,
    check_tags,
    check_text,
    check_unique,
)
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection, project
from featurestore.definitions.field import Field
from featurestore.definitions.sources import RequestSource
from featurestore.definitions.udf_source import (
    function_source,
    is_local_source,
    load_function,
    source_hash,
)
from featurestore.errors import DefinitionError, UntrustedCodeError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OnDemandFeatureView", "TrustCheck", "on_demand_feature_view"]

Mode = Literal["pandas", "python"]
_MODES: Final = ("pandas", "python")


TrustCheck = Callable[[str], bool]
"""Says whether a stored source (its text) may run here."""


@dataclass(frozen=True, init=False)
class OnDemandFeatureView:
    """Features computed by ``udf`` from ``sources``; build it with ``@on_demand_feature_view``.

    The function sees one column per input: each selected feature of a source view
    under its feature name, and each request field under its name. ``mode="pandas"``:
    it takes and returns a ``pandas.DataFrame``; ``mode="python"``: it takes and
    returns a ``dict`` of column name -> list of values. A source may be another
    on-demand view (or a projection of one): its outputs are computed first.

    Built without ``udf`` (as a registry load does), the view holds only
    ``udf_source``; ``trust`` decides whether that source may run when the view is
    computed, and ``origin`` (the ref it was read at) goes into the refusal.

    Feast's arguments: ``singleton=True`` (``mode="python"`` only) calls the function
    once per row with a dict of single values, returning a dict of single values.
    ``write_to_online_store`` is kept: features are always computed when read, with
    the same function on the same stored inputs, so they equal what a write-time
    transform would have stored. ``entities`` (kept by name), ``input_schema``,
    ``track_metrics``, ``version`` and ``org`` are kept in the registry.
    ``enabled=False`` keeps the view applied but out of service (requests for its
    features are refused). ``aggregations`` are refused: aggregate in a
    ``FeatureView``.
    """

    name: str
    sources: tuple[FeatureViewProjection | RequestSource, ...]
    schema: tuple[Field, ...]
    mode: Mode
    udf_source: str
    description: str = ""
    tags: FrozenDict[str, str] = field(default_factory=FrozenDict)
    owner: str = ""
    entities: tuple[str, ...] = ()
    input_schema: tuple[Field, ...] = ()
    write_to_online_store: bool = False
    singleton: bool = False
    track_metrics: bool = False
    version: str = "latest"
    org: str = ""
    enabled: bool = True
    _function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    _trust: TrustCheck | None = field(default=None, compare=False, repr=False)
    _origin: str | None = field(default=None, compare=False, repr=False)

    def __init__(
        self,
        *,
        name: str,
        sources: Sequence[Source],
        schema: Sequence[Field],
        udf_source: str,
        udf: Callable[..., Any] | None = None,
        mode: Mode = "pandas",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        trust: TrustCheck | None = None,
        origin: str | None = None,
        entities: Sequence[Entity | str] | None = None,
        input_schema: Sequence[Field] | None = None,
        write_to_online_store: bool = False,
        singleton: bool = False,
        track_metrics: bool = False,
        aggregations: Sequence[object] | None = None,
        version: str = "latest",
        org: str = "",
        enabled: bool = True,
    ) -> None:
        check_name(name, "on-demand view name")
        what = f"on-demand view {name!r}"
        if aggregations:
            raise DefinitionError(
                f"{what}: aggregations in an on-demand view are not supported; aggregate "
                "in a FeatureView (aggregations=[...]) and read it from this view"
            )
        for flag, value in (
            ("write_to_online_store", write_to_online_store),
            ("singleton", singleton),
            ("track_metrics", track_metrics),
            ("enabled", enabled),
        ):
            if not isinstance(value, bool):
                raise DefinitionError(f"{what}: {flag} must be True or False, not {value!r}")
        if singleton and mode != "python":
            raise DefinitionError(
                f"{what}: singleton=True needs mode='python' (the function takes one row's "
                "values as a dict); drop singleton or use mode='python'"
            )
        ents = as_tuple(entities or (), f"{what} entities")
        check_instances(ents, (Entity, str), f"{what} entities")
        entity_names = tuple(e.name if isinstance(e, Entity) else e for e in ents)
        check_unique(entity_names, f"{what} entities")
        inputs_declared = as_tuple(input_schema or (), f"{what} input_schema")
        check_instances(inputs_declared, (Field,), f"{what} input_schema")
        raw = as_tuple(sources, f"{what} sources")
        if not raw:
            raise DefinitionError(f"{what} has no sources: list feature views or request sources")
        check_instances(
            raw,
            (FeatureView, FeatureViewProjection, RequestSource, OnDemandFeatureView),
            f"{what} sources",
        )
        srcs = tuple(
            s.projection if isinstance(s, FeatureView | OnDemandFeatureView) else s for s in raw
        )
        if any(s.name == name for s in srcs):
            raise DefinitionError(
                f"{what} reads itself; an on-demand view cannot be its own source"
            )
        check_unique((s.name for s in srcs), f"{what} sources")
        inputs = [
            f.name for s in srcs for f in (s.schema if isinstance(s, RequestSource) else s.features)
        ]
        if len(set(inputs)) != len(inputs):
            dup = sorted({n for n in inputs if inputs.count(n) > 1})
            raise DefinitionError(
                f"{what}: input name(s) {', '.join(dup)} come from more than one source; "
                "select distinct features with view[[...]]"
            )
        fields = as_tuple(schema, f"{what} schema")
        if not fields:
            raise DefinitionError(f"{what} has an empty schema: list the Fields it outputs")
        check_instances(fields, (Field,), f"{what} schema")
        check_unique((f.name for f in fields), f"{what} schema")
        if mode not in _MODES:
            raise DefinitionError(f"{what}: mode must be 'pandas' or 'python', not {mode!r}")
        if udf is not None and not callable(udf):
            raise DefinitionError(f"{what}: udf must be a function, not {udf!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "sources", srcs)
        object.__setattr__(self, "schema", fields)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "udf_source", check_text(udf_source, f"{what} udf_source"))
        object.__setattr__(self, "description", check_text(description, f"{what} description"))
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))
        object.__setattr__(self, "owner", check_text(owner, f"{what} owner"))
        object.__setattr__(self, "entities", entity_names)
        object.__setattr__(self, "input_schema", inputs_declared)
        object.__setattr__(self, "write_to_online_store", write_to_online_store)
        object.__setattr__(self, "singleton", singleton)
        object.__setattr__(self, "track_metrics", track_metrics)
        object.__setattr__(self, "version", check_text(version, f"{what} version"))
        object.__setattr__(self, "org", check_text(org, f"{what} org"))
        object.__setattr__(self, "enabled", enabled)
        object.__setattr__(self, "_function", udf)
        object.__setattr__(self, "_trust", trust)
        object.__setattr__(self, "_origin", origin)

    @property
    def udf_sha256(self) -> str:
        """The sha256 of ``udf_source``: what a trust list records."""
        return source_hash(self.udf_source)

    @property
    def is_trusted(self) -> bool:
        """Whether computing this view may run its function (see the module docstring)."""
        if self._function is not None or is_local_source(self.udf_source):
            return True
        return self._trust is not None and self._trust(self.udf_source)

    @property
    def udf(self) -> Callable[..., Any]:
        """The function; a stored one is compiled on first use, if trusted.

        UntrustedCodeError if its source is not trusted here: nothing of it has run.
        """
        fn = self._function
        if fn is not None:
            return fn
        if not self.is_trusted:
            at = f" --ref {self._origin}" if self._origin else ""
            ref = f", ref={self._origin!r}" if self._origin else ""
            raise UntrustedCodeError(
                f"on-demand view {self.name!r}: its stored code (sha256 {self.udf_sha256}) is "
                "not trusted in this project, so it was not run. Review the source (`featurestore "
                f"trust {self.name}{at}` prints it), then trust it with `featurestore trust "
                f"{self.name}{at} --yes` or `store.trust_code({self.name!r}{ref})`"
            )
        fn = load_function(self.udf_source, self.name)
        object.__setattr__(self, "_function", fn)
        return fn

    @property
    def features(self) -> tuple[Field, ...]:
        return self.schema

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    @property
    def source_projections(self) -> tuple[FeatureViewProjection, ...]:
        """The feature views it reads, with the features it reads of each."""
        return tuple(s for s in self.sources if isinstance(s, FeatureViewProjection))

    @property
    def request_sources(self) -> tuple[RequestSource, ...]:
        return tuple(s for s in self.sources if isinstance(s, RequestSource))

    @property
    def input_refs(self) -> tuple[tuple[str, str], ...]:
        """``(view, feature)`` for every stored feature it reads."""
        return tuple((p.name, f.name) for p in self.source_projections for f in p.features)

    @property
    def request_fields(self) -> tuple[Field, ...]:
        return tuple(f for s in self.request_sources for f in s.schema)

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The column names the function receives."""
        return tuple(f for _, f in self.input_refs) + tuple(f.name for f in self.request_fields)

    @property
    def projection(self) -> FeatureViewProjection:
        return FeatureViewProjection(name=self.name, features=self.schema)

    def __getitem__(self, names: Sequence[str]) -> FeatureViewProjection:
        return project(self.name, self.schema, names)

    def _check_inputs(self, columns: Iterable[str]) -> None:
        missing = [c for c in self.input_columns if c not in set(columns)]
        if missing:
            raise ValidationError(
                f"on-demand view {self.name!r} needs input column(s) {', '.join(missing)}; "
                "pass the request fields and retrieve the features it reads"
            )

    def _check_outputs(self, columns: Iterable[str]) -> None:
        missing = [f.name for f in self.schema if f.name not in set(columns)]
        if missing:
            raise DefinitionError(
                f"on-demand view {self.name!r}: its function returned no column(s) "
                f"{', '.join(missing)} that its schema declares; return every schema column"
            )

    def _call_python(self, columns: dict[str, list[Any]]) -> object:
        """The python-mode function on columns; with ``singleton`` once per row."""
        if not self.singleton:
            return self.udf(columns)
        n = len(next(iter(columns.values()))) if columns else 0
        out: dict[str, list[Any]] = {f.name: [] for f in self.schema}
        for i in range(n):
            row = self.udf({c: values[i] for c, values in columns.items()})
            if not isinstance(row, Mapping):
                raise DefinitionError(
                    f"on-demand view {self.name!r} (singleton=True) must return a dict of "
                    f"values for each row, not {type(row).__name__}"
                )
            self._check_outputs(row.keys())
            for name, values in out.items():
                values.append(row[name])
        return out

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Run the function on ``df`` (one row per input row); the schema's columns, in order."""
        import pandas as pd

        self._check_inputs(df.columns)
        if self.mode == "pandas":
            out = self.udf(df)
            if not isinstance(out, pd.DataFrame):
                raise DefinitionError(
                    f"on-demand view {self.name!r} (mode='pandas') must return a DataFrame, "
                    f"not {type(out).__name__}"
                )
        else:
            result = self._call_python({c: df[c].tolist() for c in self.input_columns})
            if not isinstance(result, Mapping):
                raise DefinitionError(
                    f"on-demand view {self.name!r} (mode='python') must return a dict of "
                    f"lists, not {type(result).__name__}"
                )
            out = pd.DataFrame(dict(result), index=df.index)
        self._check_outputs(out.columns)
        if len(out) != len(df):
            raise DefinitionError(
                f"on-demand view {self.name!r}: its function returned {len(out)} rows for "
                f"{len(df)} input rows; return one row per input row"
            )
        out = out[list(self.feature_names)]
        out.index = df.index
        return out

    def transform_dict(self, inputs: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Run the function on columns given as lists (the online path)."""
        import pandas as pd

        self._check_inputs(inputs.keys())
        if self.mode == "pandas":
            frame = pd.DataFrame({c: list(inputs[c]) for c in self.input_columns})
            out = self.transform(frame)
            return {c: out[c].tolist() for c in out.columns}
        result = self._call_python({c: list(inputs[c]) for c in self.input_columns})
        if not isinstance(result, Mapping):
            raise DefinitionError(
                f"on-demand view {self.name!r} (mode='python') must return a dict of lists, "
                f"not {type(result).__name__}"
            )
        self._check_outputs(result.keys())
        return {f.name: list(result[f.name]) for f in self.schema}


Source = FeatureView | FeatureViewProjection | RequestSource | OnDemandFeatureView


def on_demand_feature_view(
    *,
    sources: Sequence[Source],
    schema: Sequence[Field],
    mode: Mode = "pandas",
    name: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    owner: str = "",
    entities: Sequence[Entity | str] | None = None,
    input_schema: Sequence[Field] | None = None,
    aggregations: Sequence[object] | None = None,
    org: str = "",
    write_to_online_store: bool = False,
    singleton: bool = False,
    track_metrics: bool = False,
    explode: bool = False,
    version: str = "latest",
) -> Callable[[Callable[..., Any]], OnDemandFeatureView]:
    """Turn a function into an ``OnDemandFeatureView`` named after it (or ``name``).

    Feast's arguments mean what ``OnDemandFeatureView`` says; ``explode=True`` (rows
    split into several output rows) is refused: a view returns one row per input row.
    """
    if explode:
        raise DefinitionError(
            f"on-demand view {name or '(unnamed)'}: explode=True is not supported; an "
            "on-demand view returns one row per input row"
        )
    if mode not in _MODES:
        raise DefinitionError(
            f"on-demand view {name or '(unnamed)'}: mode must be 'pandas' or 'python', not {mode!r}"
        )

    def decorate(fn: Callable[..., Any]) -> OnDemandFeatureView:
        view_name = name if name is not None else getattr(fn, "__name__", "")
        return OnDemandFeatureView(
            name=view_name,
            sources=sources,
            schema=schema,
            udf=fn,
            udf_source=function_source(fn, view_name),
            mode=mode,
            description=description or (inspect.getdoc(fn) or ""),
            tags=tags,
            owner=owner,
            entities=entities,
            input_schema=input_schema,
            write_to_online_store=write_to_online_store,
            singleton=singleton,
            track_metrics=track_metrics,
            aggregations=aggregations,
            version=version,
            org=org,
        )

    return decorate
