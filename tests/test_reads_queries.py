"""Filters, nested lists, node lookups, stats, and the errors a client gets for bad input."""

from __future__ import annotations

import uuid

import pytest

from api.settings import Settings
from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api
from tests.statements import counting


async def test_filters_match_what_they_promise(gql: GraphQLClient) -> None:
    owner = await make_user(gql, "DATASET")
    s1, s2 = await make_sounds(
        gql, owner, [sound_input(tags=["Piano", "C4"], license="CC0"), sound_input(tags=["drums"])]
    )
    made = await make_annotations(
        gql,
        owner,
        [
            {
                "sound": s1["id"],
                "startSeconds": 0.0,
                "durationSeconds": 5.0,
                "tags": ["Onset", "loud"],
            },
            {"sound": s1["id"], "startSeconds": 10.0, "durationSeconds": 2.0, "tags": ["onset"]},
            {
                "sound": s1["id"],
                "startSeconds": 20.0,
                "durationSeconds": 5.0,
                "dataUrl": "http://127.0.0.1:9/x.npy",
            },
            {"sound": s2["id"], "startSeconds": 11.0, "durationSeconds": 1.0, "tags": ["snare"]},
        ],
    )
    ids = [a["id"] for a in made]

    async def annotations(f: dict[str, object]) -> list[str]:
        q = "query($f: AnnotationFilter) { annotations(filter: $f, first: 100) { edges { node { id } } } }"
        data = await gql(q, {"f": {"createdBy": owner.id} | f})
        return [e["node"]["id"] for e in data["annotations"]["edges"]]

    assert await annotations({"tags": ["ONSET"]}) == ids[:2]
    assert await annotations({"tags": ["onset", "loud"]}) == ids[:1]
    assert await annotations({"hasData": True}) == ids[2:3]
    assert await annotations({"withTags": False}) == ids[2:3]
    assert await annotations({"withTags": True}) == [ids[0], ids[1], ids[3]]
    assert await annotations({"sound": s2["id"]}) == ids[3:]
    # overlap: [4, 11] touches the first (0-5), the second (10-12) and the snare (11-12)? 11 < 11 is false.
    assert await annotations({"timeRange": {"start": 4.0, "end": 11.0}}) == ids[:2]
    assert (
        await annotations({"sound": s1["id"], "timeRange": {"start": 12.5, "end": 30}}) == ids[2:3]
    )

    q = "query($f: SoundFilter) { sounds(filter: $f) { totalCount edges { node { id } } } }"
    data = await gql(q, {"f": {"createdBy": owner.id, "tags": ["piano"], "license": "CC0"}})
    assert [e["node"]["id"] for e in data["sounds"]["edges"]] == [s1["id"]]
    assert data["sounds"]["totalCount"] == 1

    q = "query($n: String) { users(filter: {name: $n}) { edges { node { id type } } } }"
    data = await gql(q, {"n": owner.name.upper()})
    assert data["users"]["edges"] == [{"node": {"id": owner.id, "type": "DATASET"}}]


async def test_nested_lists_and_node(gql: GraphQLClient) -> None:
    owner = await make_user(gql, "HUMAN")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    [a] = await make_annotations(
        gql, owner, [{"sound": sound["id"], "startSeconds": 1, "durationSeconds": 1, "tags": ["x"]}]
    )
    q = """query($id: ID!) { node(id: $id) { id ... on User { name
             sounds { totalCount edges { node { id annotations { edges { node { id createdBy { id } } } } } } }
             annotations(filter: {tags: ["X"]}) { totalCount } } } }"""
    node = (await gql(q, {"id": owner.id}))["node"]
    assert node["sounds"]["totalCount"] == 1
    nested = node["sounds"]["edges"][0]["node"]["annotations"]["edges"]
    assert nested == [{"node": {"id": a["id"], "createdBy": {"id": owner.id}}}]
    assert node["annotations"]["totalCount"] == 1
    q = "query($id: ID!) { node(id: $id) { __typename id } }"
    assert (await gql(q, {"id": a["id"]}))["node"] == {"__typename": "Annotation", "id": a["id"]}
    assert (await gql(q, {"id": sound["id"]}))["node"]["__typename"] == "Sound"
    assert (await gql(q, {"id": str(uuid.uuid4())}))["node"] is None


async def test_email_is_visible_only_to_its_owner(gql: GraphQLClient) -> None:
    q = "query($id: ID!) { node(id: $id) { ... on User { email } } viewer { id email } }"
    m = 'mutation { updateViewer(input: {email: "me@example.org"}) { user { email } userErrors { code } } }'
    me = await make_user(gql, "AGGREGATOR")
    other = await make_user(gql, "DATASET")
    assert (await gql(m, token=me.token))["updateViewer"]["user"]["email"] == "me@example.org"
    mine = await gql(q, {"id": me.id}, token=me.token)
    assert mine["node"]["email"] == "me@example.org" and mine["viewer"]["id"] == me.id
    theirs = await gql(q, {"id": me.id}, token=other.token)
    assert theirs["node"]["email"] is None
    anonymous = await gql(q, {"id": me.id})
    assert anonymous["node"]["email"] is None and anonymous["viewer"] is None


