"""``Project``: the project's name and description, as Feast declares it in definitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from featurestore.definitions._checks import FrozenDict, check_name, check_tags, check_text

__all__ = ["Project"]


@dataclass(frozen=True, init=False)
class Project:
    """The project these definitions belong to (Feast's ``Project``).

    Applying definitions that hold a ``Project`` checks its name against the project in
    the configuration file and refuses a mismatch; its description, tags and owner are
    kept in the registry.
    """

    name: str
    description: str
    tags: FrozenDict[str, str]
    owner: str

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
    ) -> None:
        check_name(name, "Project name")
        what = f"Project {name!r}"
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", check_text(description, f"{what} description"))
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))
        object.__setattr__(self, "owner", check_text(owner, f"{what} owner"))
