"""`cochlea import labels|labelstudio` and `cochlea export`: label files in and out."""

from __future__ import annotations

from typing import Any


def register(formats: Any, commands: Any) -> None:
    """Add `labels` and `labelstudio` to `cochlea import`, and `export` to `cochlea`."""
