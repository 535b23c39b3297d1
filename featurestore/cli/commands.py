"""Imports every command module so their commands register on the app."""

from __future__ import annotations

from featurestore.cli import (  # noqa: F401
    apply,
    data,
    erasure,
    inspection,
    listing,
    online,
    provenance,
    serve,
    versioning,
)
