"""The Governance pages: saved datasets (commit, definitions hash), which datasets
contain an entity, and a dataset's lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from featurestore.server._errors import HTTPError
from featurestore.server.ui import _charts
from featurestore.server.ui._pages import Page, page, take

if TYPE_CHECKING:
    from featurestore.lineage import Lineage

MAX_OBJECTS = 50
"""Source objects listed per table on the lineage page (their count is always shown)."""


def join_keys(p: Page) -> list[str]:
    """Every entity join key defined at the page's ref, in definition order."""
    keys: dict[str, None] = {}
    for entity in p.registry().entities:
        keys.update(dict.fromkeys(entity.join_keys))
    return list(keys)


def parse_entity(text: str, keys: list[str]) -> dict[str, str]:
    """``key=value[, key=value]``, or a bare value when exactly one join key is defined."""
    text = text.strip()
    if not text:
        return {}
    if "=" not in text:
        if len(keys) != 1:
            raise HTTPError(
                400,
                "bad_request",
                f"say which key {text!r} is: write key=value, with a key among "
                f"{', '.join(keys) or '(no entity is defined)'}",
            )
        return {keys[0]: text}
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise HTTPError(
                400,
                "bad_request",
                f"cannot read {part.strip()!r}: write key=value (e.g. {keys[0] if keys else 'driver_id'}=1001)",
            )
        out[key] = value
    return out


@page("/governance", "governance", nav="Governance", order=70)
def governance(p: Page) -> Response:
    """Saved datasets, filtered by ``?entity=key=value`` (those whose rows hold it)."""
    keys = join_keys(p)
    query = p.arg("entity")
    containing = parse_entity(query, keys)
    datasets = p.store.saved_datasets(containing or None)
    datasets.sort(key=lambda d: d.created, reverse=True)
    after = p.arg("after")
    if after:
        names = [d.name for d in datasets]
        datasets = datasets[names.index(after) + 1 :] if after in names else []
    shown, more = take(datasets, p.limit)
    return p.render(
        "governance.html",
        datasets=shown,
        more=more,
        last=shown[-1].name if shown else "",
        query=query,
        containing=containing,
        keys=keys,
    )


def _flow(lineage: Lineage) -> Any:
    tables = [f"table {t.name} ({t.rows} rows)" for t in lineage.tables]
    views = [f"{v.name}" for v in lineage.views]
    edges = []
    for vi, v in enumerate(lineage.views):
        if v.table is not None:
            ti = next(i for i, t in enumerate(lineage.tables) if t.name == v.table)
            edges.append((0, ti, 1, vi))
        edges.append((1, vi, 2, 0))
    for vi, v in enumerate(lineage.views):  # an on-demand view's stored inputs
        if v.table is None:
            for wi, w in enumerate(lineage.views):
                if w.table is not None and w.name in _inputs(v):
                    edges.append((1, wi, 1, vi))
    return _charts.flow(
        f"lineage of {lineage.dataset}",
        [tables, views, [f"dataset {lineage.dataset}"]],
        edges,
    )


def _inputs(view: Any) -> set[str]:
    refs = getattr(view.definition, "input_refs", ())
    return {name for name, _ in refs}


@page("/governance/dataset/{name}", "dataset")
def dataset(p: Page) -> Response:
    """A saved dataset's lineage: its commit, definitions, views and source objects."""
    name = p.request.path_params["name"]
    lineage = p.store.lineage(name)
    tables = [(t, t.objects[:MAX_OBJECTS], len(t.objects)) for t in lineage.tables]
    saved = p.store.get_saved_dataset(name)
    return p.render(
        "governance_dataset.html",
        lineage=lineage,
        saved=saved,
        tables=tables,
        flow=_flow(lineage),
        max_objects=MAX_OBJECTS,
    )
