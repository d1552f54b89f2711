"""One `createAnnotations` call for the jobs of a bot that finish while another call is out.

A job hands its inputs to its bot's `AnnotationBatcher` and waits for its ids. When no call is
in flight, the inputs go at once (no added latency); while one is, the inputs of every job
finishing meanwhile wait and leave together in the next call (up to `MAX_BATCH` inputs), so a
backlog of short sounds costs the API one GraphQL execution and one transaction per batch
instead of per job. Keys keep this exactly-once: the batch is idempotent as a whole and per
input, so a job killed mid-call finds its annotations when it runs again. If a combined call
fails, each job's inputs are sent again on their own, so every job gets its own outcome
(one job's refused input cannot fail its neighbours).
"""

from __future__ import annotations

import asyncio
from typing import Any

from workers.bots.publish import MAX_BATCH, create_annotations
from workers.sdk.client import ApiClient

__all__ = ["AnnotationBatcher"]

Entry = tuple[list[dict[str, Any]], "asyncio.Future[list[str]]"]


class AnnotationBatcher:
    """Coalesces one bot's annotation calls (one batcher per bot client, in one event loop)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.calls = 0
        """createAnnotations calls made (a batch split in MAX_BATCH parts counts once)."""
        self._waiting: list[Entry] = []
        self._sender: asyncio.Task[None] | None = None

    async def create(self, inputs: list[dict[str, Any]]) -> list[str]:
        """Create `inputs` (as `publish.create_annotations` would); their ids in order."""
        if not inputs:
            return []
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append((inputs, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="annotation-batcher")
        return await future  # a cancelled job cancels its future: its inputs are then skipped

    async def _send(self) -> None:
        batch: list[Entry] = []
        try:
            while self._waiting:
                batch = self._next_batch()
                if len(batch) == 1:
                    await self._settle(batch[0])
                elif batch:
                    await self._send_together(batch)
                batch = []
        except BaseException as exc:  # cancelled with the worker: no job may wait forever
            for _, future in [*batch, *self._waiting]:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
            self._waiting.clear()
            raise

    def _next_batch(self) -> list[Entry]:
        batch: list[Entry] = []
        size = 0
        while self._waiting:
            inputs, future = self._waiting[0]
            if batch and size + len(inputs) > MAX_BATCH:
                break
            self._waiting.pop(0)
            if not future.cancelled():
                batch.append((inputs, future))
                size += len(inputs)
        return batch

    async def _send_together(self, batch: list[Entry]) -> None:
        try:
            self.calls += 1
            ids = await create_annotations(
                client=self.client, inputs=[i for inputs, _ in batch for i in inputs]
            )
        except Exception:
            for entry in batch:  # on their own: each job gets its own outcome
                await self._settle(entry)
            return
        position = 0
        for inputs, future in batch:
            if not future.done():
                future.set_result(ids[position : position + len(inputs)])
            position += len(inputs)

    async def _settle(self, entry: Entry) -> None:
        inputs, future = entry
        try:
            self.calls += 1
            ids = await create_annotations(client=self.client, inputs=inputs)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(ids)
