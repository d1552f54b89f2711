"""UUIDv7 ids that also follow commit order.

A UUIDv7 is 48 bits of Unix milliseconds, then version and variant bits around 74 bits that
RFC 9562 lets us use as a counter. We use the "monotonic random" method: a fresh id starts its
counter at a random value with the top bit clear; ids in the same batch (or minted when the
clock is behind the newest stored id) are the previous id's counter plus one. Given the newest
committed id of a kind (`after`), `mint(count=..., after=...)` returns ids strictly greater than
it and increasing in input order, whatever the machine clocks say, so the order of ids is the
order in which writers passed the per-kind commit lock (see `api.services.streams`).
"""

from __future__ import annotations

import secrets
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_COUNTER_BITS = 74  # 12 bits of rand_a + 62 bits of rand_b


def _pack(ms: int, counter: int) -> int:
    rand_a = counter >> 62
    rand_b = counter & ((1 << 62) - 1)
    return (ms << 80) | _VERSION | (rand_a << 64) | _VARIANT | rand_b


def _unpack(value: uuid.UUID) -> tuple[int, int]:
    n = value.int
    ms = n >> 80
    rand_a = (n >> 64) & 0xFFF
    rand_b = n & ((1 << 62) - 1)
    return ms, (rand_a << 62) | rand_b


def mint(
    *, count: int, after: uuid.UUID | None = None, now_ms: int | None = None
) -> list[uuid.UUID]:
    """`count` increasing UUIDv7 ids, all greater than `after`."""
    return [uuid.UUID(int=n) for n in mint_ints(count=count, after=after, now_ms=now_ms)]


def mint_ints(
    *, count: int, after: uuid.UUID | None = None, now_ms: int | None = None
) -> list[int]:
    """`mint`'s ids as integers (`UUID.int`), for a batch that needs only their bytes before
    commit (making thousands of `uuid.UUID` costs more than minting them)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if after is not None:
        last_ms, last_counter = _unpack(after)
        if last_ms >= ms:
            ms, counter = last_ms, last_counter + 1
        else:
            counter = secrets.randbits(_COUNTER_BITS - 1)
    else:
        counter = secrets.randbits(_COUNTER_BITS - 1)
    ids = []
    for _ in range(count):
        if counter >> _COUNTER_BITS:  # counter overflow: move to the next millisecond
            ms, counter = ms + 1, secrets.randbits(_COUNTER_BITS - 1)
        ids.append(_pack(ms, counter))
        counter += 1
    return ids


def parse(value: str) -> uuid.UUID | None:
    """The UUID in `value`, or None when it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
