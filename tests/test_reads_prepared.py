"""Prepared answers (`api.graphql.compiled.prepared`): a query answered whole by compiled
statements is answered by them alone the next time, and must still read fresh data, check who
asks, pay its points exactly once and be refused exactly as on the normal path."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from api.graphql.schema import schema
from api.settings import Settings
from tests.factories import make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api
from tests.statements import counting

LIST = """query($t: String!) { sounds(first: 5, filter: {tags: [$t]}) {
  totalCount edges { cursor node { id title } } } }"""


@contextmanager
def executions() -> Iterator[list[str | None]]:
    """The documents GraphQL executes while the block runs (the API runs in this process)."""
    seen: list[str | None] = []
    run = type(schema).execute

    async def counted(self: Any, query: str | None, *args: Any, **kwargs: Any) -> Any:
        seen.append(query)
        return await run(self, query, *args, **kwargs)

    type(schema).execute = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        type(schema).execute = run  # type: ignore[method-assign]


async def test_a_repeated_query_is_answered_by_its_statements_and_sees_new_data(
    gql: GraphQLClient,
) -> None:
    owner = await make_user(gql, "DATASET")
    tag = f"prepared-{uuid.uuid4().hex[:8]}"
    await make_sounds(gql, owner, [sound_input(tags=[tag])])
    variables = {"t": tag}
    with executions() as executed:
        first = await gql(LIST, variables)
        with counting() as statements:
            again = await gql(LIST, variables)
    assert executed == [LIST]  # the second was not executed
    assert again == first
    assert len(statements) == 1, statements  # no auth lookup (anonymous), one statement
    await make_sounds(gql, owner, [sound_input(tags=[tag])])
    newer = await gql(LIST, variables)
    assert newer["sounds"]["totalCount"] == 2 and len(newer["sounds"]["edges"]) == 2


async def test_what_is_not_compiled_whole_is_never_prepared(gql: GraphQLClient) -> None:
    tag = f"unprepared-{uuid.uuid4().hex[:8]}"
    for query in (
        # a root field left to the resolvers beside a compiled one
        "query($t: String!) { stats { sounds } sounds(filter: {tags: [$t]}) { totalCount } }",
        # an error (a bad cursor) is answered, never kept
        'query($t: String!) { sounds(after: "nope", filter: {tags: [$t]}) { totalCount } }',
        # a field that depends on who asks
        "query($t: String!) { users(first: 1) { edges { node { id email } } } }",
    ):
        with executions() as executed:
            for _ in range(2):
                await gql.http.post(gql.url, json={"query": query, "variables": {"t": tag}})
        assert executed == [query, query]


@pytest.fixture(scope="module")
def private_url(settings: Settings) -> Iterator[str]:
    small = {"public_read": False, "rate_limit_key_points": 4}
    with running_api(settings.model_copy(update=small)) as url:
        yield url + "/graphql"


async def test_who_asks_and_what_they_pay_are_checked_every_time(
    gql: GraphQLClient, private_url: str
) -> None:
    reader = await make_user(gql, "HUMAN")
    query = "{ sounds(first: 1) { edges { cursor } } }"
    async with httpx.AsyncClient(timeout=30) as http:

        async def ask(token: str | None) -> httpx.Response:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            return await http.post(private_url, json={"query": query}, headers=headers)

        with executions() as executed:
            answers = [await ask(reader.token) for _ in range(4)]
        assert executed == [query]
        assert [a.status_code for a in answers] == [200] * 4
        assert [a.headers["x-ratelimit-used"] for a in answers] == ["1", "2", "3", "4"]
        refused = await ask(reader.token)  # prepared, over budget: the normal path's refusal
        assert refused.status_code == 429 and "retry-after" in refused.headers
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        for token in (None, "not-a-key"):  # public read is off; a bad key is refused
            answer = (await ask(token)).json()
            assert answer["data"] is None
            assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
