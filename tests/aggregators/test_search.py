"""The search aggregator, end to end: a real API, a real tantivy index on disk, and real HTTP to
`cochlea aggregator search` running as a subprocess."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import httpx
import yaml

from api.cli import build_parser
from api.settings import Settings
from tests.aggregators.conftest import aggregator_env, running_aggregator
from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient
from workers.aggregators.runtime import state_dir
from workers.aggregators.skipped import SkipLog

SEARCH = """query($text: String!, $kind: SearchKind, $filter: SearchFilter, $first: Int,
  $after: String) {
  search(text: $text, kind: $kind, filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { endCursor hasNextPage }
    edges { cursor node { kind id score title tags sound count startSeconds endSeconds
      createdBy { id name type } highlights { field text ranges { start end } } } } } }"""


def word() -> str:
    """A made-up word no other test uses (letters only, so it is one token)."""
    return "z" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def hits(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in result["search"]["edges"]]


async def stream_total(gql: GraphQLClient) -> int:
    """What the search aggregator follows: every sound and every tagged annotation."""
    data = await gql(
        "{ sounds(first: 0) { totalCount } "
        "annotations(first: 0, filter: {withTags: true}) { totalCount } }"
    )
    return int(data["sounds"]["totalCount"]) + int(data["annotations"]["totalCount"])


async def test_search_is_fuzzy_prefix_multiword_with_kinds_filters_and_suggest(
    gql: GraphQLClient, settings: Settings, api_url: str, aggregator_data_dir: Path
) -> None:
    marker = word()
    owner = await make_user(gql, "DATASET", name=f"archive-{marker}")
    listener = await make_user(gql, "HUMAN")
    violin, piano, rain = await make_sounds(
        gql,
        owner,
        [
            sound_input(title=f"Solo violin in a stone hall {marker}", tags=["violin", "strings"]),
            sound_input(title=f"Grand piano chords {marker}", tags=["Piano", "keys"]),
            sound_input(
                title=f"Rain on a tin roof {marker}",
                tags=["rain", "field-recording"],
                metadata={"place": {"city": "Lisbon"}, "microphones": ["MS pair"], "year": 2019},
            ),
        ],
    )
    with running_aggregator("search", settings, api_url, aggregator_data_dir) as search:
        await search.wait_caught_up()
        # Typo-tolerant, with the matched words highlighted in the stored text.
        [found] = hits(await search(SEARCH, {"text": f"vilon {marker}"}))
        assert found["id"] == violin["id"] and found["kind"] == "SOUND"
        assert found["createdBy"] == {
            "id": owner.id,
            "name": f"archive-{marker}",
            "type": "DATASET",
        }
        title = next(h for h in found["highlights"] if h["field"] == "title")
        marked = [title["text"][r["start"] : r["end"]] for r in title["ranges"]]
        assert marked == ["violin", marker]
        # Prefix, and several words that must all match (in any field).
        assert [h["id"] for h in hits(await search(SEARCH, {"text": f"pian {marker}"}))] == [
            piano["id"]
        ]
        assert [h["id"] for h in hits(await search(SEARCH, {"text": f"tin roof {marker}"}))] == [
            rain["id"]
        ]
        assert hits(await search(SEARCH, {"text": f"violin piano {marker}"})) == []
        # So is the text of sounds' metadata (keys and values).
        [wet] = hits(await search(SEARCH, {"text": f"lisbn {marker}"}))
        assert wet["id"] == rain["id"]
        [meta] = [h for h in wet["highlights"] if h["field"] == "metadata"]
        assert [meta["text"][r["start"] : r["end"]] for r in meta["ranges"]] == ["Lisbon"]
        # User names are searchable too.
        assert len(hits(await search(SEARCH, {"text": f"archive-{marker}"}))) == 3

        # Live: an annotation created now is found as soon as the aggregator has read it.
        [note] = await make_annotations(
            gql,
            listener,
            [
                {
                    "sound": piano["id"],
                    "startSeconds": 1,
                    "durationSeconds": 2,
                    "tags": [f"violin-{marker}"],
                }
            ],
        )
        await search.wait_caught_up()
        both = hits(await search(SEARCH, {"text": f"violin {marker}"}))
        assert {h["id"] for h in both} == {violin["id"], note["id"]}
        annotations = hits(await search(SEARCH, {"text": f"violin {marker}", "kind": "ANNOTATION"}))
        assert [(a["id"], a["sound"], a["startSeconds"], a["endSeconds"]) for a in annotations] == [
            (note["id"], piano["id"], 1.0, 3.0)
        ]
        assert annotations[0]["title"] == piano["title"]

        # Filters: by creator, creator type and sound.
        async def ids(**filter_: Any) -> set[str]:
            result = await search(SEARCH, {"text": f"violin {marker}", "filter": filter_})
            return {h["id"] for h in hits(result)}

        assert await ids(createdBy=listener.id) == {note["id"]}
        assert await ids(creatorType="DATASET") == {violin["id"]}
        assert await ids(creatorType="HUMAN") == {note["id"]}
        assert await ids(sound=piano["id"]) == {note["id"]}
        assert await ids(sound=violin["id"], creatorType="HUMAN") == set()

        # Tags as hits, with how many items carry them; and completion.
        tags = hits(await search(SEARCH, {"text": f"violin-{marker}", "kind": "TAG"}))
        assert [(t["id"], t["count"]) for t in tags] == [(f"violin-{marker}", 1)]
        suggestions = (
            await search(
                "query($p: String!) { suggest(prefix: $p) { tag count } }",
                {"p": f"VIOLIN-{marker[:4]}"},
            )
        )["suggest"]
        assert suggestions == [{"tag": f"violin-{marker}", "count": 1}]

        # Paging through ranked hits with cursors.
        first = (await search(SEARCH, {"text": marker, "first": 2}))["search"]
        assert first["totalCount"] == 4 and first["pageInfo"]["hasNextPage"]
        rest = await search(
            SEARCH, {"text": marker, "first": 2, "after": first["pageInfo"]["endCursor"]}
        )
        seen = [e["node"]["id"] for e in first["edges"] + rest["search"]["edges"]]
        assert sorted(seen) == sorted([violin["id"], piano["id"], rain["id"], note["id"]])
        assert not rest["search"]["pageInfo"]["hasNextPage"]
        scores = [e["node"]["score"] for e in first["edges"] + rest["search"]["edges"]]
        assert scores == sorted(scores, reverse=True)

        # Clients discover it: an AGGREGATOR user whose infoUrl is this endpoint.
        users = await gql(
            "{ users(filter: {type: AGGREGATOR}) { edges { node { name infoUrl } } } }"
        )
        assert {"name": "search", "infoUrl": search.url} in [
            e["node"] for e in users["users"]["edges"]
        ]


async def test_bad_input_gets_coded_errors(
    gql: GraphQLClient, settings: Settings, api_url: str, aggregator_data_dir: Path
) -> None:
    with running_aggregator("search", settings, api_url, aggregator_data_dir) as search:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"text": "   "}, "text"),
            ({"text": "a" * 501}, "text"),
            ({"text": " ".join(["word"] * 17)}, "text"),
            ({"text": "violin", "first": 101}, "first"),
            ({"text": "violin", "first": -1}, "first"),
            ({"text": "violin", "after": "not-a-cursor"}, "after"),
            ({"text": "violin", "filter": {"sound": "nope"}}, "filter.sound"),
            ({"text": "violin", "filter": {"createdBy": "1"}}, "filter.createdBy"),
            ({"text": "violin", "kind": "TAG", "filter": {"creatorType": "HUMAN"}}, "filter"),
        ]
        for variables, field in cases:
            error = await search.error(SEARCH, variables)
            assert error == {"code": "BAD_USER_INPUT", "field": field}, variables
        assert (await search.error(SEARCH, {"text": "x", "kind": "SONG"}))[
            "code"
        ] == "BAD_USER_INPUT"
        assert (await search.error("{ search { totalCount } }"))[
            "code"
        ] == "GRAPHQL_VALIDATION_FAILED"
        assert (await search.error("{ search(text: "))["code"] == "GRAPHQL_PARSE_FAILED"
        suggest = await search.error('{ suggest(prefix: "") { tag } }')
        assert suggest == {"code": "BAD_USER_INPUT", "field": "prefix"}
        skipped = await search.error('{ skipped(after: "zzz") { edges { cursor } } }')
        assert skipped == {"code": "BAD_USER_INPUT", "field": "after"}
        # The explorer (another origin) may query it, and a browser gets GraphiQL.
        async with httpx.AsyncClient(trust_env=False) as http:
            preflight = await http.options(
                search.url,
                headers={
                    "Origin": "http://127.0.0.1:9999",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )
            page = await http.get(search.url, headers={"Accept": "text/html"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_restart_resumes_from_the_stored_cursor(
    gql: GraphQLClient, settings: Settings, api_url: str, aggregator_data_dir: Path
) -> None:
    marker = word()
    owner = await make_user(gql, "DATASET")
    await make_sounds(gql, owner, [sound_input(title=f"first {marker}") for _ in range(3)])
    with running_aggregator("search", settings, api_url, aggregator_data_dir) as search:
        before = await search.wait_caught_up()
    assert before["indexed"] == await stream_total(gql)
    await make_sounds(gql, owner, [sound_input(title=f"second {marker}") for _ in range(2)])
    with running_aggregator("search", settings, api_url, aggregator_data_dir) as search:
        after = await search.wait_caught_up()
        found = (await search(SEARCH, {"text": marker, "first": 10}))["search"]["totalCount"]
    sounds = {s["stream"]: s for s in before["streams"]}["soundCreated"]
    resumed = {s["stream"]: s for s in after["streams"]}["soundCreated"]
    # Read exactly the two new sounds: nothing re-read, nothing indexed twice.
    assert resumed["seen"] == sounds["seen"] + 2
    assert after["indexed"] == before["indexed"] + 2 == await stream_total(gql)
    assert found == 5 and resumed["cursor"] != sounds["cursor"]


async def test_skipped_inputs_are_listed_over_graphql_and_the_cli(
    settings: Settings, api_url: str, aggregator_data_dir: Path
) -> None:
    env = aggregator_env(settings, api_url, aggregator_data_dir)
    command = [sys.executable, "-m", "api.cli", "aggregator", "search", "failures"]
    never = await asyncio.create_subprocess_exec(*command, env=env, stdout=PIPE)
    assert b"has not run here yet" in (await never.communicate())[0]
    with running_aggregator("search", settings, api_url, aggregator_data_dir) as search:
        # What a follower records when an input is unusable (the similarity aggregator's bad
        # arrays, say): one row per item, however often it is seen.
        log = SkipLog(state_dir(settings_for(aggregator_data_dir), "search") / "skipped.sqlite")
        for item, code in (
            ("a1", "array_missing"),
            ("a2", "array_truncated"),
            ("a1", "array_shape"),
        ):
            log.record(stream="annotationCreated", item=item, code=code, message=f"{item} is bad")
        log.record(stream="soundCreated", item="s9", code="unreadable_item", message="no title")
        log.close()
        page = """query($after: String) { skipped(first: 2, after: $after) {
          edges { cursor node { stream item code message at } } pageInfo { endCursor hasNextPage } } }"""
        first = (await search(page))["skipped"]
        rest = (await search(page, {"after": first["pageInfo"]["endCursor"]}))["skipped"]
        status = await search.status()
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    listed = [(e["node"]["item"], e["node"]["code"]) for e in first["edges"] + rest["edges"]]
    assert listed == [("a1", "array_shape"), ("a2", "array_truncated"), ("s9", "unreadable_item")]
    assert status["skipped"] == 3
    shown = await asyncio.create_subprocess_exec(*command, env=env, stdout=PIPE)
    output = (await shown.communicate())[0].decode()
    assert shown.returncode == 0
    assert all(word in output for word in ("a1", "array_shape", "a2", "s9", "no title"))


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


def test_compose_runs_both_aggregators() -> None:
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "compose.yaml").read_text())
    for name, port in (("search", 8001), ("similarity", 8002)):
        service = compose["services"][name]
        program, *argv = service["command"]
        args = build_parser().parse_args(argv)
        assert (program, args.aggregator, args.port, args.host) == (
            "cochlea",
            name,
            port,
            "0.0.0.0",
        )
        assert service["ports"] == [f"{port}:{port}"]
        assert service["depends_on"]["api"]["condition"] == "service_healthy"
        assert "aggregators:/data/aggregators" in service["volumes"]
        assert f"{port}/healthz" in " ".join(service["healthcheck"]["test"])
        assert getattr(Settings(), f"{name}_port") == port


async def test_killed_mid_indexing_loses_and_repeats_nothing(
    gql: GraphQLClient, settings: Settings, api_url: str, aggregator_data_dir: Path
) -> None:
    marker = word()
    owner = await make_user(gql, "DATASET")
    for _ in range(4):
        made = await make_sounds(
            gql, owner, [sound_input(title=f"bulk {marker}", tags=[marker]) for _ in range(1000)]
        )
    await make_annotations(
        gql,
        owner,
        [
            {
                "sound": made[0]["id"],
                "startSeconds": i / 20,
                "durationSeconds": 0.05,
                "tags": [marker],
            }
            for i in range(1000)
        ],
    )
    total = await stream_total(gql)
    killed_at = None
    with running_aggregator("search", settings, api_url, aggregator_data_dir, stop=False) as search:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = await search.status()
            seen = sum(s["seen"] for s in status["streams"])
            if 0 < seen < total:
                killed_at = seen
                # `status` shows how far behind the stream it is.
                assert status["lag"] == total - seen > 0
                break
            await asyncio.sleep(0.01)
    # The context manager SIGKILLed it: no clean shutdown, maybe mid-commit.
    assert killed_at is not None, "the aggregator was never seen mid-indexing"
    with running_aggregator("search", settings, api_url, aggregator_data_dir) as search:
        status = await search.wait_caught_up(within=120)
        counts = {
            kind: (await search(SEARCH, {"text": marker, "kind": kind, "first": 1}))["search"][
                "totalCount"
            ]
            for kind in ("SOUND", "ANNOTATION")
        }
        [tag] = hits(await search(SEARCH, {"text": marker, "kind": "TAG"}))
    assert sum(s["seen"] for s in status["streams"]) == total
    assert status["indexed"] == total
    assert counts == {"SOUND": 4000, "ANNOTATION": 1000}
    assert tag["count"] == 5000
