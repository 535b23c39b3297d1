"""Which repository a storage location and a metadata database belong to.

The storage holds a small marker object (``_repository.json``: the repository's id and
the namespace of its metadata). On PostgreSQL, unless the URL sets ``search_path``
itself, each repository's tables live in a schema of their own (``repo_<id>``), so
projects sharing one database never share a history. The metadata records the id, and
opening a storage whose metadata belongs to another repository is refused.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from repos._objects import ObjectStore
from repos.errors import ConflictError

MARKER = "_repository.json"
REPOSITORY_ID = "repository_id"


@dataclass(frozen=True)
class Identity:
    """A repository's id and the schema holding its metadata (None: the URL's default)."""

    id: str
    schema: str | None


def read_identity(store: ObjectStore) -> Identity | None:
    raw = store.read_meta(MARKER)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return Identity(str(data["id"]), data.get("schema"))
    except (ValueError, KeyError, TypeError) as e:
        raise ConflictError(
            f"the repository marker {MARKER} in {store.location} is unreadable ({e}): "
            "restore it or point at the right storage"
        ) from e


def new_identity(url: str) -> Identity:
    """A fresh id; a schema of its own on a server database whose URL picks none."""
    rid = uuid.uuid4().hex
    own_schema = not url.startswith("sqlite") and "search_path" not in url
    return Identity(rid, f"repo_{rid[:16]}" if own_schema else None)


def write_identity(store: ObjectStore, identity: Identity) -> None:
    store.write_meta(
        MARKER, json.dumps({"id": identity.id, "schema": identity.schema}).encode()
    )


def bind(engine: sa.Engine, identity: Identity | None, create: bool) -> sa.Engine:
    """``engine`` reading and writing the identity's schema (created when asked)."""
    if identity is None or identity.schema is None:
        return engine
    if create:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{identity.schema}"'))
    return engine.execution_options(schema_translate_map={None: identity.schema})


def refuse_foreign(found: dict[str, str], identity: Identity, location: str) -> None:
    """Raise unless the metadata is this repository's (or holds no id yet)."""
    theirs = found.get(REPOSITORY_ID)
    if theirs is not None and theirs != identity.id:
        raise ConflictError(
            f"the metadata database holds repository {theirs[:12]}, not the repository of "
            f"{location} ({identity.id[:12]}): give this storage its own metadata database "
            "(or PostgreSQL schema), or open the storage that database belongs to"
        )
