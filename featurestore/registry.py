"""The registry: an immutable snapshot of a project's definitions, versioned with its data.

The registry is stored as one canonical JSON object, ``_featurestore/registry.json``,
in the repository. ``stage_registry`` stages it on a branch and the caller commits,
so a commit carries data and definitions together and any ref restores both.

A ``Project`` given with the definitions (Feast's) is kept under ``project``, written
only when there is one.

Canonical JSON: keys sorted, no spaces, UTF-8, every object list sorted by name;
``Registry.hash`` is the sha256 of it. On-demand functions are stored as their source
code, nothing is pickled, and loading runs none of it: a loaded view compiles its
source when it is first computed, and only if the ``trust`` check the registry was
loaded with accepts it (see ``featurestore.trust``). ``Registry(objects)`` (what
``apply`` and ``plan`` build) refuses a source with module-level statements other than
imports, ``def`` and literal constants. ``plan`` and ``diff_definitions`` show changed
and added on-demand functions as unified source diffs, so a review sees the code.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Literal

from featurestore.definitions._checks import close_matches
from featurestore.definitions.durations import parse_duration
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.field import Field
from featurestore.definitions.on_demand import OnDemandFeatureView, TrustCheck
from featurestore.definitions.project import Project
from featurestore.definitions.serialization import (
    aggregation_from_dict,
    entity_from_dict,
    field_from_dict,
    logging_config_from_dict,
    on_demand_extras_from_dict,
    project_from_dict,
    source_from_dict,
    to_dict,
    view_class_and_extras,
)
from featurestore.definitions.sources import DataSource, PushSource, RequestSource, TableSource
from featurestore.definitions.udf_source import check_source
from featurestore.errors import DefinitionError, NotFoundError
from featurestore.plans import Plan, PlanEntry, check_breaking, plan
from featurestore.plans import _diff as _diff
from featurestore.plans import source_diff as source_diff

if TYPE_CHECKING:
    import repos

__all__ = [
    "REGISTRY_PATH",
    "Plan",
    "PlanEntry",
    "Registry",
    "check_breaking",
    "diff_definitions",
    "load_registry",
    "merge_partial",
    "plan",
    "stage_registry",
]

REGISTRY_PATH: Final = "_featurestore/registry.json"
FORMAT_VERSION: Final = 1

Json = dict[str, Any]
Section = Literal[
    "entities", "data_sources", "feature_views", "on_demand_feature_views", "feature_services"
]
SECTIONS: Final[tuple[Section, ...]] = (
    "entities",
    "data_sources",
    "feature_views",
    "on_demand_feature_views",
    "feature_services",
)
KIND_NAMES: Final[dict[Section, str]] = {
    "entities": "entity",
    "data_sources": "data source",
    "feature_views": "feature view",
    "on_demand_feature_views": "on-demand feature view",
    "feature_services": "feature service",
}
Definition = Entity | DataSource | FeatureView | OnDemandFeatureView | FeatureService


def _section_of(obj: object) -> Section:
    if isinstance(obj, Entity):
        return "entities"
    if isinstance(obj, TableSource | PushSource | RequestSource):
        return "data_sources"
    if isinstance(obj, FeatureView):
        return "feature_views"
    if isinstance(obj, OnDemandFeatureView):
        return "on_demand_feature_views"
    if isinstance(obj, FeatureService):
        return "feature_services"
    raise DefinitionError(
        f"cannot apply {obj!r}: only Entity, TableSource, PushSource, RequestSource, "
        "FeatureView, on-demand views and FeatureService are definitions"
    )


def _embedded(obj: object) -> list[object]:
    """The definitions an object carries inside it (registered along with it)."""
    if isinstance(obj, FeatureView):
        return [*obj.entities, obj.source, *_embedded(obj.source)]
    if isinstance(obj, PushSource):
        return [obj.batch_source]
    if isinstance(obj, OnDemandFeatureView):
        return list(obj.request_sources)
    return []


def _key(obj: object) -> tuple[str, str] | None:
    """(section, name) of a definition; views and on-demand views share one namespace."""
    try:
        section: str = _section_of(obj)
    except DefinitionError:
        return None  # a Project, or something ``collect`` refuses with its own message
    if section == "on_demand_feature_views":
        section = "feature_views"
    return section, str(getattr(obj, "name", ""))


def _rebind(obj: object, given: Mapping[tuple[str, str], object]) -> object:
    """``obj`` with the definitions it embeds replaced by the given ones of their names."""

    def fresh(inner: Any) -> Any:
        key = _key(inner)
        return given[key] if key is not None and key in given else _rebind(inner, given)

    if isinstance(obj, FeatureView):
        entities = tuple(fresh(e) for e in obj.entities)
        source = fresh(obj.source)
        if entities != obj.entities or source is not obj.source:
            return dataclasses.replace(obj, entities=entities, source=source)
    elif isinstance(obj, PushSource):
        batch = fresh(obj.batch_source)
        if batch is not obj.batch_source:
            return dataclasses.replace(obj, batch_source=batch)
    elif isinstance(obj, OnDemandFeatureView):
        sources = tuple(fresh(s) if isinstance(s, RequestSource) else s for s in obj.sources)
        if sources != obj.sources:
            out = copy.copy(obj)
            object.__setattr__(out, "sources", sources)
            return out
    return obj


def merge_partial(stored: Iterable[object], objects: Iterable[object]) -> list[object]:
    """The definitions of a partial ``apply`` (Feast's): the stored ones, less those named
    like a given one (or one a given object embeds), then the given ones.

    The given objects win: a stored view that embeds a source, entity or request source
    given anew (a view re-applied with a changed source, say) reads the given one.
    """
    items = list(objects)
    given: dict[tuple[str, str], object] = {}
    stack = list(items)
    while stack:
        obj = stack.pop()
        key = _key(obj)
        if key is None:
            continue
        given.setdefault(key, obj)
        stack.extend(_embedded(obj))
    # the objects given directly win over ones embedded in other given objects
    for obj in items:
        key = _key(obj)
        if key is not None:
            given[key] = obj
    kept = [_rebind(o, given) for o in stored if _key(o) not in given]
    return kept + items


def collect(objects: Iterable[object]) -> dict[Section, dict[str, Json]]:
    """Serialized definitions by section and name, with the objects they embed.

    The same name given twice with different definitions is a DefinitionError;
    feature views and on-demand views share one namespace (refs are ``view:feature``).
    """
    out: dict[Section, dict[str, Json]] = {s: {} for s in SECTIONS}
    stack = list(objects)
    stack.reverse()
    while stack:
        obj = stack.pop()
        section = _section_of(obj)
        if isinstance(obj, OnDemandFeatureView):
            check_source(obj.udf_source, obj.name)
        data = to_dict(obj)
        name = data["name"]
        seen = out[section].get(name)
        if seen is not None and seen != data:
            raise DefinitionError(
                f"two different {KIND_NAMES[section]} definitions are named {name!r}: "
                "rename one, or use the same object everywhere"
            )
        other: Section = (
            "on_demand_feature_views" if section == "feature_views" else "feature_views"
        )
        if section in ("feature_views", "on_demand_feature_views") and name in out[other]:
            raise DefinitionError(
                f"a feature view and an on-demand feature view are both named {name!r}: "
                "views share one namespace, rename one"
            )
        out[section][name] = data
        stack.extend(reversed(_embedded(obj)))
    return out


def _need(table: Mapping[str, Any], name: str, what: str, owner: str) -> Any:
    if name not in table:
        raise DefinitionError(
            f"{owner} uses {what} {name!r}, which is not defined{close_matches(name, table)}; "
            "apply it too"
        )
    return table[name]


def _resolve_projection(
    data: Mapping[str, Any], views: Mapping[str, FeatureView | OnDemandFeatureView], owner: str
) -> FeatureViewProjection:
    view = _need(views, data["name"], "view", owner)
    by_name = {f.name: f for f in view.features}
    fields: list[Field] = []
    for feature in data["features"]:
        if feature not in by_name:
            raise DefinitionError(
                f"{owner} uses feature {data['name']}:{feature}, but view {data['name']!r} has "
                f"no feature {feature!r}{close_matches(feature, by_name)}"
            )
        fields.append(by_name[feature])
    return FeatureViewProjection(name=data["name"], features=fields)


@dataclass(frozen=True, init=False)
class Registry:
    """All definitions of a project at one point; build with ``Registry(objects)``.

    Objects a definition embeds (a view's entities and source) are registered with
    it. References are checked: a view's entities and source, a push source's table,
    an on-demand view's source views and a service's features must all exist.
    """

    entities: tuple[Entity, ...]
    data_sources: tuple[DataSource, ...]
    feature_views: tuple[FeatureView, ...]
    on_demand_feature_views: tuple[OnDemandFeatureView, ...]
    feature_services: tuple[FeatureService, ...]

    project: Project | None
    """The ``Project`` given with the definitions (Feast's), if any."""

    def __init__(self, objects: Iterable[object] = ()) -> None:
        items = list(objects)
        projects = [o for o in items if isinstance(o, Project)]
        if len({json.dumps(to_dict(p), sort_keys=True) for p in projects}) > 1:
            raise DefinitionError(
                f"the definitions hold {len(projects)} different Project objects "
                f"({', '.join(sorted({p.name for p in projects}))}); a project has one, "
                "keep one"
            )
        self._load(collect(o for o in items if not isinstance(o, Project)))
        object.__setattr__(self, "project", projects[0] if projects else None)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, trust: TrustCheck | None = None, origin: str | None = None
    ) -> Registry:
        """The registry of a parsed ``registry.json``; DefinitionError if malformed.

        Runs no stored code: on-demand views keep their source, which runs when the
        view is computed and ``trust`` (or this process's own code) accepts it;
        ``origin`` names the ref in the refusal.
        """
        if not isinstance(data, Mapping) or data.get("format_version") != FORMAT_VERSION:
            raise DefinitionError(
                f"registry format_version must be {FORMAT_VERSION}; this registry was written "
                "by an incompatible featurestore version"
            )
        sections: dict[Section, dict[str, Json]] = {}
        for section in SECTIONS:
            items = data.get(section, [])
            sections[section] = {d["name"]: d for d in items}
        registry = cls.__new__(cls)
        registry._load(sections, trust, origin)
        project = data.get("project")
        object.__setattr__(
            registry, "project", None if project is None else project_from_dict(project)
        )
        return registry

    @classmethod
    def from_json(
        cls, raw: bytes | str, *, trust: TrustCheck | None = None, origin: str | None = None
    ) -> Registry:
        """The registry of a ``registry.json`` text; DefinitionError if malformed."""
        try:
            data = json.loads(raw)
            return cls.from_dict(data, trust=trust, origin=origin)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            if isinstance(e, DefinitionError):
                raise
            raise DefinitionError(
                f"the registry JSON is malformed ({e!r}); re-apply the definitions"
            ) from e
        except (RecursionError, MemoryError) as e:
            raise DefinitionError(
                f"the registry JSON is nested too deeply to read ({type(e).__name__}); it was "
                "not written by featurestore: re-apply the definitions"
            ) from e

    def _load(
        self,
        s: Mapping[Section, Mapping[str, Json]],
        trust: TrustCheck | None = None,
        origin: str | None = None,
    ) -> None:
        def ordered(section: Section) -> list[Json]:
            return [s[section][k] for k in sorted(s[section])]

        entities = {d["name"]: entity_from_dict(d) for d in ordered("entities")}
        source_dicts = ordered("data_sources")
        tables = {
            d["name"]: source_from_dict(d, {})
            for d in source_dicts
            if d["kind"] in ("table", "file")
        }
        table_sources: dict[str, TableSource] = {
            k: v for k, v in tables.items() if isinstance(v, TableSource)
        }
        sources: dict[str, DataSource] = {}
        for d in source_dicts:
            if d["kind"] == "push":
                _need(table_sources, d["batch_source"], "batch_source", f"PushSource {d['name']!r}")
            sources[d["name"]] = tables.get(d["name"]) or source_from_dict(d, table_sources)
        fvs: dict[str, FeatureView] = {}
        for d in ordered("feature_views"):
            owner = f"FeatureView {d['name']!r}"
            source = _need(sources, d["source"], "source", owner)
            view_class, extras = view_class_and_extras(d)
            fvs[d["name"]] = view_class(
                name=d["name"],
                entities=[_need(entities, e, "entity", owner) for e in d["entities"]],
                schema=[field_from_dict(f) for f in d["schema"]],
                source=source,
                ttl=None if d["ttl"] is None else parse_duration(d["ttl"]),
                online=d["online"],
                aggregations=[aggregation_from_dict(a) for a in d["aggregations"]],
                tags=d["tags"],
                description=d["description"],
                owner=d["owner"],
                **extras,
            )
        built: dict[str, FeatureView | OnDemandFeatureView] = dict(fvs)
        for d in _dependency_order(ordered("on_demand_feature_views")):
            owner = f"on-demand view {d['name']!r}"
            odfv_sources: list[FeatureViewProjection | RequestSource] = []
            for src in d["sources"]:
                if src["kind"] == "request":
                    odfv_sources.append(_need(sources, src["name"], "request source", owner))
                else:
                    odfv_sources.append(_resolve_projection(src, built, owner))
            built[d["name"]] = OnDemandFeatureView(
                name=d["name"],
                sources=odfv_sources,
                schema=[field_from_dict(f) for f in d["schema"]],
                udf_source=d["udf_source"],
                mode=d["mode"],
                description=d["description"],
                tags=d["tags"],
                owner=d["owner"],
                trust=trust,
                origin=origin,
                **on_demand_extras_from_dict(d),
            )
        odfvs = {k: v for k, v in sorted(built.items()) if isinstance(v, OnDemandFeatureView)}
        views: dict[str, FeatureView | OnDemandFeatureView] = {**fvs, **odfvs}
        services: dict[str, FeatureService] = {}
        for d in ordered("feature_services"):
            owner = f"FeatureService {d['name']!r}"
            services[d["name"]] = FeatureService(
                name=d["name"],
                features=[_resolve_projection(p, views, owner) for p in d["features"]],
                description=d["description"],
                tags=d["tags"],
                owner=d["owner"],
                logging_config=logging_config_from_dict(d.get("logging_config")),
                precompute_online=d.get("precompute_online", False),
            )
        object.__setattr__(self, "entities", tuple(entities.values()))
        object.__setattr__(self, "data_sources", tuple(sources.values()))
        object.__setattr__(self, "feature_views", tuple(fvs.values()))
        object.__setattr__(self, "on_demand_feature_views", tuple(odfvs.values()))
        object.__setattr__(self, "feature_services", tuple(services.values()))

    # --- lookups -----------------------------------------------------------------

    @cached_property
    def entities_by_name(self) -> dict[str, Entity]:
        return {e.name: e for e in self.entities}

    @cached_property
    def data_sources_by_name(self) -> dict[str, DataSource]:
        return {s.name: s for s in self.data_sources}

    @cached_property
    def feature_views_by_name(self) -> dict[str, FeatureView]:
        return {v.name: v for v in self.feature_views}

    @cached_property
    def on_demand_feature_views_by_name(self) -> dict[str, OnDemandFeatureView]:
        return {v.name: v for v in self.on_demand_feature_views}

    @cached_property
    def views_by_name(self) -> dict[str, FeatureView | OnDemandFeatureView]:
        """Feature views and on-demand views (one namespace)."""
        return {**self.feature_views_by_name, **self.on_demand_feature_views_by_name}

    @cached_property
    def feature_services_by_name(self) -> dict[str, FeatureService]:
        return {s.name: s for s in self.feature_services}

    @property
    def objects(self) -> tuple[Definition, ...]:
        """Every definition, section by section, each sorted by name."""
        return (
            *self.entities,
            *self.data_sources,
            *self.feature_views,
            *self.on_demand_feature_views,
            *self.feature_services,
        )

    @property
    def is_empty(self) -> bool:
        return not self.objects

    @staticmethod
    def _get(table: Mapping[str, Any], name: str, what: str) -> Any:
        if name not in table:
            raise NotFoundError(
                f"no {what} named {name!r} is applied{close_matches(name, table)}; "
                f"applied: {', '.join(sorted(table)) or '(none)'}"
            )
        return table[name]

    def get_entity(self, name: str) -> Entity:
        return self._get(self.entities_by_name, name, "entity")  # type: ignore[no-any-return]

    def get_data_source(self, name: str) -> DataSource:
        return self._get(self.data_sources_by_name, name, "data source")  # type: ignore[no-any-return]

    def get_feature_view(self, name: str) -> FeatureView:
        return self._get(self.feature_views_by_name, name, "feature view")  # type: ignore[no-any-return]

    def get_on_demand_feature_view(self, name: str) -> OnDemandFeatureView:
        return self._get(  # type: ignore[no-any-return]
            self.on_demand_feature_views_by_name, name, "on-demand feature view"
        )

    def get_view(self, name: str) -> FeatureView | OnDemandFeatureView:
        """A feature view or on-demand view by name."""
        return self._get(self.views_by_name, name, "feature view")  # type: ignore[no-any-return]

    def get_feature_service(self, name: str) -> FeatureService:
        return self._get(self.feature_services_by_name, name, "feature service")  # type: ignore[no-any-return]

    def feature_views_of_source(self, source_name: str) -> tuple[FeatureView, ...]:
        """The feature views fed by a table or push source: those reading its table.

        A push source feeds the views that read it and those that read its batch table.
        """
        source = self.get_data_source(source_name)
        if isinstance(source, RequestSource):
            return ()
        table = source.batch_source.name
        return tuple(v for v in self.feature_views if v.source.batch_source.name == table)

    # --- serialization -----------------------------------------------------------

    def to_dict(self) -> Json:
        out: Json = {"format_version": FORMAT_VERSION}
        for section in SECTIONS:
            out[section] = [to_dict(o) for o in getattr(self, section)]
        if self.project is not None:
            out["project"] = to_dict(self.project)
        return out

    def to_json(self) -> bytes:
        """Canonical JSON: equal registries give equal bytes."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    @cached_property
    def hash(self) -> str:
        """sha256 hex of the canonical JSON."""
        return hashlib.sha256(self.to_json()).hexdigest()

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(getattr(self, s))} {s}" for s in SECTIONS)
        return f"Registry({counts})"


def _dependency_order(items: list[Json]) -> list[Json]:
    """On-demand view dicts ordered so that each comes after the on-demand views it reads.

    A view reading one that is not defined is left to the resolver to report; views
    that read each other in a cycle are a DefinitionError.
    """
    pending = {d["name"]: d for d in items}
    out: list[Json] = []
    while pending:
        ready = [
            name
            for name, d in pending.items()
            if not any(src["kind"] != "request" and src["name"] in pending for src in d["sources"])
        ]
        if not ready:
            cycle = ", ".join(sorted(pending))
            raise DefinitionError(
                f"on-demand views {cycle} read each other in a cycle; an on-demand view may "
                "read another only if that one does not read it back"
            )
        for name in ready:
            out.append(pending.pop(name))
    return out


# --- storage in the repository ---------------------------------------------------


def load_registry(ref: repos.Reference, trust: TrustCheck | None = None) -> Registry:
    """The registry stored at ``ref`` (an empty one when none was applied there).

    Runs no stored code; ``trust`` decides later whether an on-demand view may run.
    """
    import repos as _repos

    try:
        obj = ref.object(REGISTRY_PATH)
        if not obj.exists():
            return Registry()
        raw = obj.read()
    except _repos.NotFoundError as e:
        raise NotFoundError(f"cannot read definitions at ref {ref.id!r}: {e}") from e
    return Registry.from_json(raw, trust=trust, origin=ref.id)


def diff_definitions(repository: repos.Repository, left: str, right: str | None = None) -> Plan:
    """How the definitions change from ``left`` to ``right``, with source diffs of code.

    ``right=None``: the uncommitted definitions of branch ``left`` against its head.
    Loads both registries without running any stored code.
    """
    import repos as _repos

    try:
        if right is None:
            old = load_registry(repository.ref(repository.ref(left).resolve()))
            new = load_registry(repository.ref(left))
        else:
            old = load_registry(repository.ref(left))
            new = load_registry(repository.ref(right))
    except _repos.ReposError as e:
        raise NotFoundError(f"cannot compare the definitions of {left!r} and {right!r}: {e}") from e
    return dataclasses.replace(plan(old, new), comparison=True)


def stage_registry(branch: repos.Branch, registry: Registry) -> bool:
    """Stage ``registry`` on ``branch`` (the caller commits); False if it was already there."""
    obj = branch.object(REGISTRY_PATH)
    data = registry.to_json()
    if obj.exists() and obj.read() == data:
        return False
    obj.upload(data)
    return True
