"""Nested lists under a page of parents: one statement per level, each parent its own page.

Every nested page is compared with the same question asked of the top-level list (which reads
one parent at a time), so batching can only change how many statements run, never an answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from api.settings import Settings
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api
from tests.statements import counting

PAGE = """totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          edges { cursor node { id tags createdBy { name } } }"""


@pytest.fixture(scope="module")
def resolvers_url(settings: Settings) -> Iterator[str]:
    """A server with COCHLEA_COMPILED_READS off: nested lists through the batched resolvers."""
    with running_api(settings.model_copy(update={"compiled_reads": False})) as url:
        yield f"{url}/graphql"


@pytest.fixture
def resolvers(gql: GraphQLClient, resolvers_url: str) -> GraphQLClient:
    return GraphQLClient(gql.http, resolvers_url)


async def _library(gql: GraphQLClient, n_sounds: int) -> tuple[Account, str, list[dict[str, Any]]]:
    """`n_sounds` sounds tagged with a fresh tag, with 0 to 14 annotations each."""
    tag = f"nested-{uuid.uuid4().hex[:8]}"
    owner = await make_user(gql, "DATASET")
    sounds = await make_sounds(gql, owner, [sound_input(tags=[tag]) for _ in range(n_sounds)])
    items = [
        {
            "sound": s["id"],
            "startSeconds": j,
            "durationSeconds": 1,
            "tags": ["odd" if j % 2 else "even"],
        }
        for i, s in enumerate(sounds)
        for j in range(i % 15)
    ]
    if items:
        await make_annotations(gql, owner, items)
    return owner, tag, sounds


async def test_a_nested_level_costs_one_statement_whatever_its_parents(
    gql: GraphQLClient, resolvers: GraphQLClient
) -> None:
    """`sounds(first: 50) { annotations(first: 10) }` costs the same few statements for 5 or 50
    sounds on the resolvers (the sounds, their annotation pages, their totals, their
    creators), and one compiled; both answer the same."""
    _, tag, sounds = await _library(gql, 50)
    q = f"""query($n: Int, $t: String!) {{ sounds(first: $n, filter: {{tags: [$t]}}) {{
              edges {{ node {{ id annotations(first: 10) {{ {PAGE} }} }} }} }} }}"""
    counts = []
    for client in (resolvers, gql):
        for n in (5, 50):
            with counting() as statements:
                data = await client(q, {"n": n, "t": tag})
            assert len(data["sounds"]["edges"]) == n
            counts.append(len(statements))
    assert counts == [4, 4, 1, 1], counts
    assert data == await resolvers(q, {"n": 50, "t": tag})
    got = {e["node"]["id"]: e["node"]["annotations"] for e in data["sounds"]["edges"]}
    top = f"""query($s: ID!) {{ annotations(first: 10, filter: {{sound: $s}}) {{ {PAGE} }} }}"""
    for sound in sounds:
        assert got[sound["id"]] == (await gql(top, {"s": sound["id"]}))["annotations"]
    assert {len(c["edges"]) for c in got.values()} == {*range(11)}


async def test_nested_pages_match_the_top_level_list_in_every_direction(
    gql: GraphQLClient, resolvers: GraphQLClient
) -> None:
    _, tag, sounds = await _library(gql, 15)
    busiest = sounds[14]["id"]
    cursors = [
        e["cursor"]
        for e in (
            await gql(
                "query($s: ID!) { annotations(filter: {sound: $s}) { edges { cursor } } }",
                {"s": busiest},
            )
        )["annotations"]["edges"]
    ]
    cases: list[dict[str, Any]] = [
        {"first": 3},
        {"first": 3, "after": cursors[4]},
        {"last": 2},
        {"last": 4, "before": cursors[9]},
        {"first": 5, "order": "DESC"},
        {"first": 2, "after": cursors[9], "order": "DESC"},
        {"last": 3, "before": cursors[1], "order": "DESC"},
        {"first": 0, "after": cursors[2]},
        {"first": 6, "filter": {"tags": ["ODD"]}},
        {"first": 6, "filter": {"sound": sounds[3]["id"], "timeRange": {"start": 2, "end": 5}}},
    ]
    nested = f"""query($t: String!, $first: Int, $last: Int, $after: String, $before: String,
          $order: Order, $filter: AnnotationFilter) {{ sounds(first: 50, filter: {{tags: [$t]}}) {{
          edges {{ node {{ id annotations(first: $first, last: $last, after: $after,
          before: $before, order: $order, filter: $filter) {{ {PAGE} }} }} }} }} }}"""
    top = f"""query($first: Int, $last: Int, $after: String, $before: String,
          $order: Order, $filter: AnnotationFilter) {{ annotations(first: $first, last: $last,
          after: $after, before: $before, order: $order, filter: $filter) {{ {PAGE} }} }}"""
    for case in cases:
        data = await resolvers(nested, {"t": tag, **case})
        assert data == await gql(nested, {"t": tag, **case}), case
        for edge in data["sounds"]["edges"]:
            sound = edge["node"]["id"]
            alone = {**case, "filter": {**case.get("filter", {}), "sound": sound}}
            expected = (await gql(top, alone))["annotations"]
            assert edge["node"]["annotations"] == expected, (case, sound)


async def test_users_sounds_and_annotations_are_batched_too(
    gql: GraphQLClient, resolvers: GraphQLClient
) -> None:
    owners = [await make_user(gql, "DATASET") for _ in range(3)]
    for i, owner in enumerate(owners):
        sounds = await make_sounds(gql, owner, [sound_input() for _ in range(i + 1)])
        await make_annotations(
            gql,
            owner,
            [
                {"sound": s["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["t"]}
                for s in sounds
            ],
        )
    q = """query { users(last: 3) { edges { node { id
             sounds(first: 2) { totalCount edges { node { id annotations { totalCount } } } }
             annotations(last: 1) { totalCount edges { node { id sound { id } } } } } } } }"""
    with counting() as statements:
        data = await resolvers(q)
    # users, their sounds + totals, those sounds' annotation totals (pages of none asked
    # but read), their annotations + totals, the annotations' sounds.
    assert len(statements) == 8, statements
    assert data == await gql(q)
    by_id = {e["node"]["id"]: e["node"] for e in data["users"]["edges"]}
    for i, owner in enumerate(owners):
        user = by_id[owner.id]
        assert user["sounds"]["totalCount"] == i + 1
        assert len(user["sounds"]["edges"]) == min(i + 1, 2)
        assert all(e["node"]["annotations"]["totalCount"] == 1 for e in user["sounds"]["edges"])
        assert user["annotations"]["totalCount"] == i + 1


async def test_bad_nested_arguments_fail_at_their_own_path(
    gql: GraphQLClient, resolvers: GraphQLClient
) -> None:
    owner = await make_user(gql, "DATASET")
    await make_sounds(gql, owner, [sound_input(), sound_input()])
    sound_cursor = (
        await gql(
            "query($u: ID) { sounds(filter: {createdBy: $u}) { edges { cursor } } }",
            {"u": owner.id},
        )
    )["sounds"]["edges"][0]["cursor"]
    q = """query($u: ID, $c: String, $n: Int) { sounds(filter: {createdBy: $u}) { edges { node {
             id annotations(after: $c, first: $n) { edges { cursor } } } } } }"""
    for variables, code, says in [
        ({"c": sound_cursor}, "BAD_CURSOR", "is a cursor of a sound list"),
        ({"c": "nope"}, "BAD_CURSOR", "`after` is not a cursor"),
        ({"n": 501}, "BAD_USER_INPUT", "`first` must be between 0 and 500"),
    ]:
        body = await resolvers.raw(q, {"u": owner.id, **variables})
        assert body == await gql.raw(q, {"u": owner.id, **variables})
        assert body["errors"] and {e["extensions"]["code"] for e in body["errors"]} == {code}
        assert all(says in e["message"] for e in body["errors"])
        assert {tuple(e["path"][-2:]) for e in body["errors"]} == {("node", "annotations")}
