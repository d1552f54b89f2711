"""`cochlea import nsynth|musicnet|folder|manifest`: the dataset importers' commands."""

from __future__ import annotations

from typing import Any


def register(formats: Any) -> None:
    """Add the dataset formats to `cochlea import`'s sub-commands."""
