"""Immutable records returned by the ``repos`` API."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Final, Generic, Literal, TypeVar

__all__ = ["Change", "ChangeList", "Commit", "CommitLog", "GCResult", "HookEvent", "ObjectInfo"]

SHORT_ID: Final = 12
"""Characters of a commit id that reprs show."""
SHOWN: Final = 20
"""Items a log or change list shows in its repr (it stays an iterator)."""
T = TypeVar("T")

HookEventType = Literal["pre-commit", "pre-merge", "post-commit", "post-merge"]


@dataclass(frozen=True)
class Commit:
    """One commit: its id is the sha256 of the canonical record of the other fields."""

    id: str
    parents: tuple[str, ...]
    message: str
    metadata: Mapping[str, str]
    author: str
    creation_date: datetime
    meta_range_id: str

    @property
    def short_id(self) -> str:
        """The first 12 characters of the id, as the command line prints it."""
        return self.id[:SHORT_ID]

    def _when(self) -> str:
        return self.creation_date.strftime("%Y-%m-%d %H:%M:%S %Z").strip()

    def __repr__(self) -> str:
        merge = f", merge of {len(self.parents)}" if len(self.parents) > 1 else ""
        return (
            f"<Commit {self.short_id} {self.message!r} by {self.author} at {self._when()}{merge}>"
        )

    def _repr_html_(self) -> str:
        """The commit as a small HTML table (Jupyter)."""
        rows = [
            ("commit", f"<code>{escape(self.id)}</code>"),
            ("parents", " ".join(f"<code>{escape(p[:SHORT_ID])}</code>" for p in self.parents)),
            ("author", escape(self.author)),
            ("date", escape(self._when())),
            ("message", escape(self.message)),
            *((f"meta {escape(k)}", escape(v)) for k, v in sorted(self.metadata.items())),
        ]
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"


@dataclass(frozen=True)
class Change:
    """One path that differs between two trees (``size`` is the new size, if any)."""

    type: Literal["added", "removed", "changed"]
    path: str
    size: int | None

    def __repr__(self) -> str:
        size = "" if self.size is None else f" ({self.size} bytes)"
        return f"<Change {self.type} {self.path}{size}>"


@dataclass(frozen=True)
class ObjectInfo:
    """An object at a path: ``physical_address`` is a local file path or fsspec URL."""

    path: str
    size: int
    checksum: str
    physical_address: str


@dataclass(frozen=True)
class GCResult:
    """What a garbage collection removed."""

    objects_removed: int
    bytes_removed: int


@dataclass(frozen=True)
class HookEvent:
    """What a hook is told: the branch, the changes and the message of the operation."""

    type: HookEventType
    branch: str
    changes: tuple[Change, ...]
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    source_ref: str | None = None
    commit: Commit | None = None


class _Peekable(Iterator[T], Generic[T]):
    """An iterator whose repr shows the next items without using them up."""

    _noun: str = "items"

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items
        self._ahead: deque[T] = deque()

    def __iter__(self) -> _Peekable[T]:
        return self

    def __next__(self) -> T:
        if self._ahead:
            return self._ahead.popleft()
        return next(self._items)

    def peek(self, n: int = SHOWN) -> list[T]:
        """The next ``n`` items (fewer at the end), still to come from iterating."""
        while len(self._ahead) < n:
            try:
                self._ahead.append(next(self._items))
            except StopIteration:
                break
        return list(self._ahead)[:n]

    def _head(self) -> tuple[list[T], bool]:
        shown = self.peek(SHOWN + 1)
        return shown[:SHOWN], len(shown) > SHOWN

    def _line(self, item: T) -> str:
        return repr(item)

    def _cells(self, item: T) -> tuple[str, ...]:
        return (escape(repr(item)),)

    _columns: tuple[str, ...] = ("item",)

    def __repr__(self) -> str:
        shown, more = self._head()
        if not shown:
            return f"<{type(self).__name__}: no {self._noun}>"
        lines = [f"  {self._line(i)}" for i in shown] + (["  ..."] if more else [])
        return f"<{type(self).__name__}:\n" + "\n".join(lines) + "\n>"

    def _repr_html_(self) -> str:
        """The next items as an HTML table (Jupyter); iterating still yields them."""
        shown, more = self._head()
        if not shown:
            return f"<p>No {self._noun}.</p>"
        head = "".join(f"<th>{c}</th>" for c in self._columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{c}</td>" for c in self._cells(i)) + "</tr>" for i in shown
        )
        tail = f"<p>first {SHOWN} shown; iterate for the rest</p>" if more else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{tail}"


class CommitLog(_Peekable[Commit]):
    """Commits newest first, as ``Reference.log`` yields them: an iterator whose repr
    shows the next commits (short id, time, author, message)."""

    _noun = "commits"
    _columns = ("commit", "date", "author", "message")

    def _line(self, item: Commit) -> str:
        return f"{item.short_id} {item._when()} {item.author}: {item.message}"

    def _cells(self, item: Commit) -> tuple[str, ...]:
        return (
            f"<code>{item.short_id}</code>",
            escape(item._when()),
            escape(item.author),
            escape(item.message),
        )


class ChangeList(_Peekable[Change]):
    """Changed paths, as ``diff`` and ``uncommitted`` yield them: an iterator whose repr
    shows the next changes."""

    _noun = "changes"
    _columns = ("change", "path", "size")

    def _line(self, item: Change) -> str:
        return f"{item.type:<8} {item.path}" + ("" if item.size is None else f" ({item.size})")

    def _cells(self, item: Change) -> tuple[str, ...]:
        return (item.type, escape(item.path), "" if item.size is None else str(item.size))
