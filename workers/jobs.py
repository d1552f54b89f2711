"""The featurebot job: one source resource in, the bot's annotation(s) out.

Audio bots fetch the sound (SSRF-guarded, over the runtime's keep-alive clients) into a spool
file in the event loop, then decode, compute and write the array in the process pool
(`workers.bots.compute.run_job`), commit the array (its fsync) in the event loop, and annotate.
Spectral bots read the stft bot's array from the store by bucket and key (not through its
public URL, which may be unreachable from here), compute and write in the pool too. The pool
thus only computes, while the network and disk waits of the other jobs in flight overlap it.
At most `spool_slots` sounds are fetched or waiting for the pool at once (each is a file).
Annotations of jobs finishing together leave in one call (`workers.bots.batching`).
Every step is idempotent: objects are overwritten with the same bytes, annotations carry keys.
The job runs under `failures.guarded`, so errors end as retries or recorded failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from workers import failures
from workers.audio import FetchClients, fetch_audio
from workers.bots import BOTS, Namespace
from workers.bots.batching import AnnotationBatcher
from workers.bots.compute import Computed, Job, run_job
from workers.bots.publish import array_annotation, onset_annotations
from workers.sdk.arrays import ArrayStore, bucket_name, object_key
from workers.sdk.client import ApiClient
from workers.ssrf import IPNetwork

__all__ = ["FUNCTION_NAME", "Runtime", "featurebot", "process"]

FUNCTION_NAME = "featurebot"
"""The arq function every bot's jobs call: `featurebot(bot, node)`."""

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Runtime:
    """What jobs share within one worker process (kept in arq's `ctx["runtime"]`)."""

    namespace: Namespace
    store: ArrayStore
    clients: dict[str, ApiClient]
    """One API client per bot, authenticated with that bot's key."""
    make_pool: Callable[[], ProcessPoolExecutor]
    allow_networks: list[IPNetwork]
    max_bytes: int
    max_seconds: float = 2 * 3600
    policy: failures.RetryPolicy = field(default_factory=failures.RetryPolicy)
    spool_slots: int = 4
    """Sounds fetched or spooled at once, waiting for the pool: its processes + 2 keep the
    next sound ready while one computes, without spooling a whole backlog."""
    spool_root: str | None = None
    """Where spool directories go (None: the system's temporary directory)."""
    _pool: ProcessPoolExecutor | None = None
    _batchers: dict[str, AnnotationBatcher] = field(default_factory=dict)
    _fetch_clients: FetchClients = field(default_factory=FetchClients)
    _spool_dir: str | None = None
    _spooling: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def spooled(self, url: str) -> AsyncIterator[str]:
        """Fetch `url` (SSRF-guarded) into a spool file; its path while the block runs."""
        if self._spooling is None:
            self._spooling = asyncio.Semaphore(self.spool_slots)
        if self._spool_dir is None:
            self._spool_dir = open_spool(self.spool_root)
        async with self._spooling:
            fd, path = tempfile.mkstemp(dir=self._spool_dir, suffix=".audio")
            try:
                with os.fdopen(fd, "wb") as file:
                    await fetch_audio(
                        url,
                        allow_networks=self.allow_networks,
                        max_bytes=self.max_bytes,
                        clients=self._fetch_clients,
                        into=file,
                    )
                yield path
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def batcher(self, bot: str) -> AnnotationBatcher:
        """`bot`'s annotation calls, coalesced across its jobs (`workers.bots.batching`)."""
        if bot not in self._batchers:
            self._batchers[bot] = AnnotationBatcher(self.clients[bot])
        return self._batchers[bot]

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self.make_pool()
        return self._pool

    async def compute(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` in the process pool; a pool broken by a dead child (killed
        by the kernel for memory, say) is replaced so later jobs still run."""
        pool = self.pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def aclose(self) -> None:
        """Stop the pool, close the fetch connections, remove the spool directory."""
        await asyncio.to_thread(self.shutdown)
        self._fetch_clients.close()
        if self._spool_dir is not None:
            shutil.rmtree(self._spool_dir, ignore_errors=True)
            self._spool_dir = None


SPOOL_PREFIX = "cochlea-spool-"


def open_spool(root: str | None) -> str:
    """A new spool directory for this process (`cochlea-spool-<pid>-…`), after removing
    those of processes that are gone: a worker killed by SIGKILL or the OOM killer never ran
    its `aclose`, and its spool may hold hours of audio."""
    parent = Path(root or tempfile.gettempdir())
    for old in parent.glob(f"{SPOOL_PREFIX}*-*"):
        pid = old.name[len(SPOOL_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
            log.info("removed the spool of process %s, which is gone: %s", pid, old)
    return tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


async def featurebot(ctx: dict[str, Any], bot: str, node: dict[str, Any]) -> dict[str, Any]:
    """The arq job: run bot `bot` on stream item `node` (a sound or an stft annotation)."""
    runtime: Runtime = ctx["runtime"]
    outcome = await failures.guarded(
        redis=ctx["redis"],
        namespace=runtime.namespace,
        job_id=str(ctx["job_id"]),
        bot=bot,
        node=node,
        attempt=int(ctx["job_try"]),
        policy=runtime.policy,
        work=lambda: process(runtime=runtime, bot=bot, node=node),
    )
    if isinstance(outcome, failures.Failure):
        return {"failed": outcome.code, "reason": outcome.reason}
    return outcome


async def process(*, runtime: Runtime, bot: str, node: dict[str, Any]) -> dict[str, Any]:
    """Compute, store and annotate. Returns the sound, how many annotations the job made (or
    found, when they existed already) and the first one's id (None when there are none)."""
    spec = BOTS[bot]
    source_id = str(node["id"])
    if spec.follows == "sound":
        sound_id, duration = source_id, float(node["durationSeconds"])
        audio_url: str | None = str(node["audioUrl"])
    else:
        sound_id, duration = str(node["sound"]["id"]), float(node["durationSeconds"])
        audio_url = None
    job = Job(
        bot=bot,
        source_id=source_id,
        sound_id=sound_id,
        store=runtime.store,
        max_seconds=runtime.max_seconds,
    )
    if audio_url is None:
        computed = await runtime.compute(run_job, job)
    else:
        async with runtime.spooled(audio_url) as path:
            computed = await runtime.compute(run_job, replace(job, audio_path=path))
    inputs = await _inputs(
        runtime=runtime, bot=bot, computed=computed, source_id=source_id, sound_id=sound_id,
        duration=duration,
    )  # fmt: skip
    ids = await runtime.batcher(bot).create(inputs)
    log.info("%s: %s -> %d annotation(s)", bot, source_id, len(ids))
    return {"sound": sound_id, "annotations": len(ids), "first": ids[0] if ids else None}


async def _inputs(
    *,
    runtime: Runtime,
    bot: str,
    computed: Computed,
    source_id: str,
    sound_id: str,
    duration: float,
) -> list[dict[str, Any]]:
    if computed.segments is not None:
        return onset_annotations(
            bot=bot, sound_id=sound_id, duration=duration, segments=computed.segments
        )
    assert computed.metadata is not None
    if computed.staged is not None:
        url = await runtime.store.commit(computed.staged)
    else:
        assert computed.npy is not None
        url = await runtime.store.put(
            bucket=bucket_name(bot=bot), key=object_key(source_id=sound_id), data=computed.npy
        )
    annotation = array_annotation(
        bot=bot,
        source_id=source_id,
        sound_id=sound_id,
        duration=duration,
        data_url=url,
        metadata=computed.metadata,
        tags=computed.tags,
    )
    return [annotation]
