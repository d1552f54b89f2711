"""Follow a stream in batches, for indexes that commit many items (and their cursor) at once.

`follow_batches(...)` first catches up by pages of the stream's list (`sounds`, `annotations`,
`users`: one query per `max_items`), then follows the subscription live, handing over whatever
has arrived as one batch. The checkpoint is saved with the last cursor of a batch only when
the caller asks for the next one, i.e. after its work on that batch is durable; an aggregator
that commits its cursor with its index passes a `CommittedCheckpoint` instead.

`start` says where a follower without a checkpoint begins: "beginning" (an index wants all of
it) or "end" (only what is created from now on). An empty stream is polled until its first
item exists, so that nothing created while the subscription opens can be missed. Live, the
filtered streams use the batched subscriptions (`soundsCreated`, `annotationsCreated`: a list
of edges per message).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any, Literal

from websockets.exceptions import WebSocketException

from workers.sdk.checkpoints import Checkpoint
from workers.sdk.client import ApiClient, ApiUnavailable, GraphQLError
from workers.sdk.graphql_ws import SubscriptionError, subscribe
from workers.sdk.stream import FATAL_CODES, FILTER_TYPES, subscription_document

__all__ = ["BATCHED", "LISTS", "Edge", "batch_document", "follow_batches", "list_document"]

log = logging.getLogger(__name__)

LISTS = {"soundCreated": "sounds", "annotationCreated": "annotations", "userCreated": "users"}
"""The list each stream replays: same order, same cursors, same filter."""

BATCHED = {"soundCreated": "soundsCreated", "annotationCreated": "annotationsCreated"}
"""The subscription that sends each stream's edges in lists (same order, same cursors)."""
MAX_BATCH = 500
"""The largest `maxBatch` the API accepts."""

Start = Literal["beginning", "end"]


@dataclass(frozen=True, slots=True)
class Edge:
    """One item of a stream and the cursor just after it."""

    cursor: str
    node: dict[str, Any]


def list_document(field: str, selection: str) -> str:
    """The query that pages through the list behind stream `field`."""
    name = LISTS[field]
    if field in FILTER_TYPES:
        head = f"query($after: String, $first: Int, $filter: {FILTER_TYPES[field]})"
        args = "first: $first, after: $after, filter: $filter"
    else:
        head, args = "query($after: String, $first: Int)", "first: $first, after: $after"
    return (
        f"{head} {{ {name}({args}) {{ edges {{ cursor node {{ {selection} }} }} "
        "pageInfo { hasNextPage } } }"
    )


def batch_document(field: str, selection: str) -> str:
    """The batched subscription behind stream `field` (one of `BATCHED`)."""
    return (
        f"subscription($after: String, $filter: {FILTER_TYPES[field]}, $maxBatch: Int!) "
        f"{{ {BATCHED[field]}(after: $after, filter: $filter, maxBatch: $maxBatch) "
        f"{{ cursor node {{ {selection} }} }} }}"
    )


async def follow_batches(
    *,
    url: str,
    field: str,
    selection: str,
    checkpoint: Checkpoint,
    token: str | None = None,
    filter: Mapping[str, Any] | None = None,
    start: Start = "beginning",
    max_items: int = 500,
    poll_seconds: float = 1.0,
    max_backoff: float = 30.0,
    compression: bool = False,
) -> AsyncGenerator[list[Edge], None]:
    """Yield non-empty lists of `Edge`s of stream `field` after the checkpoint, forever.
    `compression` offers permessage-deflate on the live subscription (`follow`'s)."""
    if field not in LISTS:
        raise ValueError(f"unknown stream {field!r}: one of {', '.join(LISTS)}")
    filter_ = dict(filter) if filter and field in FILTER_TYPES else None
    async with ApiClient(url=url, token=token) as client:
        after = await checkpoint.load()
        if after is None and start == "end":
            after = await _newest(client, field, filter_)
            if after is not None:
                await checkpoint.save(after)
        failures, size = 0, max_items
        while True:
            try:
                while True:  # catch up by pages; then, once there is a cursor, follow live
                    try:
                        page, more = await _page(client, field, selection, filter_, after, size)
                    except GraphQLError as error:
                        if size > 1 and _refused_size(error):  # the API's pages are smaller
                            size //= 2
                            continue
                        raise
                    if page:
                        yield page
                        after = page[-1].cursor
                        await checkpoint.save(after)
                    failures = 0
                    if not more:
                        break
                if after is None:
                    await asyncio.sleep(poll_seconds)
                    continue
                live = _live(url, field, selection, filter_, after, token, max_items, compression)
                async with aclosing(live) as batches:
                    async for batch in batches:
                        failures = 0
                        yield batch
                        after = batch[-1].cursor
                        await checkpoint.save(after)
            except (SubscriptionError, GraphQLError) as error:
                if FATAL_CODES.intersection(error.codes) or not error_retryable(error):
                    raise
                log.warning("%s ended with errors: %s", field, error)
            except (ApiUnavailable, TimeoutError, OSError, WebSocketException) as error:
                log.warning("%s: connection lost: %r", field, error)
            failures += 1
            await asyncio.sleep(min(max_backoff, 0.2 * 2**failures) * (0.5 + random.random() / 2))


