"""Subscription limits: a cap per websocket and per user (across API processes, in Redis),
refused with TOO_MANY_SUBSCRIPTIONS; a bad key is refused at the handshake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.services.ratelimit import Lease, Limiter
from api.settings import Settings
from tests.factories import make_user
from tests.server import GraphQLClient, running_api
from workers.sdk.graphql_ws import SubscriptionError, subscribe

USERS = "subscription { userCreated { cursor node { name } } }"


@pytest.fixture(scope="module")
def capped(settings: Settings) -> Iterator[tuple[str, str]]:
    """Two API servers (one Redis) with room for 2 subscriptions per socket, 3 per user."""
    caps = {"max_subscriptions_per_connection": 2, "max_subscriptions_per_key": 3}
    limited = settings.model_copy(update=caps)
    with running_api(limited) as one, running_api(limited) as two:
        yield one, two


async def open_socket(url: str, token: str | None = None) -> ClientConnection:
    socket = await connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        close_timeout=1,
    )
    init: dict[str, Any] = {"type": "connection_init"}
    if token:
        init["payload"] = {"authorization": f"Bearer {token}"}
    await socket.send(json.dumps(init))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    return socket


async def start(socket: ClientConnection, op_id: str, query: str = USERS) -> None:
    message = {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": {}}}
    await socket.send(json.dumps(message))


async def answer(
    socket: ClientConnection, op_id: str, *, within: float = 2
) -> dict[str, Any] | None:
    """The next message about `op_id`, or None when there is none within `within` s (a live
    subscription with nothing new says nothing)."""
    try:
        async with asyncio.timeout(within):
            while True:
                message = json.loads(await socket.recv())
                if message.get("id") == op_id:
                    return message  # type: ignore[no-any-return]
    except TimeoutError:
        return None


async def next_message(socket: ClientConnection, *, within: float) -> dict[str, Any]:
    """The next message on the socket, whatever operation it is about."""
    async with asyncio.timeout(within):
        return json.loads(await socket.recv())  # type: ignore[no-any-return]


def codes(message: dict[str, Any] | None) -> list[str]:
    assert message is not None
    payload = message["payload"]
    errors = payload if message["type"] == "error" else payload.get("errors", [])
    return [e["extensions"]["code"] for e in errors]


async def test_a_socket_holds_at_most_its_cap(capped: tuple[str, str]) -> None:
    socket = await open_socket(capped[0])
    try:
        for op_id in ("a", "b", "c"):
            await start(socket, op_id)
        # The three start concurrently on the server: whichever comes third is refused.
        refused = await next_message(socket, within=10)
        assert codes(refused) == ["TOO_MANY_SUBSCRIPTIONS"]
        assert "the limit is 2" in json.dumps(refused)
        live = sorted({"a", "b", "c"} - {refused["id"]})
        assert await answer(socket, live[0], within=0.5) is None  # still live
        # Ending one makes room for another.
        await socket.send(json.dumps({"id": live[0], "type": "complete"}))
        await asyncio.sleep(0.3)
        await start(socket, "d")
        assert await answer(socket, "d", within=1) is None  # accepted, live
    finally:
        await socket.close()


async def test_a_user_holds_at_most_its_cap_across_processes(
    capped: tuple[str, str], gql: GraphQLClient
) -> None:
    one, two = capped
    user = await make_user(gql, "AGGREGATOR")
    other = await make_user(gql, "AGGREGATOR")
    first, second = await open_socket(one, user.token), await open_socket(two, user.token)
    sockets = [first, second]
    try:
        await start(first, "1")
        await start(first, "2")
        await start(second, "3")  # on the other process: 3 live for this user
        await asyncio.sleep(0.5)
        third = await open_socket(two, user.token)
        sockets.append(third)
        await start(third, "4")
        refused = await answer(third, "4")
        assert codes(refused) == ["TOO_MANY_SUBSCRIPTIONS"]
        assert "the limit is 3" in json.dumps(refused)
        # Another user is not affected.
        theirs = await open_socket(one, other.token)
        sockets.append(theirs)
        await start(theirs, "x")
        assert await answer(theirs, "x", within=1) is None
        # Closing a socket gives its subscriptions back, on every process.
        await first.close()
        await asyncio.sleep(0.5)
        await start(third, "5")
        assert await answer(third, "5", within=1) is None
    finally:
        for socket in sockets:
            await socket.close()


async def test_a_bad_key_is_refused_at_the_handshake(api_url: str, gql: GraphQLClient) -> None:
    socket = await connect(
        api_url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    )
    init = {"type": "connection_init", "payload": {"authorization": "Bearer ck_nope_nope"}}
    await socket.send(json.dumps(init))
    with pytest.raises(ConnectionClosed) as closed:
        await socket.recv()  # no connection_ack: the socket is closed
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # The SDK reports it as an error with a code, before anything is subscribed.
    stream = subscribe(api_url + "/graphql", USERS, token="ck_nope_nope")
    with pytest.raises(SubscriptionError) as refused:
        await anext(stream)
    assert refused.value.codes == ["UNAUTHENTICATED"]
    # A good key is welcome.
    user = await make_user(gql, "AGGREGATOR")
    welcome = await open_socket(api_url, user.token)
    await welcome.close()


async def test_a_costly_subscription_is_refused(api_url: str) -> None:
    query = """subscription { soundCreated { node { annotations(first: 500) { edges { node {
      sound { annotations(first: 500) { edges { node { sound { annotations(first: 500) {
      edges { node { id } } } } } } } } } } } } } }"""
    stream = subscribe(api_url + "/graphql", query)
    with pytest.raises(SubscriptionError) as refused:
        await anext(stream)
    assert refused.value.codes == ["QUERY_TOO_COMPLEX"]
    assert "may return 125,250,500 nodes" in str(refused.value)


async def test_the_leases_of_a_crashed_process_lapse(redis_url: str) -> None:
    """Per-user counts live in Redis as leases that their process renews: a process that dies
    without giving its subscriptions back only holds them until their leases lapse."""
    crashed = Limiter(redis_url, lease_seconds=0.5)
    user = f"lapse-test-{id(crashed)}"
    held = [await crashed.acquire(user=user, cap=2) for _ in range(2)]
    assert all(isinstance(lease, Lease) for lease in held)
    assert await crashed.acquire(user=user, cap=2) == 2  # refused: 2 live
    await crashed.close()  # gone, without releasing anything

    survivor = Limiter(redis_url, lease_seconds=0.5)
    try:
        assert await survivor.acquire(user=user, cap=2) == 2  # still held, for now
        await asyncio.sleep(0.7)
        lease = await survivor.acquire(user=user, cap=2)
        assert isinstance(lease, Lease)  # the crashed process's leases lapsed
        for _ in range(3):  # a live lease, renewed, does not lapse
            await asyncio.sleep(0.3)
            await survivor.renew(lease)
        other = await survivor.acquire(user=user, cap=2)
        assert isinstance(other, Lease)
        assert await survivor.acquire(user=user, cap=2) == 2
        await survivor.release(other)
        assert isinstance(await survivor.acquire(user=user, cap=2), Lease)
    finally:
        await survivor.close()
