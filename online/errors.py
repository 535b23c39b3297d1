"""Errors raised by the online store: one root, subclasses for what callers branch on."""

from __future__ import annotations


class OnlineError(Exception):
    """Root of every error raised by `online`."""


class ConnectionFailedError(OnlineError, ConnectionError):
    """The Redis server could not be reached or dropped the connection."""


class InvalidInputError(OnlineError, ValueError):
    """Arguments that cannot be stored: wrong lengths, bad names, null keys or times."""


class UnsupportedTypeError(OnlineError, TypeError):
    """An Arrow type (or Python value) that the online encoding does not handle."""


class CommandError(OnlineError):
    """Redis answered a command with an error."""


class DecodeError(OnlineError, ValueError):
    """A stored value does not match the type it is read as."""


class EmbeddedServerError(OnlineError, RuntimeError):
    """The embedded valkey-server could not be started or stopped."""
