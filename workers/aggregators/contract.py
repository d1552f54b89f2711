"""What an aggregator and the runtime agree on: feeds, progress, context, the protocol.

`workers.aggregators.runtime` documents how these fit together (and re-exports them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import strawberry

from api.settings import Settings
from workers.aggregators.skipped import SkipLog
from workers.sdk.batches import Edge
from workers.sdk.client import ApiClient
from workers.sdk.registry import BotIdentity

__all__ = [
    "Aggregator",
    "Context",
    "Feed",
    "FeedProgress",
    "Progress",
    "endpoint_url",
    "progress_from_json",
    "progress_to_json",
    "state_dir",
]


@dataclass(frozen=True)
class Feed:
    """One stream an aggregator follows. `filter` is the stream's filter (SoundFilter,
    AnnotationFilter); `resolve_filter`, when set, computes it once signed up (e.g. waiting
    for the mfcc bot to exist to filter on its id); `resolve_selection` likewise computes the
    node selection (e.g. asking for a field only if the API's schema has it)."""

    field: str
    selection: str
    filter: Mapping[str, Any] | None = None
    resolve_filter: Callable[[ApiClient], Awaitable[Mapping[str, Any] | None]] | None = None
    resolve_selection: Callable[[ApiClient], Awaitable[str]] | None = None
    batch_size: int = 500


@dataclass(frozen=True)
class FeedProgress:
    """How far a feed was committed: its last cursor and how many items were read."""

    cursor: str | None = None
    seen: int = 0


Progress = dict[str, FeedProgress]
"""By feed field (e.g. "soundCreated"); JSON-able via `progress_to_json`."""


def progress_to_json(progress: Progress) -> dict[str, Any]:
    return {k: {"cursor": v.cursor, "seen": v.seen} for k, v in progress.items()}


def progress_from_json(data: Mapping[str, Any] | None) -> Progress:
    return {
        str(k): FeedProgress(cursor=v.get("cursor"), seen=int(v.get("seen", 0)))
        for k, v in (data or {}).items()
    }


@dataclass
class Context:
    """What an aggregator gets when opened (and keeps, if it likes)."""

    name: str
    settings: Settings
    state_dir: Path
    skips: SkipLog
    url: str = field(default="")
    client: ApiClient | None = None
    identity: BotIdentity | None = None


class Aggregator(Protocol):
    name: str
    about: str
    feeds: Sequence[Feed]

    def schema(self) -> strawberry.Schema: ...

    def open(self, ctx: Context) -> None: ...

    def progress(self) -> Progress: ...

    async def apply(self, feed: Feed, edges: list[Edge], progress: Progress) -> None: ...

    def indexed(self) -> int: ...

    def close(self) -> None: ...


def state_dir(settings: Settings, name: str) -> Path:
    """Where aggregator `name` keeps its index, cursor and skip log."""
    return Path(settings.data_dir) / "aggregators" / name


def endpoint_url(host: str, port: int) -> str:
    """The GraphQL URL at which a server listening on host:port is reached from here."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/graphql"
