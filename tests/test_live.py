"""The shared live reader (`api.services.live`): its in-memory filters agree with the SQL ones,
subscribers joining mid-write see everything once in order, a slow one drops back to catching
up without loss, and database reads per commit do not grow with the subscriber count."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.engine import create_engine
from api.db.tables import annotations_table, sounds_table, users_table
from api.events import EventHub
from api.services import cursors
from api.services.filters import AnnotationFilter, SoundFilter, TimeRange
from api.services.follow import follow_pages
from api.services.live import LiveReader, annotation_matches, sound_matches
from api.services.pagination import PageRequest
from api.services.reading import ANNOTATIONS, SOUNDS, list_page
from api.settings import Settings
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient

TAGS = ("Bird", "bird ", "CAR", "rain", "Wind", "voice")
TYPES = ("HUMAN", "DATASET", "FEATUREBOT", "AGGREGATOR")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    made = create_engine(settings.database_url or "", pool_size=4)
    yield made
    await made.dispose()


@pytest.fixture
async def owned(engine: AsyncEngine) -> AsyncIterator[list[Any]]:
    """Readers and listener tasks a test started: stopped before the engine goes (a failed
    test must not leave them holding connections)."""
    started: list[Any] = []
    yield started
    for thing in reversed(started):
        if isinstance(thing, LiveReader):
            await thing.stop()
        else:
            thing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await thing


@pytest.fixture
async def hub(settings: Settings, engine: AsyncEngine) -> AsyncIterator[EventHub]:
    """Wake-ups from the API process reach this process over Redis, as in a second API."""
    events = EventHub(settings.redis_url, engine=engine)
    await events.start()
    await asyncio.sleep(0.2)  # subscribed to the wake-up channels
    yield events
    await events.stop()


def _note(rng: random.Random, sound: str) -> dict[str, Any]:
    note: dict[str, Any] = {
        "sound": sound,
        "startSeconds": float(rng.randint(0, 50)),
        "durationSeconds": rng.choice([0.5, 1.0, 5.0]),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
    }
    if rng.random() < 0.4 or not note["tags"]:
        note["dataUrl"] = f"http://127.0.0.1:9/{uuid.uuid4().hex}.npy"
    return note


def _filters(rng: random.Random, sounds: Sequence[str], users: Sequence[str]) -> list[Any]:
    def maybe(values: Sequence[Any]) -> Any:
        return rng.choice([None, *values])

    made: list[Any] = [None, AnnotationFilter()]
    for _ in range(120):
        start = rng.choice([0.0, 10.0, 25.5, 50.0])
        made.append(
            AnnotationFilter(
                sound=maybe([uuid.UUID(s) for s in sounds]),
                created_by=maybe([uuid.UUID(u) for u in users]) if rng.random() < 0.4 else None,
                creator_type=maybe(TYPES) if rng.random() < 0.4 else None,
                tags=tuple(rng.sample([*TAGS, "RAIN", " Voice"], rng.randint(0, 2))),
                with_tags=maybe([True, False]),
                has_data=maybe([True, False]),
                time_range=maybe([TimeRange(start, start + rng.choice([0.0, 1.0, 20.0]))]),
            )
        )
    return made


async def _users(engine: AsyncEngine, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(users_table.c.id, users_table.c.type).where(users_table.c.id.in_(ids))
        )
        return {r.id: r.type for r in rows}


async def test_in_memory_filters_agree_with_sql(gql: GraphQLClient, engine: AsyncEngine) -> None:
    rng = random.Random(7)
    users = [await make_user(gql, t) for t in ("HUMAN", "DATASET", "FEATUREBOT", "FEATUREBOT")]
    sounds = [
        s["id"]
        for n, u in enumerate(users[:2])
        for s in await make_sounds(
            gql,
            u,
            [
                sound_input(tags=rng.sample(TAGS, n + 1), license=lic)
                for lic in ("CC_BY", "CC0", "CC_BY")
            ],
        )
    ]
    for user in users:
        await make_annotations(gql, user, [_note(rng, rng.choice(sounds)) for _ in range(60)])
    ours = annotations_table.c.sound_id.in_([uuid.UUID(s) for s in sounds])
    request = PageRequest(first=500)
    everything = (
        await list_page(
            engine=engine, kind=ANNOTATIONS, filter=None, request=request, max_size=500, extra=ours
        )
    ).items
    assert len(everything) == 240
    types = await _users(engine, {r.created_by for r in everything})
    nonempty = 0
    for f in _filters(rng, sounds, [u.id for u in users]):
        sql = await list_page(
            engine=engine, kind=ANNOTATIONS, filter=f, request=request, max_size=500, extra=ours
        )
        memory = [r.id for r in everything if annotation_matches(f, r, types)]
        assert memory == sql.ids, f
        nonempty += bool(memory)
    assert nonempty > 40, "the generated filters select something"

    mine = sounds_table.c.id.in_([uuid.UUID(s) for s in sounds])
    all_sounds = (
        await list_page(
            engine=engine, kind=SOUNDS, filter=None, request=request, max_size=500, extra=mine
        )
    ).items
    types = await _users(engine, {r.created_by for r in all_sounds})
    for _ in range(60):
        sf = SoundFilter(
            created_by=rng.choice([None, *(uuid.UUID(u.id) for u in users)]),
            creator_type=rng.choice([None, *TYPES]),
            tags=tuple(rng.sample([*TAGS, "bird"], rng.randint(0, 2))),
            license=rng.choice([None, "CC_BY", "CC0"]),
        )
        sql = await list_page(
            engine=engine, kind=SOUNDS, filter=sf, request=request, max_size=500, extra=mine
        )
        assert [r.id for r in all_sounds if sound_matches(sf, r, types)] == sql.ids, sf


async def _first(gql: GraphQLClient, sound: str) -> str:
    query = """query($f: AnnotationFilter) { annotations(order: ASC, first: 1, filter: $f) {
      pageInfo { endCursor } } }"""
    return str((await gql(query, {"f": {"sound": sound}}))["annotations"]["pageInfo"]["endCursor"])


async def _collect(
    engine: AsyncEngine,
    hub: EventHub,
    reader: LiveReader[Any] | None,
    flt: AnnotationFilter,
    after: str,
    count: int,
    *,
    pause: float = 0.0,
) -> list[str]:
    """Ids of the first `count` items after `after`; `pause` s between pages (slow consumer)."""
    got: list[str] = []
    pages = follow_pages(
        engine=engine,
        kind=ANNOTATIONS,
        filter=flt,
        after=after,
        signal=lambda: hub.signal("annotation"),
        page_size=50,
        reader=reader,
    )
    async with aclosing(pages):
        async for page in pages:
            got += [str(record.id) for _, record in page]
            if len(got) >= count:
                return got
            await asyncio.sleep(pause)
    return got


async def _write(gql: GraphQLClient, owner: Account, sound: str, total: int, seed: int) -> None:
    rng = random.Random(seed)
    done = 0
    while done < total:
        size = min(rng.randint(1, 40), total - done)
        await make_annotations(gql, owner, [_note(rng, sound) for _ in range(size)])
        done += size
        await asyncio.sleep(rng.random() * 0.02)


async def _all_ids(engine: AsyncEngine, sound: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(annotations_table.c.id)
            .where(annotations_table.c.sound_id == uuid.UUID(sound))
            .order_by(annotations_table.c.id)
        )
        return [str(r.id) for r in rows]


async def test_joining_while_writes_are_in_flight(
    gql: GraphQLClient, engine: AsyncEngine, hub: EventHub, owned: list[Any]
) -> None:
    """Twelve subscribers join one reader at staggered moments, from cursors at different
    depths, while three writers commit: each sees exactly what follows its cursor."""
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    await make_annotations(gql, owner, [_note(random.Random(1), sound["id"]) for _ in range(200)])
    start = await _first(gql, sound["id"])
    reader = LiveReader(
        engine=engine, kind=ANNOTATIONS, signal=lambda: hub.signal("annotation"), page_size=100
    )
    owned.append(reader)
    flt = AnnotationFilter(sound=uuid.UUID(sound["id"]))
    writers = asyncio.gather(*(_write(gql, owner, sound["id"], 150, n) for n in range(3)))
    total = 199 + 450
    listeners = []
    for n in range(12):
        await asyncio.sleep(0.05 * n)
        listeners.append(asyncio.ensure_future(_collect(engine, hub, reader, flt, start, total)))
        owned.append(listeners[-1])
    await writers
    results = await asyncio.wait_for(asyncio.gather(*listeners), 60)
    expected = (await _all_ids(engine, sound["id"]))[1:]
    assert len(expected) == total
    for got in results:
        assert got == expected


async def test_a_slow_consumer_falls_back_to_catching_up(
    gql: GraphQLClient, engine: AsyncEngine, hub: EventHub, owned: list[Any]
) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    await make_annotations(gql, owner, [_note(random.Random(2), sound["id"])])
    start = await _first(gql, sound["id"])
    reader = LiveReader(
        engine=engine,
        kind=ANNOTATIONS,
        signal=lambda: hub.signal("annotation"),
        buffer=30,
    )
    flt = AnnotationFilter(sound=uuid.UUID(sound["id"]))
    fast = asyncio.ensure_future(_collect(engine, hub, reader, flt, start, 400))
    slow = asyncio.ensure_future(_collect(engine, hub, reader, flt, start, 400, pause=0.3))
    owned.extend([reader, fast, slow])
    await asyncio.sleep(0.3)  # both caught up and joined
    taps = list(reader._taps)
    assert len(taps) == 2
    await _write(gql, owner, sound["id"], 400, 3)
    fast_got = await asyncio.wait_for(fast, 30)
    assert any(t.overflowed for t in taps), "the slow subscriber's buffer overflowed"
    assert all(len(t.items) <= 30 for t in taps), "no tap holds more than its buffer"
    slow_got = await asyncio.wait_for(slow, 60)
    expected = (await _all_ids(engine, sound["id"]))[1:]
    assert fast_got == slow_got == expected


async def test_reads_per_commit_do_not_grow_with_subscribers(
    gql: GraphQLClient, engine: AsyncEngine, hub: EventHub
) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    await make_annotations(gql, owner, [_note(random.Random(4), sound["id"])])
    flt = AnnotationFilter(sound=uuid.UUID(sound["id"]))
    reads = []
    for subscribers in (1, 25):
        reader = LiveReader(
            engine=engine, kind=ANNOTATIONS, signal=lambda: hub.signal("annotation")
        )
        cursor = cursors.encode("annotation", uuid.UUID((await _all_ids(engine, sound["id"]))[-1]))
        listeners = [
            asyncio.ensure_future(_collect(engine, hub, reader, flt, cursor, 10))
            for _ in range(subscribers)
        ]
        await asyncio.sleep(0.5)
        before = reader.reads
        for n in range(10):
            await make_annotations(gql, owner, [_note(random.Random(n), sound["id"])])
            await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*listeners), 30)
        reads.append(reader.reads - before)
    assert reads[1] <= reads[0] + 3, reads  # 25 subscribers: about the reads of one
    assert reads[0] <= 10 * 2 + 2, reads  # about one page read per commit (plus creators)
