"""The metadata database (SQLAlchemy 2 Core): refs, commits, staging, settings, rewrites."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

settings = sa.Table(
    "repos_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

branches = sa.Table(
    "repos_branches",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("head", sa.String(64), nullable=False),
    sa.Column("staging_token", sa.String(64), nullable=False),
)

tags = sa.Table(
    "repos_tags",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("commit_id", sa.String(64), nullable=False),
)

commits = sa.Table(
    "repos_commits",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("parents", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("creation_date", sa.String(40), nullable=False),
    sa.Column("meta_range_id", sa.String(64), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
)
commits_generation = sa.Index("repos_commits_generation", commits.c.generation)
"""The log's walk fetches commits a window of generations at a time (``repos._log``)."""

staging = sa.Table(
    "repos_staging",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("checksum", sa.String(64), nullable=True),  # NULL: a staged deletion
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("stamp", sa.String(32), nullable=False),
    sa.Index("repos_staging_stamp", "token", "stamp"),
    sa.Index("repos_staging_checksum", "checksum"),
)
staging_path_c = sa.Index(
    "repos_staging_path_c", staging.c.token, staging.c.path.collate("C")
).ddl_if(dialect="postgresql")
"""Staged rows in code-point order on PostgreSQL, whose default collation orders text
otherwise: the seek of ``Reference.objects(after=)`` reads an index range, not the branch's
whole staging. SQLite's primary key is already in that order."""

# Objects a writer is putting: recorded before the bytes land, cleared in the transaction
# that stages or commits them; GC keeps every object with an intent younger than its grace.
intents = sa.Table(
    "repos_intents",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("token", sa.String(32), nullable=False, index=True),
    sa.Column("checksum", sa.String(64), nullable=False, index=True),
    sa.Column("created", sa.Float, nullable=False),
)

# Commits that no ref reached when GC last swept and older than its retention: their objects
# may be gone, so no ref may point at them again.
expired = sa.Table(
    "repos_expired",
    metadata,
    sa.Column("commit_id", sa.String(64), primary_key=True),
)

# History rewrites (``repos._rewrite``): each one, the old -> new commit ids it made (an
# old id resolves to the newest commit that replaced it), and the objects it replaced, which
# GC collects whatever their age once nothing reachable names them.
rewrites = sa.Table(
    "repos_rewrites",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("objects", sa.Integer, nullable=False),
)

rewritten = sa.Table(
    "repos_rewritten",
    metadata,
    sa.Column("old_id", sa.String(64), primary_key=True),
    sa.Column("new_id", sa.String(64), nullable=False, index=True),
    sa.Column("rewrite_id", sa.String(32), nullable=False),
)

redacted = sa.Table(
    "repos_redacted",
    metadata,
    sa.Column("checksum", sa.String(64), primary_key=True),
)

protected = sa.Table(
    "repos_protected",
    metadata,
    sa.Column("pattern", sa.String(256), primary_key=True),
)


_POSTGRES_DRIVERS = ("psycopg", "psycopg2", "psycopg_binary")


def _create_engine(url: str) -> Engine:
    """``sa.create_engine``; an unknown database or a driver that is not installed is an
    ``InvalidNameError`` saying what to install or write instead."""
    from repos.errors import InvalidNameError

    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as e:
        shown = _shown(url)
        missing = (e.name or "").split(".")[0]
        if missing in _POSTGRES_DRIVERS:
            raise InvalidNameError(
                f"the metadata URL{shown} needs the PostgreSQL driver {missing}, which is not "
                "installed: pip install 'featurestore[postgres]' (and use postgresql+psycopg://)"
            ) from None
        raise InvalidNameError(
            f"the metadata URL{shown} needs the Python module {missing or e}, which is not "
            "installed: install it, or use sqlite:///PATH or postgresql+psycopg://..."
        ) from None
    except (sa.exc.NoSuchModuleError, sa.exc.ArgumentError) as e:
        raise InvalidNameError(
            f"invalid metadata URL{_shown(url)}: use sqlite:///PATH or "
            f"postgresql+psycopg://USER@HOST/DB ({' '.join(str(e).split())})"
        ) from None


def _shown(url: str) -> str:
    """`` 'url'`` with its password hidden, for messages ("" if it does not parse)."""
    try:
        return " " + repr(sa.engine.make_url(url).render_as_string(hide_password=True))
    except Exception:
        return ""


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for writers."""
    if not url.startswith("sqlite"):
        return _create_engine(url)
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
