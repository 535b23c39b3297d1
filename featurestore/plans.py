"""Plans: what applying a set of definitions over a registry adds, changes and removes.

``plan`` compares two registries definition by definition; each changed entry names
the changed attributes with their old and new values. ``check_breaking`` lists the
changes that stored data could not be read under (changed key or field types, join
keys, timestamp columns). On-demand functions show as unified source diffs.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from featurestore.definitions.sources import TableSource

if TYPE_CHECKING:
    from rich.table import Table

    from featurestore.registry import Registry

__all__ = ["Action", "FieldChange", "Plan", "PlanEntry", "check_breaking", "plan", "source_diff"]

Json = dict[str, Any]

Action = Literal["added", "changed", "removed"]
_SHOWN: Final = 60
"""Characters of a changed value a plan shows at most."""


def _show(value: Any) -> str:
    """A stored value as a plan prints it: compact JSON, cut to ``_SHOWN`` characters."""
    if value is None:
        return "(none)"
    if value == "":
        return '""'
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


@dataclass(frozen=True)
class FieldChange:
    """One changed attribute of a definition: its path and its old and new stored values.

    ``old`` is None for an added attribute, ``new`` None for a removed one.
    """

    path: str
    old: Any
    new: Any
    kind: Literal["added", "removed", "changed", "order"] = "changed"

    @property
    def label(self) -> str:
        """The path as ``PlanEntry.changes`` names it: ``+x`` added, ``-x`` removed."""
        marks = {
            "added": f"+{self.path}",
            "removed": f"-{self.path}",
            "order": f"{self.path} (order)",
        }
        return marks.get(self.kind, self.path)

    def __str__(self) -> str:
        if self.path.endswith("udf_source"):
            return f"{self.path}: code changed (see its diff)"
        if self.kind == "order":
            return f"{self.path}: order changed"
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"

    def to_json(self) -> Json:
        return {"path": self.path, "kind": self.kind, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class PlanEntry:
    """One definition that ``apply`` would add, change or remove."""

    kind: str
    name: str
    action: Action
    changes: tuple[str, ...] = ()
    source_diff: str = ""
    """For an added or changed on-demand function: the unified diff of its source."""
    fields: tuple[FieldChange, ...] = ()
    """Each changed attribute with its old and new values (``changes`` names their paths)."""

    def to_json(self, values: bool = True) -> Json:
        """The entry as JSON-ready data; ``values=False`` leaves out the old and new values
        (a definition may hold a local path, which a server must not hand out)."""
        out: Json = {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "changes": list(self.changes),
            "source_diff": self.source_diff,
        }
        if values:
            out["fields"] = [f.to_json() for f in self.fields]
        return out

    def __repr__(self) -> str:
        said = f"PlanEntry({self.action} {self.kind} {self.name!r}"
        return said + (f": {'; '.join(map(str, self.fields))})" if self.fields else ")")


@dataclass(frozen=True)
class Plan:
    """What applying ``new`` over ``old`` does; ``breaking`` lists what would break stored data."""

    old: Registry
    new: Registry
    entries: tuple[PlanEntry, ...]
    breaking: tuple[str, ...]
    comparison: bool = False
    """The definitions of two refs compared (a diff), not what ``apply`` would do: said
    as what was added, changed and removed."""

    @property
    def registry(self) -> Registry:
        """The registry that applying the plan produces."""
        return self.new

    @property
    def added(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.action == "added")

    @property
    def changed(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.action == "changed")

    @property
    def removed(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.action == "removed")

    @property
    def has_changes(self) -> bool:
        return bool(self.entries)

    def _none(self) -> str:
        if self.comparison:
            return "No definition changes."
        return "No changes: the definitions are up to date."

    def _counts(self) -> str:
        if self.comparison:
            return (
                f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed"
            )
        return f"{len(self.added)} to add, {len(self.changed)} to change, {len(self.removed)} to remove"

    def __str__(self) -> str:
        if not self.entries:
            return self._none()
        rows = [(e.action, e.kind, e.name, ", ".join(e.changes)) for e in self.entries]
        head = ("action", "kind", "name", "changes")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
        lines = []
        for r in [head, *rows]:
            lines.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
        lines = [line.rstrip() for line in lines]
        for e in self.changed:
            lines.extend(f"  {e.name}: {f}" for f in e.fields)
        summary = f"{self._counts()}."
        text = "\n".join([*lines, summary])
        if self.breaking:
            text += "\nBreaking changes (refused):\n" + "\n".join(f"  - {b}" for b in self.breaking)
        for e in self.entries:
            if e.source_diff:
                text += f"\nCode of {e.kind} {e.name!r} ({e.action}):\n{e.source_diff.rstrip()}"
        return text

    @property
    def source_diffs(self) -> tuple[PlanEntry, ...]:
        """The entries that change code: added or changed on-demand functions."""
        return tuple(e for e in self.entries if e.source_diff)

    def to_json(self, values: bool = True) -> Json:
        """The plan as JSON-ready data (entries with their source diffs, breaking reasons);
        ``values=False`` leaves out each changed field's old and new value."""
        return {
            "entries": [e.to_json(values) for e in self.entries],
            "breaking": list(self.breaking),
        }

    def to_rich(self) -> Table:
        """The plan as a rich table."""
        from rich.markup import escape
        from rich.table import Table

        title = "Definition changes" if self.comparison else "featurestore plan"
        table = Table(title=title, show_lines=False)
        for column in ("action", "kind", "name"):
            table.add_column(column, no_wrap=column != "kind", overflow="fold")
        table.add_column("changes (old -> new)", overflow="fold")
        styles = {"added": "green", "changed": "yellow", "removed": "red"}
        for e in self.entries:
            shown = "\n".join(escape(str(f)) for f in e.fields) or ", ".join(e.changes)
            table.add_row(f"[{styles[e.action]}]{e.action}[/]", e.kind, e.name, shown)
        caption = self._counts()
        if self.breaking:
            caption += f" | {len(self.breaking)} breaking change(s), refused"
        table.caption = caption
        return table

    def __rich__(self) -> Table:
        return self.to_rich()

    def __repr__(self) -> str:
        said = f"<Plan: {self._counts()}" + (
            f", {len(self.breaking)} breaking" if self.breaking else ""
        )
        return said + ">" if not self.entries else said + ">\n" + str(self)

    def _repr_html_(self) -> str:
        """The plan as an HTML table (Jupyter)."""
        from html import escape

        if not self.entries:
            return f"<p>{self._none()}</p>"
        rows = "".join(
            f"<tr><td>{e.action}</td><td>{escape(e.kind)}</td><td>{escape(e.name)}</td><td>"
            + "<br>".join(escape(str(f)) for f in e.fields or ())
            + (escape(", ".join(e.changes)) if not e.fields else "")
            + "</td></tr>"
            for e in self.entries
        )
        breaking = "".join(f"<li>{escape(b)}</li>" for b in self.breaking)
        return (
            "<table><thead><tr><th>action</th><th>kind</th><th>name</th>"
            f"<th>changes (old -&gt; new)</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{self._counts()}</p>"
            + (f"<p>Breaking changes (refused):</p><ul>{breaking}</ul>" if breaking else "")
        )


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of named dicts as a dict by name (for per-item diffs), else None."""
    if items and all(isinstance(i, dict) and "name" in i for i in items):
        names = [i["name"] for i in items]
        if len(set(names)) == len(names):
            return {n: i for n, i in zip(names, items, strict=True)}
    return None


def _field_changes(old: Any, new: Any, path: str) -> list[FieldChange]:
    """Each attribute that differs from ``old`` to ``new``, with both values."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in sorted(old.keys() | new.keys()):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(FieldChange(sub, None, new[key], "added"))
            elif key not in new:
                out.append(FieldChange(sub, old[key], None, "removed"))
            else:
                out.extend(_field_changes(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list):
        ko, kn = _keyed(old), _keyed(new)
        if ko is not None and kn is not None:
            out = []
            for key in [k for k in ko if k in kn] + [k for k in kn if k not in ko]:
                sub = f"{path}[{key}]"
                if key not in ko:
                    out.append(FieldChange(sub, None, kn[key], "added"))
                else:
                    out.extend(_field_changes(ko[key], kn[key], sub))
            out.extend(
                FieldChange(f"{path}[{k}]", ko[k], None, "removed") for k in ko if k not in kn
            )
            if not out:
                out.append(FieldChange(path, [*ko], [*kn], "order"))
            return out
    return [FieldChange(path, old, new)]


def _diff(old: Any, new: Any, path: str) -> list[str]:
    """The paths of the attributes that differ (``+x`` added, ``-x`` removed)."""
    return [f.label for f in _field_changes(old, new, path)]


def source_diff(old: str, new: str, name: str) -> str:
    """The unified diff of an on-demand function's stored source, ``old`` to ``new``."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name}" if old else "/dev/null",
        tofile=f"b/{name}" if new else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def plan(old: Registry | None, new_objects: Iterable[object] | Registry) -> Plan:
    """What applying ``new_objects`` (the full set of definitions) over ``old`` changes.

    Definitions in ``old`` that are not in ``new_objects`` are removed. ``changes``
    names the changed attributes, e.g. ``ttl`` or ``schema[conv_rate].dtype``;
    ``+x`` / ``-x`` mark added and removed ones; ``fields`` holds their old and new
    values.
    """
    from featurestore.registry import KIND_NAMES, SECTIONS, Registry

    old_reg = old if old is not None else Registry()
    new_reg = new_objects if isinstance(new_objects, Registry) else Registry(new_objects)
    a, b = old_reg.to_dict(), new_reg.to_dict()
    entries: list[PlanEntry] = []
    for section in SECTIONS:
        kind = KIND_NAMES[section]
        olds = {d["name"]: d for d in a[section]}
        news = {d["name"]: d for d in b[section]}
        for name in sorted(olds.keys() | news.keys()):
            code = ""
            if section == "on_demand_feature_views":
                before = olds[name]["udf_source"] if name in olds else ""
                after = news[name]["udf_source"] if name in news else ""
                code = source_diff(before, after, name) if name in news else ""
            if name not in olds:
                entries.append(PlanEntry(kind, name, "added", (), code))
            elif name not in news:
                entries.append(PlanEntry(kind, name, "removed"))
            elif olds[name] != news[name]:
                fields = tuple(_field_changes(olds[name], news[name], ""))
                changes = tuple(f.label for f in fields)
                entries.append(PlanEntry(kind, name, "changed", changes, code, fields))
    return Plan(old_reg, new_reg, tuple(entries), tuple(check_breaking(old_reg, new_reg)))


def check_breaking(old: Registry | None, new: Registry) -> list[str]:
    """Reasons why ``new`` cannot read data stored under ``old`` (empty: compatible).

    Breaking: a changed type of an existing schema field or join key, changed join
    keys of an entity or a view, a changed timestamp or created-timestamp column of a
    source, a source that changes its table's timestamp columns.
    """
    if old is None:
        return []
    reasons: list[str] = []
    for name, e_old in old.entities_by_name.items():
        e_new = new.entities_by_name.get(name)
        if e_new is None:
            continue
        if e_old.join_keys != e_new.join_keys:
            reasons.append(
                f"entity {name!r}: join keys change from {list(e_old.join_keys)} to "
                f"{list(e_new.join_keys)}"
            )
        if (
            e_old.value_type is not None
            and e_new.value_type is not None
            and e_old.value_type != e_new.value_type
        ):
            reasons.append(
                f"entity {name!r}: join key type changes from {e_old.value_type} to {e_new.value_type}"
            )
    for name, s_old in old.data_sources_by_name.items():
        s_new = new.data_sources_by_name.get(name)
        if not isinstance(s_old, TableSource) or not isinstance(s_new, TableSource):
            continue
        if s_old.timestamp_field != s_new.timestamp_field:
            reasons.append(
                f"source {name!r}: timestamp field changes from {s_old.timestamp_field!r} to "
                f"{s_new.timestamp_field!r}"
            )
        if s_old.created_timestamp_column != s_new.created_timestamp_column:
            reasons.append(
                f"source {name!r}: created timestamp column changes from "
                f"{s_old.created_timestamp_column!r} to {s_new.created_timestamp_column!r}"
            )
    for name, v_old in old.feature_views_by_name.items():
        v_new = new.feature_views_by_name.get(name)
        if v_new is None:
            continue
        if v_old.join_keys != v_new.join_keys:
            reasons.append(
                f"feature view {name!r}: join keys change from {list(v_old.join_keys)} to "
                f"{list(v_new.join_keys)}"
            )
        new_types = {f.name: f.dtype for f in v_new.schema}
        for f in v_old.schema:
            if f.name in new_types and new_types[f.name] != f.dtype:
                what = "join key" if f.name in v_old.join_keys else "field"
                reasons.append(
                    f"feature view {name!r}: {what} {f.name!r} changes type from {f.dtype} to "
                    f"{new_types[f.name]}"
                )
    return reasons
