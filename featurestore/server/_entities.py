"""Entity columns of a lookup read as Feast's server reads them.

Feast takes an entity's name where its join key belongs (``{"driver": [1001]}`` for
the join key ``driver_id``) and converts each value to the key's type, so the text
``"1001"`` names driver 1001 when ``driver_id`` is an ``Int64``. JSON clients often
send keys as text; here they get the same answer. Only whole numbers in text are
cast, and only for integer keys; any other value goes to the store as sent, which
refuses it with a message naming the key and the row.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from featurestore.registry import Registry

__all__ = ["KeyMap", "key_map", "normalize_entities"]

_WHOLE = re.compile(r"[+-]?[0-9]{1,19}")


@dataclass(frozen=True)
class KeyMap:
    """What a registry says about entity columns: names to keys, and the integer keys."""

    join_keys: frozenset[str]
    by_entity_name: dict[str, str]
    integer_keys: frozenset[str]


_cache: tuple[Registry, KeyMap] | None = None
_lock = threading.Lock()


def key_map(registry: Registry) -> KeyMap:
    """The key map of ``registry``, kept while the same registry object is served."""
    global _cache
    cached = _cache
    if cached is not None and cached[0] is registry:
        return cached[1]
    keys: set[str] = set()
    types: dict[str, set[pa.DataType]] = {}
    for view in registry.feature_views:
        keys.update(view.join_keys)
        for field in view.entity_columns:
            types.setdefault(field.name, set()).add(field.dtype.to_arrow())
    names = {
        entity.name: entity.join_keys[0]
        for entity in registry.entities_by_name.values()
        if len(entity.join_keys) == 1 and entity.name not in keys
    }
    integer = frozenset(
        k for k, ts in types.items() if len(ts) == 1 and pa.types.is_integer(next(iter(ts)))
    )
    result = KeyMap(frozenset(keys), names, integer)
    with _lock:
        _cache = (registry, result)
    return result


def _cast(values: list[Any]) -> list[Any]:
    if not any(isinstance(v, str) for v in values):
        return values
    return [int(v) if isinstance(v, str) and _WHOLE.fullmatch(v.strip()) else v for v in values]


def normalize_entities(entities: dict[str, list[Any]], keys: KeyMap) -> dict[str, list[Any]]:
    """Entity names replaced by their join keys, whole numbers in text cast for integer keys.

    A name is replaced only when its join key is not given too (Feast's rule: the key
    wins).
    """
    out: dict[str, list[Any]] = {}
    for name, values in entities.items():
        key = name
        if name not in keys.join_keys and name in keys.by_entity_name:
            key = keys.by_entity_name[name]
            if key in entities:
                continue
        out[key] = _cast(values) if key in keys.integer_keys else values
    return out
