"""Follow a Cochlea stream from a stored cursor, as bots and aggregators do.

`follow(...)` yields each new node; the cursor is checkpointed (in Redis, under a key the bot
chooses) only when the caller asks for the next node, i.e. after its work on the previous one
is done. A crash therefore repeats at most the node in progress, never skips one; the work
must be idempotent (creating annotations with a `key` is). Connection losses are retried with
capped exponential backoff, resuming from the last checkpoint.

`follow_batches(...)` (in `workers.sdk.batches`) is the variant for indexes: it catches up by
pages of the list and then follows live, yielding lists of `Edge`s to commit at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

from websockets.exceptions import WebSocketException

from workers.sdk.checkpoints import Checkpoint, RedisCheckpoint
from workers.sdk.graphql_ws import SubscriptionError, subscribe

__all__ = ["FATAL_CODES", "FILTER_TYPES", "RedisCheckpoint", "follow", "subscription_document"]

log = logging.getLogger(__name__)

# Errors after which retrying cannot help: the request itself is wrong.
FATAL_CODES = {
    "BAD_CURSOR",
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "UNAUTHENTICATED",
    "FORBIDDEN",
}

FILTER_TYPES = {"soundCreated": "SoundFilter", "annotationCreated": "AnnotationFilter"}


def subscription_document(field: str, selection: str) -> str:
    if field in FILTER_TYPES:
        return (
            f"subscription($after: String, $filter: {FILTER_TYPES[field]}) "
            f"{{ {field}(after: $after, filter: $filter) {{ cursor node {{ {selection} }} }} }}"
        )
    return (
        f"subscription($after: String) "
        f"{{ {field}(after: $after) {{ cursor node {{ {selection} }} }} }}"
    )


async def follow(
    *,
    url: str,
    field: str,
    selection: str,
    checkpoint: Checkpoint,
    token: str | None = None,
    filter: Mapping[str, Any] | None = None,
    max_backoff: float = 30.0,
    compression: bool = False,
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield the nodes of `field` (e.g. `annotationCreated`) after the checkpoint, forever.
    `compression` offers permessage-deflate (`graphql_ws.subscribe`): for a slow link to a
    server that has it on."""
    document = subscription_document(field, selection)
    failures = 0
    while True:
        after = await checkpoint.load()
        variables: dict[str, Any] = {"after": after}
        if field in FILTER_TYPES:
            variables["filter"] = dict(filter) if filter else None
        try:
            stream = subscribe(url, document, variables, token=token, compression=compression)
            async with aclosing(stream):
                async for data in stream:
                    edge = data[field]
                    failures = 0
                    yield edge["node"]
                    await checkpoint.save(edge["cursor"])
        except SubscriptionError as error:
            if FATAL_CODES.intersection(error.codes):
                raise
            log.warning("subscription ended with errors: %s", error)
        except (TimeoutError, OSError, WebSocketException) as error:
            log.warning("stream connection lost: %r", error)
        failures += 1
        delay = min(max_backoff, 0.2 * 2**failures) * (0.5 + random.random() / 2)
        await asyncio.sleep(delay)
