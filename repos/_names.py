"""Validation of branch and tag names, and of object paths."""

from __future__ import annotations

import re

from repos.errors import InvalidNameError

_NAME = re.compile(r"^\w[-\w]*$")


def check_name(name: object, kind: str = "branch") -> str:
    """Return ``name`` if it is a valid branch/tag name (lakeFS rules: ``^\\w[-\\w]*$``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidNameError(
            f"invalid {kind} name {name!r}: use letters, digits, '_' and '-', "
            "starting with a letter, digit or '_'"
        )
    return name


def check_path(path: object) -> str:
    """Return ``path`` if it is relative, '/'-separated and cannot escape the repository."""
    if not isinstance(path, str) or not path:
        raise InvalidNameError(f"invalid path {path!r}: give a non-empty relative path string")
    if "\x00" in path:
        raise InvalidNameError(f"invalid path {path!r}: paths may not contain NUL")
    if path.startswith("/") or "\\" in path:
        raise InvalidNameError(
            f"invalid path {path!r}: use a relative path with '/' separators, like 'a/b.parquet'"
        )
    if any(part in ("..", ".") for part in path.split("/")):
        raise InvalidNameError(f"invalid path {path!r}: '.' and '..' segments are not allowed")
    return path


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a string usable as a path prefix ('' means all)."""
    if not isinstance(prefix, str) or "\x00" in prefix:
        raise InvalidNameError(f"invalid prefix {prefix!r}: give a string without NUL")
    return prefix
