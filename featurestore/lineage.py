"""Lineage of a saved dataset: the commit, definitions, tables and exact objects it read.

A saved dataset records the commit it was built at, its feature refs and the hash of the
definitions there (``featurestore.datasets``). ``store.lineage(dataset)`` opens that
commit and lists what the build read: each feature view (its serialized definition and
that definition's sha256, with the registry object), each source table and the Parquet
objects it held at that commit (path, checksum, size, rows), and the commit on the
``saved-datasets`` branch that saved it. Objects are immutable and content-addressed, so
the checksums name the exact bytes; ``definitions_match`` says whether the definitions
at the commit still hash to what the dataset recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from featurestore.boundary import translated
from featurestore.datasets import DATASETS_BRANCH, SavedDataset
from featurestore.display import text_table

if TYPE_CHECKING:
    import fsspec

    from featurestore.definitions import FeatureView, OnDemandFeatureView
    from featurestore.store import FeatureStore

__all__ = ["Lineage", "SourceObject", "TableLineage", "ViewLineage", "lineage"]


@dataclass(frozen=True)
class SourceObject:
    """One stored object of a table at the dataset's commit."""

    path: str
    checksum: str
    size: int
    rows: int | None
    """Rows of a Parquet object (None for the table's schema object)."""


@dataclass(frozen=True)
class TableLineage:
    """A source table as the dataset's commit held it."""

    name: str
    objects: tuple[SourceObject, ...]

    @property
    def rows(self) -> int:
        return sum(o.rows or 0 for o in self.objects)


@dataclass(frozen=True)
class ViewLineage:
    """A view the dataset read: its definition at the commit and that definition's hash."""

    name: str
    kind: str
    """``feature_view`` or ``on_demand_feature_view``."""
    table: str | None
    """The source table a feature view reads (None for an on-demand view)."""
    features: tuple[str, ...]
    """The features read (requested ones, and those on-demand views read)."""
    definition_hash: str
    """sha256 of the view's canonical serialized definition."""
    definition: FeatureView | OnDemandFeatureView


@dataclass(frozen=True, repr=False)
class Lineage:
    """Where a saved dataset came from, down to the objects its build read."""

    dataset: str
    commit_id: str
    commit_message: str
    commit_author: str
    commit_time: datetime
    saved_in: str | None
    """The commit of the ``saved-datasets`` branch that saved the dataset."""
    feature_refs: tuple[str, ...]
    definitions_hash: str
    definitions_match: bool
    """Whether the definitions at ``commit_id`` hash to what the dataset recorded."""
    registry_object: SourceObject | None
    """The definitions object at the commit."""
    views: tuple[ViewLineage, ...]
    tables: tuple[TableLineage, ...]
    redacted: bool = False
    """An erasure removed rows from the dataset and from what it read: ``commit_id`` and
    the objects are the rewritten ones (the id it was built at resolves to it)."""
    erasures: tuple[str, ...] = ()
    """The ids of the erasures that redacted it (``store.erasures()``)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``featurestore lineage --json``)."""
        from featurestore.definitions.serialization import to_dict

        return {
            "dataset": self.dataset,
            "commit": {
                "id": self.commit_id,
                "message": self.commit_message,
                "author": self.commit_author,
                "time": self.commit_time.isoformat(),
            },
            "saved_in": self.saved_in,
            "redacted": self.redacted,
            "erasures": list(self.erasures),
            "feature_refs": list(self.feature_refs),
            "definitions_hash": self.definitions_hash,
            "definitions_match": self.definitions_match,
            "registry_object": None
            if self.registry_object is None
            else _object_dict(self.registry_object),
            "views": [
                {
                    "name": v.name,
                    "kind": v.kind,
                    "table": v.table,
                    "features": list(v.features),
                    "definition_hash": v.definition_hash,
                    "definition": to_dict(v.definition),
                }
                for v in self.views
            ],
            "tables": [
                {"name": t.name, "rows": t.rows, "objects": [_object_dict(o) for o in t.objects]}
                for t in self.tables
            ],
        }

    def _caption(self) -> str:
        match = "match" if self.definitions_match else "DO NOT match"
        redacted = f"; redacted by {len(self.erasures) or 1} erasure(s)" if self.redacted else ""
        return (
            f"Lineage of dataset {self.dataset!r}: commit {self.commit_id[:12]} "
            f"({self.commit_message}); definitions {match} the recorded hash{redacted}"
        )

    def _objects(self) -> dict[str, list[Any]]:
        rows = [(t.name, o) for t in self.tables for o in t.objects]
        return {
            "table": [t for t, _ in rows],
            "path": [o.path for _, o in rows],
            "checksum": [o.checksum[:16] for _, o in rows],
            "rows": [o.rows for _, o in rows],
        }

    def __repr__(self) -> str:
        views: dict[str, list[Any]] = {
            "view": [v.name for v in self.views],
            "table": [v.table for v in self.views],
            "definition": [v.definition_hash[:16] for v in self.views],
        }
        objects = self._objects()
        return (
            f"{self._caption()}\n{text_table(views, limit=len(self.views))}\n"
            f"{text_table(objects, limit=len(objects['path']))}"
        )

    def _repr_html_(self) -> str:
        from featurestore.display import html_table

        views: dict[str, list[Any]] = {
            "view": [v.name for v in self.views],
            "kind": [v.kind for v in self.views],
            "table": [v.table for v in self.views],
            "definition sha256": [v.definition_hash for v in self.views],
        }
        objects = self._objects()
        return html_table(views, self._caption(), limit=len(self.views)) + html_table(
            objects, "Objects read", limit=len(objects["path"])
        )


