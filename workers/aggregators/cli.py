"""`cochlea aggregator search|similarity`: run one aggregator with its own GraphQL endpoint."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Add `aggregator` to the `cochlea` command parser."""
