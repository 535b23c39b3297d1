"""Reading Feast's ``feature_store.yaml`` as this project's configuration.

A project folder with Feast's ``feature_store.yaml`` and no ``featurestore.yaml``
opens as it is. Its settings map as follows (anything else is refused by name):

- ``project``: the project name.
- ``registry``: ignored; definitions are versioned in the repository with the data.
- ``provider``: ``local`` (the only provider; it names no store of its own).
- ``online_store``: ``sqlite`` (Feast's default; its ``path`` is ignored) is the
  embedded Valkey server; ``redis`` uses its ``connection_string``
  (``host:port,password=...,ssl=true,db=0``); ``remote`` is refused: it is Feast's
  client of a feature server, which this store is itself.
- ``offline_store``: ``file``, ``dask`` or ``duckdb`` is the DuckDB engine.
- ``entity_key_serialization_version``: 2 or 3, accepted; keys have one encoding here.
- ``auth``: ``no_auth`` only.
- ``batch_engine``, ``feature_server``, ``flags``, ``coerce_tz_aware``: ignored.

The repository (objects and metadata) lives in ``.featurestore/repository`` under the
project folder; ``FEATURESTORE_STORAGE`` overrides it as for any project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from featurestore.errors import ConfigError

__all__ = ["FEAST_CONFIG_FILE", "FEAST_STORAGE", "from_feast_config"]

FEAST_CONFIG_FILE: Final = "feature_store.yaml"
FEAST_STORAGE: Final = ".featurestore/repository"
"""Where the repository of a Feast-configured project lives, under its folder."""

_IGNORED: Final = ("registry", "batch_engine", "feature_server", "flags", "coerce_tz_aware")
_OFFLINE: Final = ("file", "dask", "duckdb")


def _type_of(section: Any, default: str, what: str, path: Path) -> tuple[str, dict[str, Any]]:
    if section is None:
        return default, {}
    if isinstance(section, str):
        return section, {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: {what} must be a mapping with a type, not {section!r}")
    return str(section.get("type", default)), section


def redis_url(connection_string: str, path: Path) -> str:
    """Feast's Redis ``connection_string`` as a ``redis://`` URL."""
    nodes: list[str] = []
    params: dict[str, Any] = {}
    for part in str(connection_string).split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            key, value = part.split("=", 1)
            try:
                params[key.strip()] = json.loads(value)
            except ValueError:
                params[key.strip()] = value
        else:
            nodes.append(part)
    if len(nodes) != 1:
        raise ConfigError(
            f"{path}: online_store connection_string {connection_string!r} must name one "
            "host:port (a Redis cluster is not supported from feature_store.yaml)"
        )
    unknown = sorted(set(params) - {"password", "username", "ssl", "db"})
    if unknown:
        raise ConfigError(
            f"{path}: online_store connection_string option(s) {unknown} are not supported; "
            "use password, username, ssl and db"
        )
    auth = ""
    if params.get("password") is not None:
        user = quote(str(params.get("username") or ""), safe="")
        auth = f"{user}:{quote(str(params['password']), safe='')}@"
    scheme = "rediss" if params.get("ssl") in (True, "true", "True") else "redis"
    db = f"/{int(params['db'])}" if params.get("db") is not None else ""
    return f"{scheme}://{auth}{nodes[0]}{db}"


def from_feast_config(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """The settings of ``featurestore.yaml`` that a Feast ``feature_store.yaml`` means."""
    known = {
        "project",
        "provider",
        "online_store",
        "offline_store",
        "entity_key_serialization_version",
        "auth",
        *_IGNORED,
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{path}: setting(s) {unknown} of feature_store.yaml are not supported; remove "
            "them, or write a featurestore.yaml instead"
        )
    provider = raw.get("provider", "local")
    if provider != "local":
        raise ConfigError(f"{path}: provider {provider!r} is not supported; use provider: local")
    out: dict[str, Any] = {
        "project": raw.get("project"),
        "storage": FEAST_STORAGE,
        "create_repository": True,
    }
    online, section = _type_of(raw.get("online_store"), "sqlite", "online_store", path)
    if online == "redis":
        if section.get("redis_type", "redis") != "redis":
            raise ConfigError(
                f"{path}: online_store redis_type {section['redis_type']!r} is not supported; "
                "use redis_type: redis"
            )
        out["online_store"] = {"url": redis_url(section.get("connection_string", ""), path)}
    elif online == "remote":
        raise ConfigError(
            f"{path}: online_store type remote is Feast's client of a feature server; this "
            "store reads its online store itself: use type sqlite (the embedded server) or "
            "redis, and serve it to Feast clients with `featurestore serve`"
        )
    elif online != "sqlite":
        raise ConfigError(
            f"{path}: online_store type {online!r} is not supported; use sqlite (the "
            "embedded server) or redis"
        )
    offline, _ = _type_of(raw.get("offline_store"), "file", "offline_store", path)
    if offline not in _OFFLINE:
        raise ConfigError(
            f"{path}: offline_store type {offline!r} is not supported; use file or duckdb "
            "(both read through DuckDB)"
        )
    version = raw.get("entity_key_serialization_version", 3)
    if version not in (2, 3):
        raise ConfigError(
            f"{path}: entity_key_serialization_version {version!r} is not supported; use 3"
        )
    auth, _ = _type_of(raw.get("auth"), "no_auth", "auth", path)
    if auth != "no_auth":
        raise ConfigError(
            f"{path}: auth type {auth!r} is not supported; use no_auth, and API keys in "
            "featurestore.yaml (server.api_keys) for the HTTP service"
        )
    return out
