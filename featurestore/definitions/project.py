"""``Project``: the project's name and description, as Feast declares it in definitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from featurestore.definitions._checks import FrozenDict, check_name, check_tags, check_text
from featurestore.errors import DefinitionError

__all__ = ["Project"]


@dataclass(frozen=True, init=False)
class Project:
    """The project these definitions belong to (Feast's ``Project``).

    Applying definitions that hold a ``Project`` checks its name against the project in
    the configuration file and refuses a mismatch; its description, tags and owner are
    kept in the registry, and so are Feast's ``created_timestamp`` and
    ``last_updated_timestamp`` when given (UTC; the history of the definitions is
    the commit log).
    """

    name: str
    description: str
    tags: FrozenDict[str, str]
    owner: str
    created_timestamp: datetime | None
    last_updated_timestamp: datetime | None

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        created_timestamp: datetime | None = None,
        last_updated_timestamp: datetime | None = None,
    ) -> None:
        check_name(name, "Project name")
        what = f"Project {name!r}"
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", check_text(description, f"{what} description"))
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))
        object.__setattr__(self, "owner", check_text(owner, f"{what} owner"))
        for attr, value in (
            ("created_timestamp", created_timestamp),
            ("last_updated_timestamp", last_updated_timestamp),
        ):
            object.__setattr__(self, attr, _utc(value, f"{what} {attr}"))


def _utc(value: object, what: str) -> datetime | None:
    """``value`` as a UTC datetime (naive times are UTC), or None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DefinitionError(f"{what} must be a datetime or None, not {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
