"""Opening the project's ``FeatureStore`` for one command, and failing in one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import typer

from featurestore.cli.app import error_exit, project_dir
from featurestore.config import load_config
from featurestore.errors import FeatureStoreError
from featurestore.store import FeatureStore
from repos import ReposError, Repository

__all__ = ["CommandError", "describe", "fail", "open_repository", "open_store"]

# What a command may raise that is the user's or the environment's fault, not a bug.
CommandError = (FeatureStoreError, ReposError, OSError, pa.ArrowException)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on one line of stderr (passwords redacted); raise the
    result to exit 1."""
    return error_exit(message)


# Settings the environment can override, and words an error about each one holds.
_FROM_ENV = (
    ("FEATURESTORE_METADATA_URL", "metadata"),
    ("FEATURESTORE_STORAGE", "repository"),
    ("REDIS_URL", "Redis"),
    ("FEATURESTORE_API_KEYS", "api_keys"),
)


def describe(error: BaseException) -> str:
    """The error's message, prefixed by its type when the message alone is unclear, and
    naming the environment variable that set the value when one did."""
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename}"
    for var, words in _FROM_ENV:
        if os.environ.get(var) and words in text and var not in text:
            text += f" (set by the environment variable {var})"
    return text


@contextmanager
def open_repository(project: Path | None) -> Iterator[Repository]:
    """The project's repository alone (no online store), closed afterwards.

    Errors become one line on stderr and exit status 1.
    """
    try:
        cfg = load_config(project_dir(project))
        repo = Repository.open(
            cfg.storage_location, cfg.metadata_url, storage_options=cfg.storage_options.fsspec()
        )
    except CommandError as e:
        raise fail(describe(e)) from None
    try:
        yield repo
    except CommandError as e:
        raise fail(describe(e)) from None
    finally:
        repo.close()


@contextmanager
def open_store(project: Path | None) -> Iterator[FeatureStore]:
    """The project's store, closed afterwards (stopping an embedded Redis it started).

    Errors from the store, files or Arrow become one line on stderr and exit status 1.
    """
    try:
        store = FeatureStore(project_dir(project))
    except CommandError as e:
        raise fail(describe(e)) from None
    try:
        yield store
    except CommandError as e:
        raise fail(describe(e)) from None
    finally:
        store.close()