def _object_dict(o: SourceObject) -> dict[str, Any]:
    return {"path": o.path, "checksum": o.checksum, "size": o.size, "rows": o.rows}


def definition_hash(obj: object) -> str:
    """sha256 of a definition's canonical serialized form."""
    from featurestore.definitions.serialization import to_dict

    text = json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _rows(address: str, fs: fsspec.AbstractFileSystem | None) -> int | None:
    """Rows of the Parquet object at ``address`` (its footer only; None if unreadable)."""
    from offline import _fs

    try:
        return int(_fs.parquet_file(address, fs).metadata.num_rows)
    except (OSError, ValueError):
        return None


def lineage(store: FeatureStore, dataset: str | SavedDataset) -> Lineage:
    """The lineage of ``dataset`` (a saved dataset or its name)."""
    from featurestore.features import plan_features
    from featurestore.registry import REGISTRY_PATH

    saved = dataset if isinstance(dataset, SavedDataset) else store.get_saved_dataset(dataset)
    registry = store.registry(saved.commit_id)
    plan = plan_features(list(saved.feature_refs), registry, full_feature_names=True)
    wanted: dict[str, list[str]] = {}
    for v, f in plan.refs:
        wanted.setdefault(v, []).append(f)
    views: list[ViewLineage] = []
    for name, view in plan.views.items():
        views.append(
            ViewLineage(
                name=name,
                kind="feature_view",
                table=view.source.table,
                features=tuple(plan.stored[name]),
                definition_hash=definition_hash(view),
                definition=view,
            )
        )
    for odfv in plan.on_demand:
        views.append(
            ViewLineage(
                name=odfv.name,
                kind="on_demand_feature_view",
                table=None,
                features=tuple(wanted.get(odfv.name, ())),
                definition_hash=definition_hash(odfv),
                definition=odfv,
            )
        )
    with translated():
        at = store.repository.ref(saved.commit_id)
        commit = at.get_commit()
        tables = []
        for table in dict.fromkeys(v.source.table for v in plan.views.values()):
            objects = tuple(
                SourceObject(
                    path=o.path,
                    checksum=o.checksum,
                    size=o.size,
                    rows=_rows(o.physical_address, store.repository.filesystem)
                    if o.path.endswith(".parquet")
                    else None,
                )
                for o in at.objects(f"tables/{table}/")
            )
            tables.append(TableLineage(table, objects))
        registry_info = next(
            (o for o in at.objects(REGISTRY_PATH) if o.path == REGISTRY_PATH), None
        )
        erasures: tuple[str, ...] = ()
        if saved.redacted:
            meta_path = f"datasets/{saved.name}/meta.json"
            meta = json.loads(store.repository.ref(DATASETS_BRANCH).object(meta_path).read())
            erasures = tuple(meta.get("erasures", ()))
        saved_in = next(
            iter(
                store.repository.ref(DATASETS_BRANCH).log(
                    max_amount=1, prefixes=[f"datasets/{saved.name}/"]
                )
            ),
            None,
        )
    return Lineage(
        dataset=saved.name,
        commit_id=commit.id,
        commit_message=commit.message,
        commit_author=commit.author,
        commit_time=commit.creation_date,
        saved_in=None if saved_in is None else saved_in.id,
        feature_refs=saved.feature_refs,
        definitions_hash=saved.definitions_hash,
        definitions_match=registry.hash == saved.definitions_hash,
        registry_object=None
        if registry_info is None
        else SourceObject(registry_info.path, registry_info.checksum, registry_info.size, None),
        views=tuple(views),
        tables=tuple(tables),
        redacted=saved.redacted,
        erasures=erasures,
    )
