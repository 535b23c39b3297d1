"""Imports every command module so their commands register on the app."""

from __future__ import annotations
