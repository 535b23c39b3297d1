"""Imports every command module so their commands register on the app."""

from __future__ import annotations

from featurestore.cli import apply, data, online, serve, versioning  # noqa: F401
