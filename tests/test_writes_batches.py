"""createSounds and createAnnotations as a client meets them: input order, all-or-nothing,
every problem at once, idempotency keys and validation rules. "Nothing was written" is checked
in PostgreSQL itself, scoped to the test's own users."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects import postgresql

from api.db.engine import libpq_url
from api.services.annotations import end_tolerance
from api.services.batches import existing_by_key
from api.services.reading import ANNOTATIONS
from tests.factories import (
    make_annotations,
    make_sounds,
    make_user,
    sound_input,
)
from tests.server import GraphQLClient
from tests.writes_support import (
    DATA_URL,
    LONG_URL,
    PAST_END,
    UNKNOWN_ID,
    errors,
    note,
    send,
    stored,
    valid,
)


async def test_results_come_in_input_order(gql: GraphQLClient, dataset: Any) -> None:
    user, sounds = dataset
    titles = [f"take {i}" for i in (3, 1, 2, 9, 0)]
    made = await make_sounds(gql, user, [sound_input(title=t) for t in titles])
    assert [s["title"] for s in made] == titles
    inputs = [note(sounds[i % 3], startSeconds=float(i)) for i in (5, 0, 7, 2, 4, 1)]
    out = await make_annotations(gql, user, inputs)
    assert [a["startSeconds"] for a in out] == [5.0, 0.0, 7.0, 2.0, 4.0, 1.0]
    assert [a["id"] for a in out] == sorted(a["id"] for a in out)  # ids follow input order


@pytest.mark.parametrize(
    ("kind", "bad", "field", "code"),
    [
        ("sounds", {"durationSeconds": -1.0}, "durationSeconds", "OUT_OF_RANGE"),
        ("sounds", {"audioUrl": "ftp://example.org/a.wav"}, "audioUrl", "INVALID_URL"),
        ("annotations", {"sound": UNKNOWN_ID}, "sound", "NOT_FOUND"),
        ("annotations", {"startSeconds": -0.5}, "startSeconds", "OUT_OF_RANGE"),
    ],
)
async def test_one_bad_input_in_fifty_writes_nothing(
    gql: GraphQLClient, database_url: str, dataset: Any, kind: str, bad: Any, field: str, code: str
) -> None:
    user, sounds = dataset
    inputs = [valid(kind, sounds) for _ in range(50)]
    inputs[37] = valid(kind, sounds, **bad)
    before = await stored(database_url, kind, user)
    payload = await send(gql, kind, inputs, user)
    assert errors(payload) == [(37, field, code)] and payload[kind] == []
    assert await stored(database_url, kind, user) == before


async def test_every_problem_is_reported_at_once(
    gql: GraphQLClient, database_url: str, dataset: Any
) -> None:
    user, sounds = dataset
    bad_sounds = [sound_input(), sound_input(title=" "), sound_input(durationSeconds=0.0)]
    bad_sounds += [sound_input(audioUrl="nope", tags=["x" * 65])]
    payload = await send(gql, "sounds", bad_sounds, user)
    assert set(errors(payload)) == {
        (1, "title", "REQUIRED"),
        (2, "durationSeconds", "OUT_OF_RANGE"),
        (3, "audioUrl", "INVALID_URL"),
        (3, "tags[0]", "INVALID_TAG"),
    }
    bad_notes = [note(sounds[0], startSeconds=-1.0), note("x"), note(sounds[0], tags=None)]
    payload = await send(gql, "annotations", bad_notes, user)
    assert errors(payload) == [
        (0, "startSeconds", "OUT_OF_RANGE"),
        (1, "sound", "INVALID_ID"),
        (2, None, "EMPTY"),
    ]
    assert await stored(database_url, "sounds", user) == 3
    assert await stored(database_url, "annotations", user) == 0


@pytest.mark.parametrize("kind", ["sounds", "annotations"])
async def test_keys_make_batches_idempotent(
    gql: GraphQLClient, database_url: str, dataset: Any, kind: str
) -> None:
    user, sounds = dataset
    before = await stored(database_url, kind, user)

    def make(key: str) -> dict[str, Any]:
        return valid(kind, sounds, key=key)

    first = await send(gql, kind, [make("a"), make("b")], user)
    again = await send(gql, kind, [make("a"), make("b")], user)
    assert again["userErrors"] == [] and again[kind] == first[kind]
    assert await stored(database_url, kind, user) == before + 2
    racing = await asyncio.gather(*(send(gql, kind, [make("r")], user) for _ in range(4)))
    assert all(r["userErrors"] == [] and r[kind] == racing[0][kind] for r in racing)
    mixed = await send(gql, kind, [make("c"), make("b"), make("a"), make("d")], user)
    ids = [item["id"] for item in mixed[kind]]
    assert ids[1:3] == [first[kind][1]["id"], first[kind][0]["id"]] and len(set(ids)) == 4
    assert await stored(database_url, kind, user) == before + 5
    duplicated = await send(gql, kind, [make("e"), make("f"), make("e")], user)
    assert errors(duplicated) == [(2, "key", "DUPLICATE_KEY")]
    assert await stored(database_url, kind, user) == before + 5


async def test_an_audio_url_is_registered_once_per_creator(
    gql: GraphQLClient, database_url: str
) -> None:
    first, second = await make_user(gql, "DATASET"), await make_user(gql, "HUMAN")
    url = f"https://example.org/{uuid.uuid4().hex}.flac"
    await make_sounds(gql, first, [sound_input(audioUrl=url)])
    payload = await send(gql, "sounds", [sound_input(), sound_input(audioUrl=url)], first)
    assert errors(payload) == [(1, "audioUrl", "DUPLICATE")]
    keyed = await send(gql, "sounds", [sound_input(key="k", audioUrl=url)], first)
    assert errors(keyed) == [(0, "audioUrl", "DUPLICATE")]
    twice = await send(gql, "sounds", [sound_input(audioUrl=url + "?2")] * 2, first)
    assert errors(twice) == [(1, "audioUrl", "DUPLICATE")]
    assert await stored(database_url, "sounds", first) == 1
    await make_sounds(gql, second, [sound_input(audioUrl=url)])  # another creator may


TAG_CASES = [
    ({"tags": [" "]}, "tags[0]", "INVALID_TAG"),
    ({"tags": ["fine", "x" * 65]}, "tags[1]", "INVALID_TAG"),
    ({"tags": [f"t{i}" for i in range(65)]}, "tags", "TOO_MANY"),
    ({"tags": ["bell\x07"]}, "tags[0]", "INVALID_TAG"),
    ({"tags": ["nul\x00"]}, "tags[0]", "INVALID_TAG"),
    ({"tags": ["two\nlines"]}, "tags[0]", "INVALID_TAG"),
]

RULES = [
    ("sounds", {"audioUrl": "ftp://example.org/a.wav"}, "audioUrl", "INVALID_URL"),
    ("sounds", {"audioUrl": "example.org/a.wav"}, "audioUrl", "INVALID_URL"),
    ("sounds", {"audioUrl": "javascript:alert(1)"}, "audioUrl", "INVALID_URL"),
    ("sounds", {"audioUrl": "http://exa mple.org/a.wav"}, "audioUrl", "INVALID_URL"),
    ("sounds", {"audioUrl": LONG_URL}, "audioUrl", "TOO_LONG"),
    ("sounds", {"lowQualityAudioUrl": "file:///etc/passwd"}, "lowQualityAudioUrl", "INVALID_URL"),
    ("sounds", {"infoUrl": LONG_URL}, "infoUrl", "TOO_LONG"),
    ("sounds", {"durationSeconds": 0.0}, "durationSeconds", "OUT_OF_RANGE"),
    ("sounds", {"durationSeconds": -3.0}, "durationSeconds", "OUT_OF_RANGE"),
    ("sounds", {"title": ""}, "title", "REQUIRED"),
    ("sounds", {"title": "t" * 513}, "title", "TOO_LONG"),
    ("sounds", {"key": "k\x01"}, "key", "INVALID_TEXT"),
    ("annotations", {"startSeconds": -0.001}, "startSeconds", "OUT_OF_RANGE"),
    ("annotations", {"durationSeconds": 0.0}, "durationSeconds", "OUT_OF_RANGE"),
    ("annotations", {"durationSeconds": -1.0}, "durationSeconds", "OUT_OF_RANGE"),
    ("annotations", PAST_END, "durationSeconds", "OUT_OF_RANGE"),
    ("annotations", {"startSeconds": 10.2}, "durationSeconds", "OUT_OF_RANGE"),
    ("annotations", {"dataUrl": "s3://bucket/a.npy"}, "dataUrl", "INVALID_URL"),
    ("annotations", {"dataUrl": LONG_URL}, "dataUrl", "TOO_LONG"),
    ("annotations", {"metadata": [1, 2]}, "metadata", "INVALID_METADATA"),
    ("annotations", {"metadata": "dtype=float32"}, "metadata", "INVALID_METADATA"),
    ("annotations", {"metadata": {"blob": "x" * 16 * 1024}}, "metadata", "TOO_LARGE"),
    ("annotations", {"metadata": {"label": "nul\x00"}}, "metadata", "INVALID_METADATA"),
    # stored, it could not be answered (responses are written with 64-bit integers)
    ("annotations", {"metadata": {"n": 10**30}}, "metadata", "INVALID_METADATA"),
    ("sounds", {"metadata": {"n": [-(2**63) - 1]}}, "metadata", "INVALID_METADATA"),
    ("annotations", {"tags": None}, None, "EMPTY"),
    ("annotations", {"tags": [], "metadata": {}}, None, "EMPTY"),
    ("annotations", {"sound": UNKNOWN_ID}, "sound", "NOT_FOUND"),
    ("annotations", {"sound": "not-an-id"}, "sound", "INVALID_ID"),
    *[("sounds", *case) for case in TAG_CASES],
    *[("annotations", bad | {"dataUrl": DATA_URL}, *rest) for bad, *rest in TAG_CASES],
    ("annotations", {"tags": ["x" * 65]}, "tags[0]", "INVALID_TAG"),  # not also EMPTY
]


@pytest.mark.parametrize(
    ("kind", "bad", "field", "code"), RULES, ids=[f"{k}-{c}-{str(b)[:24]}" for k, b, _, c in RULES]
)
async def test_validation_rules(
    gql: GraphQLClient, database_url: str, dataset: Any, kind: str, bad: Any, field: str, code: str
) -> None:
    user, sounds = dataset
    before = await stored(database_url, kind, user)
    payload = await send(gql, kind, [valid(kind, sounds), valid(kind, sounds, **bad)], user)
    assert errors(payload) == [(1, field, code)] and payload[kind] == []
    assert await stored(database_url, kind, user) == before


async def test_limits_are_inclusive(gql: GraphQLClient, dataset: Any) -> None:
    user, sounds = dataset
    url, tags = "https://example.org/" + "b" * 2028, [f"{i:02}" + "x" * 62 for i in range(64)]
    [sound] = await make_sounds(gql, user, [sound_input(audioUrl=url, tags=tags)])
    assert len(sound["audioUrl"]) == 2048 and sound["tags"] == tags
    reach = {"startSeconds": 9.0, "durationSeconds": 1.0 + end_tolerance(10) - 0.001}
    metadata = {"blob": "x" * (16 * 1024 - 11)}  # exactly 16 KiB as compact JSON
    inputs = [note(sounds[0], **reach), note(sounds[0], metadata=metadata, tags=None)]
    out = await make_annotations(gql, user, inputs)
    assert out[0]["endSeconds"] == pytest.approx(10.0 + end_tolerance(10) - 0.001)
    assert out[1]["metadata"] == metadata


async def test_tags_are_trimmed_deduplicated_and_matched_case_insensitively(
    gql: GraphQLClient, dataset: Any
) -> None:
    user, sounds = dataset
    given = ["  Song Thrush ", "BIRD", "bird", "Bird ", "song thrush"]
    [sound] = await make_sounds(gql, user, [sound_input(tags=given)])
    [mark] = await make_annotations(gql, user, [note(sounds[0], tags=given)])
    assert sound["tags"] == mark["tags"] == ["Song Thrush", "BIRD"]
    for name, id_ in (("sounds", sound["id"]), ("annotations", mark["id"])):
        edges = "edges { node { id } }"
        query = f"query($f: {name[:-1].capitalize()}Filter) {{ {name}(filter: $f) {{ {edges} }} }}"
        for wanted, found in [(["bird"], 1), (["song THRUSH", " Bird"], 1), (["bird", "owl"], 0)]:
            data = await gql(query, {"f": {"createdBy": user.id, "tags": wanted}})
            assert [e["node"]["id"] for e in data[name]["edges"]] == [id_] * found, wanted


async def test_key_lookups_probe_each_key_however_stale_the_statistics(
    gql: GraphQLClient, database_url: str, dataset: Any
) -> None:
    """A resent batch finds its keys by one index probe each, not by reading every key its
    creator stored: planner statistics lag far behind a bot's rows (here they know none)."""
    user, sounds = dataset
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        await connection.execute("ANALYZE annotations")  # before this user has any row
        inputs = [note(sounds[0], key=f"window-{i}") for i in range(3000)]
        await make_annotations(gql, user, inputs)
        keys = [f"window-{i}" for i in range(0, 3000, 30)]
        compiled = existing_by_key(ANNOTATIONS).compile(
            dialect=postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
        )
        values = compiled.construct_params({"creator": uuid.UUID(user.id), "keys": keys})
        params = [values[name] for name in compiled.positiontup or ()]
        plan = json.loads(
            await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", *params)
        )[0]["Plan"]
    finally:
        await connection.close()
    nodes = [plan]
    for node in nodes:
        nodes.extend(node.get("Plans", []))
    scans = [n for n in nodes if n["Node Type"] == "Index Scan"]
    assert [n["Index Name"] for n in scans] == ["annotations_creator_key_key"]
    assert plan["Actual Rows"] == len(keys)
    assert scans[0]["Actual Rows"] * scans[0]["Actual Loops"] == len(keys)  # one row a probe
    assert all(n.get("Rows Removed by Filter", 0) == 0 for n in nodes)