async def test_stats_count_everything(gql: GraphQLClient) -> None:
    before = (await gql("{ stats { users sounds annotations } }"))["stats"]
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    await make_annotations(
        gql, owner, [{"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["a"]}]
    )
    after = (await gql("{ stats { users sounds annotations } }"))["stats"]
    assert after["users"] >= before["users"] + 1
    assert after["sounds"] >= before["sounds"] + 1
    assert after["annotations"] >= before["annotations"] + 1


@pytest.mark.parametrize(
    ("query", "variables", "code", "says"),
    [
        (
            '{ annotations(after: "nonsense!") { edges { cursor } } }',
            {},
            "BAD_CURSOR",
            "not a cursor",
        ),
        (
            "{ annotations(first: 501) { edges { cursor } } }",
            {},
            "BAD_USER_INPUT",
            "between 0 and 500",
        ),
        (
            "{ annotations(first: -1) { edges { cursor } } }",
            {},
            "BAD_USER_INPUT",
            "between 0 and 500",
        ),
        (
            "{ annotations(first: 1, last: 1) { edges { cursor } } }",
            {},
            "BAD_USER_INPUT",
            "not both",
        ),
        ('{ node(id: "123") { id } }', {}, "BAD_USER_INPUT", "not a valid id"),
        (
            '{ sounds(filter: {createdBy: "x"}) { edges { cursor } } }',
            {},
            "BAD_USER_INPUT",
            "createdBy",
        ),
        (
            "{ annotations(filter: {timeRange: {start: 5, end: 1}}) { edges { cursor } } }",
            {},
            "BAD_USER_INPUT",
            "inverted",
        ),
        (
            "{ annotations(order: SIDEWAYS) { edges { cursor } } }",
            {},
            "GRAPHQL_VALIDATION_FAILED",
            "SIDEWAYS",
        ),
        ("{ annotations { edges { nope } } }", {}, "GRAPHQL_VALIDATION_FAILED", "nope"),
        ("{ annotations(", {}, "GRAPHQL_PARSE_FAILED", "Syntax Error"),
        (
            "query($n: Int) { sounds(first: $n) { edges { cursor } } }",
            {"n": "ten"},
            "BAD_USER_INPUT",
            "Int",
        ),
    ],
)
async def test_bad_input_gets_a_coded_error(
    gql: GraphQLClient, query: str, variables: dict[str, object], code: str, says: str
) -> None:
    got_code, message = await gql.error(query, variables)
    assert got_code == code
    assert says in message


async def test_foreign_cursor_is_refused(gql: GraphQLClient) -> None:
    owner = await make_user(gql, "DATASET")
    await make_sounds(gql, owner, [sound_input()])
    q = "query($f: SoundFilter) { sounds(filter: $f) { edges { cursor } } }"
    cursor = (await gql(q, {"f": {"createdBy": owner.id}}))["sounds"]["edges"][0]["cursor"]
    code, message = await gql.error(
        "query($c: String) { annotations(after: $c) { edges { cursor } } }", {"c": cursor}
    )
    assert code == "BAD_CURSOR" and "sound list" in message


async def test_a_page_costs_a_constant_number_of_statements(
    gql: GraphQLClient, settings: Settings
) -> None:
    """No N+1: a page of 5 or of 100 annotations with createdBy, sound and the sound's creator
    costs the same 4 statements on the resolvers (the page, then one batch per kind and depth:
    dataloaders), and one when compiled (COCHLEA_COMPILED_READS), which the read pool sends
    straight through asyncpg: no pre-ping, no BEGIN, no ROLLBACK (counted on the driver)."""
    tag = f"nplus-{uuid.uuid4().hex[:8]}"
    owners = [await make_user(gql, "DATASET") for _ in range(3)]
    sounds = await make_sounds(gql, owners[0], [sound_input() for _ in range(20)])
    for owner in owners[1:]:
        await make_annotations(
            gql,
            owner,
            [
                {
                    "sound": sounds[i % 20]["id"],
                    "startSeconds": i % 50,
                    "durationSeconds": 1,
                    "tags": [tag],
                }
                for i in range(60)
            ],
        )

    q = """query($n: Int, $t: String!) { annotations(first: $n, filter: {tags: [$t]}) { edges { node {
            id createdBy { name } sound { title createdBy { name } } } } } }"""
    counts = []
    resolvers = settings.model_copy(update={"compiled_reads": False})
    with running_api(resolvers) as url:
        fallback = GraphQLClient(gql.http, f"{url}/graphql")
        for client in (gql, fallback):
            for n in (5, 100):
                with counting() as statements:
                    data = await client(q, {"n": n, "t": tag})
                assert len(data["annotations"]["edges"]) == n
                counts.append(len(statements))
    assert counts == [1, 1, 4, 4], counts
