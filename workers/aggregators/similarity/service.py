"""The `similarity` aggregator on the shared runtime, and its offline `refit`.

`run` serves it (`cochlea aggregator similarity`): it follows every featurebot annotation,
keeps the mfcc, chroma and onsets bots' output (`follower.Follower`), and commits batches
with their stream progress as one snapshot under `<data dir>/aggregators/similarity/index`
(every batch, except while a big index catches up: see `apply`).
While it runs it holds a lock on `similarity.lock` in that directory, so that `refit` (which
rewrites the snapshot) cannot race it: stop the aggregator, refit, start it again.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import strawberry

from api.settings import Settings
from workers.aggregators.runtime import (
    Context,
    Feed,
    Progress,
    progress_from_json,
    progress_to_json,
    serve,
    state_dir,
)
from workers.aggregators.similarity.follower import FILTER, SELECTION, Follower, Skip, Sources
from workers.aggregators.similarity.schema import build_schema
from workers.aggregators.similarity.state import Collection
from workers.sdk.batches import Edge

__all__ = ["NAME", "AlreadyRunning", "SimilarityAggregator", "refit", "run"]

NAME = "similarity"
ABOUT = (
    "Finds segments of sound that sound alike, and maps every segment onto a sphere. Follows "
    "the mfcc, chroma and onsets featurebots; embeds fixed 1 s windows (50 % overlap) and "
    "onset segments as MFCC and delta means and spreads plus chroma means, standardised with "
    "frozen statistics, unit length; a usearch HNSW index answers `similar(sound, time)` and "
    "`similarToVector`; a frozen PCA projection gives `map`. This user's infoUrl is its "
    "GraphQL endpoint."
)
STREAM = "annotationCreated"
BATCH = 200
"""Annotations per batch: each commit rewrites the snapshot, so not one per annotation."""
COMMIT_SHARE = 0.2
"""While catching up, commits take at most about this share of the time."""


class AlreadyRunning(RuntimeError):
    """Another process holds the aggregator's state directory."""


def _lock(directory: Path) -> IO[str]:
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / "similarity.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(
            f"another process uses {directory}: stop that aggregator first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class SimilarityAggregator:
    """The runtime's `Aggregator`: its collection, follower and schema."""

    name = NAME
    about = ABOUT

    def __init__(
        self, settings: Settings, *, sources: Sources | None = None, fit_min: int = 256
    ) -> None:
        self.settings = settings
        self.sources = sources or Sources()
        self.fit_min = fit_min
        feed = Feed(field=STREAM, selection=SELECTION, filter=FILTER, batch_size=BATCH)
        self.feeds: Sequence[Feed] = (feed,)
        self.collection = Collection(fit_min=fit_min)
        self.root = state_dir(settings, NAME) / "index"
        self._ctx: Context | None = None
        self._follower: Follower | None = None
        self._lock: IO[str] | None = None
        self._dirty = False
        self._saved_at, self._save_seconds = 0.0, 0.0

    def schema(self) -> strawberry.Schema:
        return build_schema()

    def open(self, ctx: Context) -> None:
        self._lock = _lock(ctx.state_dir)
        self._ctx = ctx
        self.root = ctx.state_dir / "index"
        self.collection = Collection.load(self.root, fit_min=self.fit_min)
        self._follower = Follower(self.collection, on_skip=self._skip, sources=self.sources)

    async def _skip(self, skip: Skip, node: dict[str, Any]) -> None:
        assert self._ctx is not None
        message = f"sound {skip.sound}: {skip.reason}"
        await asyncio.to_thread(
            self._ctx.skips.record,
            stream=STREAM,
            item=skip.annotation,
            code=skip.code,
            message=message,
        )

    def progress(self) -> Progress:
        return progress_from_json(self.collection.progress)

    async def apply(self, feed: Feed, edges: list[Edge], progress: Progress) -> None:
        """Apply a batch; commit it with `progress` unless the last commit was so recent
        that committing again would cost more than `COMMIT_SHARE` of the time (a big index
        catching up). `progress()` is always the in-memory progress, which matches the
        in-memory index: a fault resumes from there, a crash from the last commit."""
        assert self._follower is not None
        async with httpx.AsyncClient(timeout=60, trust_env=False, follow_redirects=True) as http:
            for edge in edges:
                await self._follower.handle(edge.node, http=http)
        self.collection.progress = progress_to_json(progress)
        self._dirty = True
        caught_up = len(edges) < feed.batch_size
        since = time.monotonic() - self._saved_at
        if caught_up or since * COMMIT_SHARE >= self._save_seconds:
            await asyncio.to_thread(self._save)

    def _save(self) -> None:
        started = time.monotonic()
        self.collection.save(self.root)
        self._saved_at = time.monotonic()
        self._save_seconds, self._dirty = self._saved_at - started, False

    def indexed(self) -> int:
        return len(self.collection.index)

    def close(self) -> None:
        if self._dirty:
            self._save()  # what a deferred commit still holds
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def run(settings: Settings, *, host: str, port: int) -> int:
    """Serve the similarity aggregator until SIGTERM or Ctrl-C (`cochlea aggregator similarity`)."""
    try:
        return serve(SimilarityAggregator(settings), settings, host=host, port=port)
    except AlreadyRunning as error:  # a second instance on the same data dir
        print(f"similarity: {error}", file=sys.stderr)
        return 1


def refit(settings: Settings) -> str:
    """Fit the statistics and the map again on everything indexed, freeze them and save
    (`cochlea aggregator similarity refit`); a one-line summary. Raises `AlreadyRunning`
    while the aggregator runs, ValueError when nothing is indexed."""
    directory = state_dir(settings, NAME)
    if not (directory / "index" / "CURRENT").is_file():
        raise ValueError(f"nothing is indexed yet: {directory} holds no index")
    lock = _lock(directory)
    try:
        collection = Collection.load(directory / "index")
        collection.refit()
        collection.save(directory / "index")
    finally:
        lock.close()
    segments, sounds = len(collection.index), len(collection.sounds)
    return f"refitted statistics and map on {segments:,} segments of {sounds:,} sounds"
