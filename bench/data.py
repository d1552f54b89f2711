"""A realistic data set, built through the API's own batch mutations (so building it is itself
an ingest figure).

    python -m bench.data [--sounds 1000] [--annotations 50000] [--writers 4]

Dataset users publish sounds (30 s to 10 min, log-uniform) in `createSounds` batches of 1,000.
Annotations come in `createAnnotations` batches from `writers` concurrent clients:

- 45 % feature arrays from two featurebots: 10 s windows with a `dataUrl` and metadata
  (dtype, shape, axes, frameRate...), in batches of 5,000;
- 30 % onset segments from an onset featurebot: consecutive [onset, next onset) spans tagged
  `onset`, batches of 5,000;
- 25 % human tags: 1 to 3 tags drawn from a Zipf distribution (s = 1.1) over a 1,000-tag
  vocabulary (so a few tags are everywhere and most are rare), batches of 1,000.

Everything is seeded, so two runs of one size build the same shapes (ids differ).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from api.db.engine import libpq_url
from api.db.migrate import upgrade
from bench.ingest import CREATE_ANNOTATIONS, CREATE_SOUNDS, Client
from bench.services import api_process, database

CREATE_HUMAN = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { userErrors { code message } } }"""
LOGIN = """mutation($n: String!, $p: String!) { login(name: $n, password: $p) {
  apiKey userErrors { code message } } }"""
COMMON_TAGS = [
    "song", "call", "Turdus merula", "wind", "Erithacus rubecula", "rain", "speech",
    "Fringilla coelebs", "traffic", "Parus major", "alarm call", "dog", "insects",
    "Phylloscopus collybita", "footsteps", "Sylvia atricapilla", "water", "aircraft",
    "Columba palumbus", "drumming", "Strix aluco", "frog", "bell", "Troglodytes troglodytes",
]  # fmt: skip
VOCABULARY = COMMON_TAGS + [f"label {i:04d}" for i in range(len(COMMON_TAGS), 1000)]
SOUND_TAGS = ["field recording", "birds", "forest", "urban", "night", "wetland", "dawn chorus"]
LICENSES = ["CC_BY", "CC_BY_SA", "CC_BY_NC", "CC0"]
FEATURES = [("log-mel-128", 128, "mel"), ("mfcc-20", 20, "mfcc")]
WINDOW = 10.0
FRAME_RATE = 22050 / 512


@dataclass(frozen=True)
class Sizes:
    sounds: int
    annotations: int
    writers: int = 4


@dataclass(frozen=True)
class Tokens:
    """API keys of the data set's writers."""

    datasets: list[str]
    features: list[str]
    onsets: str
    humans: list[str]


@dataclass
class Generated:
    """What was built and how long it took."""

    sounds: int = 0
    annotations: int = 0
    requests: int = 0
    sound_seconds: float = 0.0
    annotation_seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def annotations_per_second(self) -> float:
        return self.annotations / self.annotation_seconds if self.annotation_seconds else 0.0


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    """Cumulative Zipf weights over ranks 1..n, for `random.choices(cum_weights=...)`."""
    return list(itertools.accumulate(1 / rank**s for rank in range(1, n + 1)))


