"""What lakeFS keeps with an object that our repository does not: its content type,
user metadata and upload time.

``repos`` versions bytes at paths; lakeFS clients also send a Content-Type and
``X-Lakefs-Meta-*`` headers and read them back in ``stat`` and ``ls``. They are kept
here, keyed by (path, checksum), in a SQLite file in the project's ``.featurestore``
folder (local state, like the trust list): an entry belongs to those bytes at that
path, so it follows them through commits, branches and merges. An object that no
lakeFS client wrote has none: it reads as ``application/octet-stream`` (or the type
its extension names), no metadata, and the time of its stored bytes.
"""

from __future__ import annotations

import json
import mimetypes
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = ["AttributeStore", "Attributes", "default_content_type"]

FILE: Final = ".featurestore/lakefs-objects.sqlite"
OCTET: Final = "application/octet-stream"
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS attributes (path TEXT NOT NULL, checksum TEXT NOT NULL, "
    "content_type TEXT NOT NULL, metadata TEXT NOT NULL, mtime INTEGER NOT NULL, "
    "PRIMARY KEY (path, checksum))"
)
_BATCH: Final = 400


@dataclass(frozen=True)
class Attributes:
    """An object's content type, user metadata and upload time (Unix seconds)."""

    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    mtime: int | None = None


def default_content_type(path: str) -> str:
    """The content type of an object no lakeFS client described: by its extension."""
    if path.endswith(".parquet"):
        return OCTET
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or OCTET


class AttributeStore:
    """The attributes file of one project folder."""

    def __init__(self, project_dir: Path) -> None:
        self.path = Path(project_dir).resolve() / FILE

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.path.parent / ".gitignore"
        if not ignore.exists():  # local state: keep it out of the project's version control
            ignore.write_text("*\n")
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        return conn

    def record(
        self, path: str, checksum: str, content_type: str, metadata: Mapping[str, str]
    ) -> Attributes:
        """Keep the attributes of ``checksum``'s bytes at ``path`` (now as their time)."""
        now = int(time.time())
        conn = self._connect()
        try:
            conn.execute(
                "INSERT OR REPLACE INTO attributes VALUES (?, ?, ?, ?, ?)",
                (path, checksum, content_type, json.dumps(dict(metadata), sort_keys=True), now),
            )
        finally:
            conn.close()
        return Attributes(content_type, dict(metadata), now)

    def get(self, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Attributes]:
        """The kept attributes of each (path, checksum) that has them."""
        wanted = list(dict.fromkeys(items))
        if not wanted or not self.path.exists():
            return {}
        out: dict[tuple[str, str], Attributes] = {}
        conn = self._connect()
        try:
            for i in range(0, len(wanted), _BATCH):
                chunk = wanted[i : i + _BATCH]
                where = " OR ".join("(path = ? AND checksum = ?)" for _ in chunk)
                args = [v for pair in chunk for v in pair]
                for p, c, ctype, meta, mtime in conn.execute(
                    "SELECT path, checksum, content_type, metadata, mtime FROM attributes "
                    f"WHERE {where}",
                    args,
                ):
                    out[(p, c)] = Attributes(ctype, json.loads(meta), int(mtime))
        finally:
            conn.close()
        return out
