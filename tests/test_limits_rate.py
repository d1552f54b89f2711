"""Rate limits: an hourly budget of points per user and per anonymous address, shared through
Redis, visible to the client, answered with 429 and Retry-After when spent."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from api.settings import Settings
from tests.factories import make_user, unique
from tests.server import GraphQLClient, running_api
from tests.services import free_port

_BLOCKS = itertools.count(20)
RATE = "{ rateLimit { limit cost used remaining resetAt } }"
# 1 page of sounds and one page of annotations for each of its 500 sounds: 501 pages, 5 points.
WIDE = """{ rateLimit { cost used remaining }
  sounds(first: 500) { edges { node { annotations(first: 10) { edges { node { id } } } } } } }"""


@pytest.fixture(scope="module")
def limited_url(settings: Settings) -> Iterator[str]:
    small = {"rate_limit_anon_points": 5, "rate_limit_key_points": 8}
    with running_api(settings.model_copy(update=small)) as url:
        yield url + "/graphql"


class Client:
    """A client calling from its own loopback address (each address has its own budget)."""

    def __init__(self, http: httpx.AsyncClient, url: str, address: str) -> None:
        self.http = http
        self.url = url
        self.address = address

    async def post(self, query: str, token: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(self.url, json={"query": query}, headers=headers)


@pytest.fixture
async def clients(limited_url: str) -> AsyncIterator[list[Client]]:
    """Three clients, each from a loopback address no other test of this session uses."""
    base = next(_BLOCKS)  # fresh addresses for every test (Redis is flushed per session)
    addresses = [f"127.0.{base}.{n + 2}" for n in range(3)]
    made = [
        httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=a), timeout=30)
        for a in addresses
    ]
    try:
        yield [Client(h, limited_url, a) for h, a in zip(made, addresses, strict=True)]
    finally:
        for http in made:
            await http.aclose()


def first_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    return body["errors"][0]  # type: ignore[no-any-return]


async def test_an_anonymous_address_spends_its_budget_then_gets_429(
    clients: list[Client], gql: GraphQLClient
) -> None:
    me = clients[0]
    seen = []
    for _ in range(5):
        answer = await me.post(RATE)
        assert answer.status_code == 200
        seen.append(answer.json()["data"]["rateLimit"])
    assert [r["used"] for r in seen] == [1, 2, 3, 4, 5]
    assert [r["remaining"] for r in seen] == [4, 3, 2, 1, 0]
    assert {r["limit"] for r in seen} == {5} and {r["cost"] for r in seen} == {1}
    reset = datetime.fromisoformat(seen[0]["resetAt"])
    assert timedelta(minutes=59) < reset - datetime.now(UTC) <= timedelta(hours=1)
    assert answer.headers["x-ratelimit-remaining"] == "0"

    # Over budget: 429, Retry-After, RATE_LIMITED, and nothing runs (the sign-up is not made).
    name = unique("over-budget")
    answer = await me.post(
        f'mutation {{ createUser(input: {{name: "{name}", type: HUMAN, password: "long enough pw"}})'
        " { user { id } } }"
    )
    assert answer.status_code == 429
    retry_after = int(answer.headers["retry-after"])
    assert 3500 < retry_after <= 3600
    error = first_error(answer.json())
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == retry_after
    assert datetime.fromisoformat(error["extensions"]["resetAt"]) > datetime.now(UTC)
    assert "0 of the 5 points of this hour are left" in error["message"]
    found = await gql(
        "query($n: String) { users(filter: {name: $n}) { edges { node { id } } } }", {"n": name}
    )
    assert found["users"]["edges"] == []

    # Another address is not affected.
    answer = await clients[1].post(RATE)
    assert answer.status_code == 200 and answer.json()["data"]["rateLimit"]["used"] == 1


async def test_a_key_has_its_own_budget_charged_by_cost(
    clients: list[Client], gql: GraphQLClient
) -> None:
    me = clients[0]
    user = await make_user(gql, "AGGREGATOR")
    for _ in range(5):
        assert (await me.post(RATE)).status_code == 200
    assert (await me.post(RATE)).status_code == 429  # the address is spent...
    keyed = await me.post(WIDE, token=user.token)  # ...its keyed user is not
    assert keyed.status_code == 200, keyed.json()
    assert keyed.json()["data"]["rateLimit"] == {"cost": 5, "used": 5, "remaining": 3}
    refused = await me.post(WIDE, token=user.token)  # 5 more points than the 3 left
    assert refused.status_code == 429
    assert first_error(refused.json())["extensions"]["code"] == "RATE_LIMITED"
    cheap = (await me.post(RATE, token=user.token)).json()["data"]["rateLimit"]
    assert (cheap["limit"], cheap["cost"], cheap["used"], cheap["remaining"]) == (8, 1, 6, 2)
    # The same user from another address shares the budget (it is the user's).
    other = await clients[2].post(RATE, token=user.token)
    assert other.json()["data"]["rateLimit"]["used"] == 7


async def test_the_budget_resets_when_its_hour_is_over(
    clients: list[Client], redis_url: str
) -> None:
    me = clients[0]
    for _ in range(5):
        await me.post(RATE)
    assert (await me.post(RATE)).status_code == 429
    # Let the hour pass: the window is the expiry of the address's budget in Redis.
    store = aioredis.Redis.from_url(redis_url)
    try:
        key = f"cochlea:limits:rate:address:{me.address}"
        assert await store.get(key) == b"5"
        assert 3500_000 < await store.pttl(key) <= 3600_000
        await store.pexpire(key, 50)
    finally:
        await store.aclose()
    await asyncio.sleep(0.2)
    answer = await me.post(RATE)
    assert answer.status_code == 200
    assert answer.json()["data"]["rateLimit"]["used"] == 1


async def test_concurrent_requests_never_overdraw(clients: list[Client]) -> None:
    answers = await asyncio.gather(*(clients[0].post(RATE) for _ in range(12)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 5 + [429] * 7


async def test_without_redis_requests_are_served_unmetered(settings: Settings) -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    for update in ({"redis_url": unreachable}, {"rate_limit_anon_points": 0}):
        with running_api(settings.model_copy(update=update)) as url:
            async with httpx.AsyncClient(timeout=30) as http:
                for _ in range(3):
                    answer = await http.post(url + "/graphql", json={"query": RATE})
                    assert answer.status_code == 200, answer.text
                    assert answer.json() == {"data": {"rateLimit": None}}
                    assert "x-ratelimit-limit" not in answer.headers
