"""Construction-time checks shared by every definition, and the frozen mapping they store."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any, Final, TypeVar

from featurestore.errors import DefinitionError

_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")
"""Both are matched whole (``fullmatch``): ``$`` would also accept a trailing newline."""

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V]):
    """A read-only, hashable mapping (tags, field mappings)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._data)


def check_name(value: object, what: str) -> str:
    """``value`` if it is a valid identifier-like name, else a DefinitionError."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise DefinitionError(
            f"{what} {value!r} is not a valid name: use letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    return value


def check_table(value: object, what: str) -> str:
    """``value`` if it is a valid table path such as ``driver_stats`` or ``raw/trips``."""
    if not isinstance(value, str) or not _TABLE_RE.fullmatch(value) or ".." in value:
        raise DefinitionError(
            f"{what} {value!r} is not a valid table name: use letters, digits, '_', '-', '.' "
            "and '/' between parts (no '..', no leading or trailing '/')"
        )
    return value


def check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise DefinitionError(f"{what} must be a string, not {type(value).__name__}")
    return value


def check_tags(value: Mapping[str, str] | None, what: str) -> FrozenDict[str, str]:
    """Tags as a frozen mapping of strings to strings."""
    if value is None:
        return FrozenDict()
    if not isinstance(value, Mapping):
        raise DefinitionError(f"{what} must be a mapping of strings, not {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise DefinitionError(f"{what} must map strings to strings; got {k!r}: {v!r}")
    return FrozenDict(value)


def check_duration(value: object, what: str) -> timedelta:
    if not isinstance(value, timedelta):
        raise DefinitionError(f"{what} must be a datetime.timedelta, not {type(value).__name__}")
    if value <= timedelta(0):
        raise DefinitionError(f"{what} must be positive, got {value}")
    return value


def as_tuple(value: Iterable[Any] | None, what: str) -> tuple[Any, ...]:
    """A list argument as a tuple; a bare string is refused (it is almost always a mistake)."""
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise DefinitionError(f"{what} must be a list, not {type(value).__name__} {value!r}")
    return tuple(value)


def check_instances(items: tuple[Any, ...], kinds: tuple[type, ...], what: str) -> None:
    names = " or ".join(k.__name__ for k in kinds)
    for item in items:
        if not isinstance(item, kinds):
            raise DefinitionError(f"{what} must hold {names} objects, got {item!r}")


def check_unique(names: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DefinitionError(f"{what} has the name {name!r} twice: names must be unique")
        seen.add(name)


def close_matches(word: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return ""
    return " (did you mean " + ", ".join(repr(m) for m in matches) + "?)"
