"""Feast's feature logging settings of a service: accepted and kept, not acted on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from featurestore.definitions._checks import as_tuple, check_text
from featurestore.errors import DefinitionError

__all__ = ["FileLoggingDestination", "LoggingConfig"]


@dataclass(frozen=True, init=False)
class FileLoggingDestination:
    """A folder for logged features (Feast's ``FileLoggingDestination``)."""

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

    Kept in the registry with its service; the service does not write feature logs
    (every served value is traceable through the commit it was materialized from).
    """

    destination: FileLoggingDestination
    sample_rate: float

    def __init__(self, destination: FileLoggingDestination, sample_rate: float = 1.0) -> None:
        if not isinstance(destination, FileLoggingDestination):
            raise DefinitionError(
                f"LoggingConfig destination must be a FileLoggingDestination, not {destination!r}"
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
