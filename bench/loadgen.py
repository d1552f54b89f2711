"""A minimal closed-loop load generator, run as its own process so it never shares a CPU
scheduler slot, an event loop or a GIL with what it measures.

    python -m bench.loadgen < spec.json > result.json

Two modes, same loop, same clock, same statistics:

- `http`: `concurrency` keep-alive HTTP/1.1 connections to 127.0.0.1, each sending the next
  pre-encoded POST as soon as the previous answer is read. Raw asyncio streams (on uvloop when
  installed), not httpx: an httpx client tops out near 730 req/s on two cores and measures
  itself. A response counts only if its status is 200 and it carries no GraphQL `errors`.
- `sql`: `concurrency` asyncpg connections, each running one request's statements in turn
  (the floor: the same SQL with no HTTP, no GraphQL and no pool in between).

Bounded: every run stops after `duration` seconds or `max_requests` requests, whichever comes
first, after `warmup` seconds that are not counted. Prints one JSON object (requests/s and
p50/p90/p99/p99.9/max latency).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

Request = Callable[[int], Awaitable[bool]]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


class _Http:
    """One keep-alive connection; `send(i)` posts body i and reads the whole answer."""

    def __init__(self, host: str, port: int, requests: list[bytes]) -> None:
        self.host, self.port, self.requests = host, port, requests
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    async def send(self, i: int) -> bool:
        try:
            return await self._send(i)
        except BaseException:
            self.close()  # a half-read answer leaves the connection unusable
            raise

    async def _send(self, i: int) -> bool:
        reader, writer = await self.connect()
        writer.write(self.requests[i])
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            body = await self._chunked(reader)
        else:
            start = lower.index(b"content-length:") + 15
            length = int(lower[start : lower.index(b"\r\n", start)])
            body = await reader.readexactly(length)
        if b"connection: close" in lower:
            writer.close()
            self.reader = self.writer = None
        return status == 200 and b'"errors"' not in body

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_requests(spec: dict[str, Any]) -> list[bytes]:
    """Every request of the rotation (`method` POST by default), encoded once, before anything
    is timed."""
    encoded = []
    for body in spec["bodies"]:
        payload = body.encode()
        head = (
            f"{spec.get('method', 'POST')} {spec['path']} HTTP/1.1\r\n"
            f"Host: {spec['host']}:{spec['port']}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        encoded.append(head.encode() + payload)
    return encoded


async def _workers(spec: dict[str, Any]) -> tuple[list[Request], Callable[[], Awaitable[None]]]:
    concurrency = int(spec["concurrency"])
    if spec["mode"] == "http":
        if spec["host"] not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("the load generator only targets loopback")
        requests = http_requests(spec)
        clients = [_Http(spec["host"], int(spec["port"]), requests) for _ in range(concurrency)]
        for client in clients:
            # Connect one at a time, before any timing: a server whose processes share one
            # listening socket (uvicorn's --workers) lets the first to wake accept a whole
            # burst; every target sees the same paced arrivals.
            await client.connect()
            await asyncio.sleep(0.01)

        async def close_http() -> None:
            for client in clients:
                client.close()

        return [c.send for c in clients], close_http
    import asyncpg

    statements: list[list[tuple[str, list[Any]]]] = spec["statements"]
    connections = [await asyncpg.connect(spec["dsn"]) for _ in range(concurrency)]

    def runner(connection: Any) -> Request:
        async def run(i: int) -> bool:
            for sql, params in statements[i]:
                await connection.fetch(sql, *params)
            return True

        return run

    async def close_sql() -> None:
        for connection in connections:
            await connection.close()

    return [runner(c) for c in connections], close_sql


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the target for warmup + duration seconds; the figures cover the timed part only."""
    workers, close = await _workers(spec)
    variants = len(spec["bodies"]) if spec["mode"] == "http" else len(spec["statements"])
    rotation = itertools.cycle(range(variants))
    warm_until = time.perf_counter() + float(spec.get("warmup", 0.5))
    stop_at = warm_until + float(spec["duration"])
    budget = int(spec.get("max_requests", 1_000_000))
    latencies: list[float] = []
    failures = 0
    first_failure = ""
    last_done = warm_until

    async def loop(send: Request) -> None:
        nonlocal failures, budget, first_failure, last_done
        while True:
            started = time.perf_counter()
            if started >= stop_at or budget <= 0:
                return
            counted = started >= warm_until
            try:
                ok = await send(next(rotation))
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                ok, first_failure = False, first_failure or repr(error)
            if counted:
                budget -= 1
                last_done = time.perf_counter()
                if ok:
                    latencies.append(last_done - started)
                else:
                    failures += 1

    try:
        await asyncio.gather(*(loop(w) for w in workers))
    finally:
        await close()
    elapsed = max(1e-9, last_done - warm_until)
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": failures,
        "first_failure": first_failure,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p999_ms": percentile(latencies, 99.9) * 1000,
        "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
    }


def main() -> None:
    spec = json.load(sys.stdin)
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    json.dump(runner(run(spec)), sys.stdout)


if __name__ == "__main__":
    main()
