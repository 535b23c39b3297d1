"""Where and how often a feature service logs what it serves.

Every destination means the repository: the records go to the serving log, a versioned
table committed on the internal ``serving-log`` branch (see ``featurestore.serving_log``),
where ``store.explain`` and ``store.sql(..., ref="serving-log")`` read them.
``RepositoryLoggingDestination`` says so; Feast's ``FileLoggingDestination`` is accepted
for Feast's definitions and logs there too (its path is kept in the registry, no files
are written under it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from featurestore.definitions._checks import as_tuple, check_text
from featurestore.errors import DefinitionError

__all__ = ["FileLoggingDestination", "LoggingConfig", "RepositoryLoggingDestination"]


@dataclass(frozen=True)
class RepositoryLoggingDestination:
    """Log into the project's repository: the serving log on the ``serving-log`` branch."""



@dataclass(frozen=True, init=False)
class FileLoggingDestination:
    """Feast's ``FileLoggingDestination``: accepted, and logs into the repository's
    serving log like ``RepositoryLoggingDestination`` (``path`` is kept, not written)."""

    path: str
    partition_by: tuple[str, ...]

    def __init__(
        self,
        *,
        path: str,
        s3_endpoint_override: str = "",
        partition_by: Sequence[str] | None = None,
    ) -> None:
        check_text(path, "FileLoggingDestination path")
        if s3_endpoint_override:
            raise DefinitionError(
                "FileLoggingDestination: s3_endpoint_override is not supported; log to a "
                "local folder"
            )
        object.__setattr__(self, "path", path)
        object.__setattr__(
            self, "partition_by", as_tuple(partition_by, "FileLoggingDestination partition_by")
        )


@dataclass(frozen=True, init=False)
class LoggingConfig:
    """Where and how often a service logs the features it serves (Feast's ``LoggingConfig``).

    Kept in the registry with its service. Each online lookup through the service is
    logged with probability ``sample_rate`` (0: never, 1: every lookup) into the serving
    log, whichever destination is named (both mean the repository).
    """

    destination: FileLoggingDestination | RepositoryLoggingDestination
    sample_rate: float

    def __init__(
        self,
        destination: FileLoggingDestination | RepositoryLoggingDestination | None = None,
        sample_rate: float = 1.0,
    ) -> None:
        if destination is None:
            destination = RepositoryLoggingDestination()
        if not isinstance(destination, FileLoggingDestination | RepositoryLoggingDestination):
            raise DefinitionError(
                "LoggingConfig destination must be a RepositoryLoggingDestination or a "
                f"FileLoggingDestination, not {destination!r}"
            )
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, int | float)
            or not 0 <= sample_rate <= 1
        ):
            raise DefinitionError(
                f"LoggingConfig sample_rate must be a number from 0 to 1, not {sample_rate!r}"
            )
        object.__setattr__(self, "destination", destination)
        object.__setattr__(self, "sample_rate", float(sample_rate))
