"""Three-way merge of definitions, object by object, from the merge base.

The registry is one JSON object (``featurestore.registry.REGISTRY_PATH``); a merge
of two branches that both applied definitions merges it by definition, keyed by
(section, name), feature views and on-demand views sharing one namespace:

- changed (added, removed) on one side only: that side's version;
- the same change on both sides: that change;
- changed differently on both sides, or removed on one and changed on the other: a
  ``DefinitionConflict`` naming the object, unless ``strategy`` is ``source-wins`` or
  ``dest-wins``, which picks that side's version of each such object.

The merged registry must stand on its own: a definition that uses one the other side
removed (a view whose entity is gone, a service whose feature is gone) is a conflict
too, whatever the strategy. Loading and merging run no stored code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from featurestore.errors import DefinitionError, MergeConflictError
from featurestore.registry import FORMAT_VERSION, KIND_NAMES, SECTIONS, Registry

__all__ = ["DefinitionConflict", "merge_registries", "merge_registry_json"]

Json = dict[str, Any]
Strategy = Literal["source-wins", "dest-wins"] | None
_Key = tuple[str, str]
"""(namespace, name): namespace is a section, or ``views`` for both kinds of view."""
_PROJECT: _Key = ("project", "")


@dataclass(frozen=True)
class DefinitionConflict:
    """A definition the two sides of a merge changed differently (or one the merge
    would leave using another that is gone)."""

    kind: str
    """``feature view``, ``entity``, ... as plans name them."""
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r}: {self.reason}"

    def to_json(self) -> Json:
        return {"kind": self.kind, "name": self.name, "reason": self.reason}


def _objects(data: Mapping[str, Any] | None) -> dict[_Key, tuple[str, Json]]:
    """The definitions of a parsed registry by key, each with its section."""
    out: dict[_Key, tuple[str, Json]] = {}
    if data is None:
        return out
    for section in SECTIONS:
        space = "views" if section in ("feature_views", "on_demand_feature_views") else section
        for item in data.get(section, []):
            out[(space, item["name"])] = (section, item)
    if data.get("project") is not None:
        out[_PROJECT] = ("project", data["project"])
    return out


def _kind(key: _Key, *versions: tuple[str, Json] | None) -> str:
    for v in versions:
        if v is not None:
            return "project" if v[0] == "project" else KIND_NAMES[v[0]]  # type: ignore[index]
    return key[0]


def _reason(
    base: tuple[str, Json] | None, source: tuple[str, Json] | None, dest: tuple[str, Json] | None
) -> str:
    if base is None:
        return "added differently on both sides"
    if source is None:
        return "removed on the source, changed on the destination"
    if dest is None:
        return "changed on the source, removed on the destination"
    return "changed differently on both sides"


def _uses(section: str, data: Json) -> list[tuple[str, str, str]]:
    """What a definition refers to: (namespace, name, what) for each reference."""
    if section == "feature_views":
        refs = [("entities", e, "entity") for e in data.get("entities", [])]
        return [*refs, ("data_sources", data["source"], "source")]
    if section == "data_sources" and data.get("kind") == "push":
        return [("data_sources", data["batch_source"], "batch source")]
    if section == "on_demand_feature_views":
        return [
            ("data_sources", s["name"], "request source")
            if s.get("kind") == "request"
            else ("views", s["name"], "view")
            for s in data.get("sources", [])
        ]
    if section == "feature_services":
        return [("views", p["name"], "view") for p in data.get("features", [])]
    return []


def _dangling(merged: Mapping[_Key, tuple[str, Json]]) -> list[DefinitionConflict]:
    out = []
    for (space, name), (section, data) in sorted(merged.items()):
        if section == "project":
            continue
        for target, ref, what in _uses(section, data):
            if (target, ref) not in merged:
                out.append(
                    DefinitionConflict(
                        _kind((space, name), (section, data)),
                        name,
                        f"uses {what} {ref!r}, which the other side removed",
                    )
                )
    return out


def merge_registries(
    base: Mapping[str, Any] | None,
    source: Mapping[str, Any],
    dest: Mapping[str, Any],
    strategy: Strategy = None,
) -> Registry:
    """The three-way merge of parsed registries (``base`` None: no common ancestor).

    Raises ``MergeConflictError`` whose ``conflicts`` name each conflicting definition.
    """
    if strategy not in (None, "source-wins", "dest-wins"):
        raise DefinitionError(f"unknown strategy {strategy!r}: use source-wins or dest-wins")
    b, s, d = _objects(base), _objects(source), _objects(dest)
    merged: dict[_Key, tuple[str, Json]] = {}
    conflicts: list[DefinitionConflict] = []
    for key in sorted(b.keys() | s.keys() | d.keys()):
        vb, vs, vd = b.get(key), s.get(key), d.get(key)
        if vs in (vd, vb):
            chosen = vd
        elif vd == vb:
            chosen = vs
        elif strategy is None:
            conflicts.append(
                DefinitionConflict(_kind(key, vs, vd, vb), key[1], _reason(vb, vs, vd))
            )
            continue
        else:
            chosen = vs if strategy == "source-wins" else vd
        if chosen is not None:
            merged[key] = chosen
    if not conflicts:
        conflicts = _dangling(merged)
    registry: Registry | None = None
    if not conflicts:
        data: Json = {"format_version": FORMAT_VERSION}
        for section in SECTIONS:
            items = [v for _, (sec, v) in sorted(merged.items()) if sec == section]
            data[section] = sorted(items, key=lambda v: str(v["name"]))
        if _PROJECT in merged:
            data["project"] = merged[_PROJECT][1]
        try:
            registry = Registry.from_dict(data)
        except DefinitionError as e:
            conflicts = [DefinitionConflict("definitions", "", f"the merged set is invalid: {e}")]
    if registry is None:
        shown = "; ".join(map(str, conflicts[:20])) + (" ..." if len(conflicts) > 20 else "")
        raise MergeConflictError(
            f"the definitions conflict on {len(conflicts)} object(s): {shown}",
            conflicts,
        )
    return registry


def merge_registry_json(
    base: bytes | None, source: bytes | None, dest: bytes | None, strategy: Strategy = None
) -> bytes:
    """``merge_registries`` over stored registry objects (None: absent); canonical JSON."""

    def parsed(raw: bytes | None) -> Json | None:
        if raw is None:
            return None
        try:
            data: Json = json.loads(raw)
        except ValueError as e:
            raise DefinitionError(
                f"a stored registry is malformed ({e}); re-apply the definitions on that branch"
            ) from e
        return data

    empty: Json = {"format_version": FORMAT_VERSION}
    merged = merge_registries(
        parsed(base), parsed(source) or empty, parsed(dest) or empty, strategy
    )
    return merged.to_json()