def _features(sounds: list[tuple[str, float]], model: str, bins: int) -> Iterator[dict[str, Any]]:
    """One featurebot's windows over every sound, pass after pass (later passes: new model)."""
    frames = round(WINDOW * FRAME_RATE)
    for version in itertools.count(1):
        for sound, seconds in sounds:
            for w in range(int(seconds // WINDOW)):
                yield {
                    "sound": sound,
                    "startSeconds": w * WINDOW,
                    "durationSeconds": WINDOW,
                    "dataUrl": f"https://data.example.org/{model}/v{version}/{sound}/{w}.npy",
                    "metadata": {
                        "dtype": "float32",
                        "shape": [frames, bins],
                        "axes": ["time", model.split("-")[0]],
                        "frameRate": FRAME_RATE,
                        "sampleRate": 22050,
                        "hopLength": 512,
                        "model": f"{model}@{version}",
                    },
                }


def _onsets(rng: random.Random, sounds: list[tuple[str, float]]) -> Iterator[dict[str, Any]]:
    """Onset segments: a sound's consecutive [onset, next onset) spans, tagged `onset`."""
    for sound, seconds in itertools.cycle(sounds):
        times = sorted({round(rng.uniform(0, seconds), 3) for _ in range(rng.randint(10, 50))})
        for start, end in itertools.pairwise(times):
            strength = round(rng.random(), 3)
            yield {
                "sound": sound,
                "startSeconds": start,
                "durationSeconds": round(end - start, 3),
                "tags": ["onset"],
                "metadata": {"strength": strength},
            }


def _human_tags(rng: random.Random, sounds: list[tuple[str, float]]) -> Iterator[dict[str, Any]]:
    """Human tagging: Zipf-distributed tags on 0.5 to 8 s segments of random sounds."""
    weights = zipf_weights(len(VOCABULARY))
    while True:
        sound, seconds = rng.choice(sounds)
        duration = round(rng.uniform(0.5, 8.0), 2)
        start = round(rng.uniform(0, seconds - duration), 2)
        tags = rng.choices(VOCABULARY, cum_weights=weights, k=rng.randint(1, 3))
        yield {"sound": sound, "startSeconds": start, "durationSeconds": duration, "tags": tags}


def batches(
    rng: random.Random, sounds: list[tuple[str, float]], total: int, tokens: Tokens
) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(kind, token, inputs) batches adding up to `total`, the kinds interleaved at random the
    way independent bots and people would send them."""
    features, onsets = round(total * 0.45), round(total * 0.30)
    plan: list[tuple[str, Iterator[dict[str, Any]], int, int, list[str]]] = [
        (model, _features(sounds, model, bins), share, 5000, [token])
        for (model, bins, _), share, token in zip(
            FEATURES, (features // 2, features - features // 2), tokens.features, strict=True
        )
    ]
    plan.append(("onsets", _onsets(rng, sounds), onsets, 5000, [tokens.onsets]))
    human = total - features - onsets
    plan.append(("human tags", _human_tags(rng, sounds), human, 1000, tokens.humans))
    left = [p[2] for p in plan]
    while any(left):
        k = rng.choices(range(len(plan)), weights=left)[0]
        kind, source, _, size, kind_tokens = plan[k]
        n = min(size, left[k])
        left[k] -= n
        yield kind, rng.choice(kind_tokens), list(itertools.islice(source, n))


async def _users(client: Client, run: str) -> Tokens:
    """Four datasets, three featurebots and eight listeners, each with an API key."""
    datasets = [(await client.user(f"{run}-dataset-{i}", "DATASET"))[1] for i in range(4)]
    bots = [(await client.user(f"{run}-{m}", "FEATUREBOT"))[1] for m, _, _ in FEATURES]
    onsets = (await client.user(f"{run}-onsets", "FEATUREBOT"))[1]
    humans = []
    for i in range(8):
        name, password = f"{run}-listener-{i}", f"pw-{run}-{i}"
        new = {"name": name, "type": "HUMAN", "password": password}
        await client.post(Client.body(CREATE_HUMAN, {"input": new}))
        humans.append((await client.post(Client.body(LOGIN, {"n": name, "p": password})))["apiKey"])
    return Tokens(datasets=datasets, features=bots, onsets=onsets, humans=humans)


async def generate(api_url: str, sizes: Sizes, *, seed: int = 6) -> Generated:
    """Build the data set through the API at `api_url`; time sounds and annotations."""
    rng = random.Random(seed)
    run = f"bench-{uuid.uuid4().hex[:8]}"
    limits = httpx.Limits(max_connections=sizes.writers + 2)
    result = Generated()
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        client = Client(http, api_url)
        tokens = await _users(client, run)
        datasets = tokens.datasets
        durations = [round(30 * 20 ** rng.random(), 1) for _ in range(sizes.sounds)]
        sound_batches = [
            (datasets[b % len(datasets)], list(range(s, min(s + 1000, sizes.sounds))))
            for b, s in enumerate(range(0, sizes.sounds, 1000))
        ]
        sounds: list[tuple[str, float]] = []

        async def sound_writer(queue: Iterator[tuple[str, list[int]]]) -> None:
            for token, indexes in queue:
                inputs = [
                    {
                        "title": f"Recording {i} ({run})",
                        "audioUrl": f"https://audio.example.org/{run}/{i}.flac",
                        "license": LICENSES[i % len(LICENSES)],
                        "durationSeconds": durations[i],
                        "tags": rng.sample(SOUND_TAGS, rng.randint(1, 3)),
                    }
                    for i in indexes
                ]
                made = await client.post(Client.body(CREATE_SOUNDS, {"input": inputs}), token)
                sounds.extend(
                    (s["id"], durations[i]) for s, i in zip(made["sounds"], indexes, strict=True)
                )
                result.requests += 1

        started = time.perf_counter()
        shared = iter(sound_batches)
        await asyncio.gather(*(sound_writer(shared) for _ in range(sizes.writers)))
        result.sound_seconds = time.perf_counter() - started
        result.sounds = len(sounds)
        sounds.sort()  # by id: creation order, whatever order the writers finished in

        async def annotation_writer(queue: Iterator[tuple[str, str, list[dict[str, Any]]]]) -> None:
            for kind, token, inputs in queue:
                await client.post(Client.body(CREATE_ANNOTATIONS, {"input": inputs}), token)
                result.annotations += len(inputs)
                result.by_kind[kind] = result.by_kind.get(kind, 0) + len(inputs)
                result.requests += 1

        started = time.perf_counter()
        shared_annotations = batches(rng, sounds, sizes.annotations, tokens)
        await asyncio.gather(*(annotation_writer(shared_annotations) for _ in range(sizes.writers)))
        result.annotation_seconds = time.perf_counter() - started
    return result


@contextmanager
def scratch_database() -> Iterator[tuple[str, str]]:
    """(url, description) of a fresh, migrated database for this run."""
    given = os.environ.get("COCHLEA_DATABASE_URL")
    if not given:
        with database() as (url, _):
            yield url, "embedded PostgreSQL (pgserver), fresh"
        return
    parts = urlsplit(libpq_url(given))
    name = f"{parts.path.lstrip('/') or 'cochlea'}_bench_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(_admin(given, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        with database() as (url, _):
            yield url, f"COCHLEA_DATABASE_URL as given (no scratch database: {error})"
        return
    url = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        asyncio.run(upgrade(url))
        yield url, "a scratch database on COCHLEA_DATABASE_URL's server, dropped afterwards"
    finally:
        asyncio.run(_admin(given, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def settle(url: str) -> None:
    """VACUUM ANALYZE after the bulk load, as autovacuum soon would: fresh planner statistics."""
    await _admin(url, "VACUUM ANALYZE annotations, sounds, users")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sounds", type=int, default=1000)
    parser.add_argument("--annotations", type=int, default=50_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--api-processes", type=int, default=2)
    args = parser.parse_args()
    sizes = Sizes(sounds=args.sounds, annotations=args.annotations, writers=args.writers)
    with database() as (url, _), api_process(url, processes=args.api_processes) as api_url:
        made = asyncio.run(generate(api_url, sizes))
        asyncio.run(settle(url))
    print(json.dumps({**made.__dict__, "annotations_per_second": made.annotations_per_second}))


if __name__ == "__main__":
    main()
