"""The catalog at a ref: entities, feature views, on-demand views (code highlighted),
feature services and sources; searched by name, tag and owner."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from featurestore.server.ui._pages import Page, page, take

KINDS = {
    "views": "Feature views",
    "on_demand": "On-demand views",
    "entities": "Entities",
    "services": "Feature services",
    "sources": "Sources",
}


@dataclass(frozen=True)
class Search:
    """What the search box asks: a name part, a tag (``key`` or ``key=value``), an owner."""

    q: str
    tag: str
    owner: str

    @property
    def active(self) -> bool:
        return bool(self.q or self.tag or self.owner)

    def matches(self, obj: Any) -> bool:
        name = str(getattr(obj, "name", "")).lower()
        if self.q and self.q.lower() not in name:
            return False
        if self.owner and self.owner.lower() not in str(getattr(obj, "owner", "")).lower():
            return False
        if self.tag:
            tags = getattr(obj, "tags", {}) or {}
            key, eq, value = self.tag.partition("=")
            if key.strip() not in tags:
                return False
            if eq and str(tags[key.strip()]) != value.strip():
                return False
        return True


def _found(objects: Iterable[Any], search: Search, limit: int) -> tuple[list[Any], bool, int]:
    matching = [o for o in objects if search.matches(o)]
    shown, more = take(matching, limit)
    return shown, more, len(matching)


def source_of(source: Any) -> dict[str, Any]:
    """The fields of a source worth showing, by kind."""
    kind = type(source).__name__
    out: dict[str, Any] = {"kind": kind, "name": source.name}
    if hasattr(source, "batch_source"):
        out["batch source"] = source.batch_source.name
        out["table"] = source.batch_source.table
    for attr in ("table", "path", "timestamp_field", "created_timestamp_column"):
        value = getattr(source, attr, None)
        if value:
            out[attr.replace("_", " ")] = value
    mapping = getattr(source, "field_mapping", None)
    if mapping:
        out["field mapping"] = ", ".join(f"{k} → {v}" for k, v in mapping.items())
    return out


def odfv_inputs(view: Any) -> Sequence[str]:
    """An on-demand view's inputs: projected views and request sources."""
    out = []
    for s in view.sources:
        features = getattr(s, "features", None)
        names = ", ".join(f.name for f in features) if features else ""
        out.append(f"{s.name} ({names})" if names else s.name)
    return out


@page("/catalog", "catalog", nav="Catalog", order=10)
def catalog(p: Page) -> Response:
    """Every definition at ``ref`` (or those the search matches), ``limit`` per kind."""
    search = Search(p.arg("q"), p.arg("tag"), p.arg("owner"))
    kind = p.arg("kind")
    limit = p.limit
    p.commit  # noqa: B018  (a bad ref is a 404 page first)
    registry = p.registry()
    sections: dict[str, tuple[list[Any], bool, int]] = {}
    everything = {
        "views": registry.feature_views_by_name.values(),
        "on_demand": registry.on_demand_feature_views_by_name.values(),
        "entities": registry.entities_by_name.values(),
        "services": registry.feature_services_by_name.values(),
        "sources": registry.data_sources_by_name.values(),
    }
    for name, objects in everything.items():
        if not kind or kind == name:
            sections[name] = _found(sorted(objects, key=lambda o: o.name), search, limit)
    owners = sorted(
        {o for objs in everything.values() for x in objs if (o := getattr(x, "owner", ""))}
    )
    tag_keys = sorted(
        {k for objs in everything.values() for x in objs for k in getattr(x, "tags", {})}
    )
    return p.render(
        "catalog.html",
        search=search,
        kind=kind,
        kinds=KINDS,
        sections=sections,
        owners=owners,
        tag_keys=tag_keys,
        source_of=source_of,
        odfv_inputs=odfv_inputs,
        empty=registry.is_empty,
    )