def _refused_size(error: GraphQLError) -> bool:
    """Whether the API refused the page size (`first` over its COCHLEA_MAX_PAGE_SIZE)."""
    return any((e.get("extensions") or {}).get("argument") == "first" for e in error.errors)


def error_retryable(error: SubscriptionError | GraphQLError) -> bool:
    return isinstance(error, SubscriptionError) or error.retryable


async def _newest(client: ApiClient, field: str, filter_: dict[str, Any] | None) -> str | None:
    name = LISTS[field]
    if field in FILTER_TYPES:
        query = f"query($f: {FILTER_TYPES[field]}) {{ {name}(last: 1, filter: $f) "
        query += "{ edges { cursor } } }"
        data = await client.execute(query, {"f": filter_})
    else:
        data = await client.execute(f"{{ {name}(last: 1) {{ edges {{ cursor }} }} }}")
    edges = data[name]["edges"]
    return str(edges[0]["cursor"]) if edges else None


async def _page(
    client: ApiClient,
    field: str,
    selection: str,
    filter_: dict[str, Any] | None,
    after: str | None,
    size: int,
) -> tuple[list[Edge], bool]:
    variables: dict[str, Any] = {"after": after, "first": size}
    if field in FILTER_TYPES:
        variables["filter"] = filter_
    data = (await client.execute(list_document(field, selection), variables))[LISTS[field]]
    edges = [Edge(cursor=e["cursor"], node=e["node"]) for e in data["edges"]]
    return edges, bool(data["pageInfo"]["hasNextPage"])


async def _live(
    url: str,
    field: str,
    selection: str,
    filter_: dict[str, Any] | None,
    after: str,
    token: str | None,
    max_items: int,
    compression: bool,
) -> AsyncGenerator[list[Edge], None]:
    """Batches of what the subscription delivered while the previous batch was worked on."""
    variables: dict[str, Any] = {"after": after}
    if field in FILTER_TYPES:
        variables["filter"] = filter_
    queue: asyncio.Queue[Edge | BaseException] = asyncio.Queue(maxsize=4 * max_items)

    batched = field in BATCHED
    if batched:
        variables["maxBatch"] = min(max_items, MAX_BATCH)
        document = batch_document(field, selection)
    else:
        document = subscription_document(field, selection)

    async def read() -> None:
        try:
            stream = subscribe(url, document, variables, token=token, compression=compression)
            async with aclosing(stream):
                async for data in stream:
                    edges = data[BATCHED[field]] if batched else [data[field]]
                    for edge in edges:
                        await queue.put(Edge(cursor=edge["cursor"], node=edge["node"]))
            await queue.put(ConnectionResetError(f"the server completed {field}"))
        except Exception as error:  # handed to the consumer, which decides about retrying
            await queue.put(error)

    reader = asyncio.create_task(read())
    try:
        while True:
            item = await queue.get()
            batch: list[Edge] = []
            while isinstance(item, Edge):
                batch.append(item)
                if len(batch) >= max_items or queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                yield batch
            if isinstance(item, BaseException):
                raise item
    finally:
        reader.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await reader
