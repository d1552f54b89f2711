"""Keyset pagination: pages never overlap or skip, in both orders and both directions."""

from __future__ import annotations

import pytest

from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient

PAGE = """
query($f: AnnotationFilter, $first: Int, $after: String, $last: Int, $before: String, $order: Order!) {
  annotations(filter: $f, first: $first, after: $after, last: $last, before: $before, order: $order) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

TOTAL = 2600


@pytest.fixture(scope="module")
async def corpus(api_url: str) -> tuple[Account, list[str]]:
    """2,600 annotations by one dataset user, in creation (= id) order."""
    import httpx

    async with httpx.AsyncClient(timeout=60) as http:
        gql = GraphQLClient(http, api_url + "/graphql")
        owner = await make_user(gql, "DATASET")
        [sound] = await make_sounds(gql, owner, [sound_input(durationSeconds=3000.0)])
        ids: list[str] = []
        for start in range(0, TOTAL, 1000):
            batch = [
                {
                    "sound": sound["id"],
                    "startSeconds": float(i),
                    "durationSeconds": 1.0,
                    "tags": [f"n{i % 7}"],
                }
                for i in range(start, min(start + 1000, TOTAL))
            ]
            ids += [a["id"] for a in await make_annotations(gql, owner, batch)]
    return owner, ids


async def _walk(
    gql: GraphQLClient, owner: Account, *, order: str, backwards: bool, size: int
) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        variables = {"f": {"createdBy": owner.id}, "order": order}
        if backwards:
            variables |= {"last": size, "before": cursor}
        else:
            variables |= {"first": size, "after": cursor}
        conn = (await gql(PAGE, variables))["annotations"]
        page = [e["node"]["id"] for e in conn["edges"]]
        info = conn["pageInfo"]
        if backwards:
            seen = page + seen
            more, cursor = info["hasPreviousPage"], info["startCursor"]
        else:
            seen += page
            more, cursor = info["hasNextPage"], info["endCursor"]
        if not more:
            return seen


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("backwards", [False, True], ids=["first-after", "last-before"])
async def test_walk_sees_every_row_once_in_order(
    gql: GraphQLClient, corpus: tuple[Account, list[str]], order: str, backwards: bool
) -> None:
    owner, ids = corpus
    assert ids == sorted(ids), "ids are minted in input order"
    expected = ids if order == "ASC" else ids[::-1]
    seen = await _walk(gql, owner, order=order, backwards=backwards, size=137)
    assert len(seen) == len(set(seen)) == TOTAL
    assert seen == expected


async def test_page_info_both_ways(gql: GraphQLClient, corpus: tuple[Account, list[str]]) -> None:
    owner, ids = corpus
    f = {"createdBy": owner.id}
    first = (await gql(PAGE, {"f": f, "first": 10, "order": "ASC"}))["annotations"]
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["hasNextPage"] is True
    middle = await gql(
        PAGE, {"f": f, "first": 10, "after": first["pageInfo"]["endCursor"], "order": "ASC"}
    )
    info = middle["annotations"]["pageInfo"]
    assert info["hasPreviousPage"] is True and info["hasNextPage"] is True
    assert [e["node"]["id"] for e in middle["annotations"]["edges"]] == ids[10:20]
    back = await gql(PAGE, {"f": f, "last": 5, "before": info["startCursor"], "order": "ASC"})
    assert [e["node"]["id"] for e in back["annotations"]["edges"]] == ids[5:10]
    assert back["annotations"]["pageInfo"]["hasNextPage"] is True
    last = (await gql(PAGE, {"f": f, "last": 3, "order": "ASC"}))["annotations"]
    assert [e["node"]["id"] for e in last["edges"]] == ids[-3:]
    assert last["pageInfo"]["hasNextPage"] is False and last["pageInfo"]["hasPreviousPage"] is True
    empty = (await gql(PAGE, {"f": f, "first": 0, "order": "ASC"}))["annotations"]
    assert empty["edges"] == [] and empty["pageInfo"]["endCursor"] is None


async def test_window_between_two_cursors(
    gql: GraphQLClient, corpus: tuple[Account, list[str]]
) -> None:
    owner, ids = corpus
    f = {"createdBy": owner.id}
    edges = (await gql(PAGE, {"f": f, "first": 30, "order": "ASC"}))["annotations"]["edges"]
    window = await gql(
        PAGE,
        {
            "f": f,
            "first": 100,
            "after": edges[4]["cursor"],
            "before": edges[9]["cursor"],
            "order": "ASC",
        },
    )
    assert [e["node"]["id"] for e in window["annotations"]["edges"]] == ids[5:9]
