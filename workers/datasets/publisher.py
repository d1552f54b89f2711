"""Sending checked items to the API: their audio first, then `createSounds`, then
`createAnnotations`, in the largest batches the API takes.

Resuming needs no checkpoint: every sound and annotation carries its key, so a batch sent
again returns what exists and creates only what is missing. A sound is created before its
annotations, so a crash in between leaves a sound that the next run completes. A batch the
API refuses (it is atomic: nothing was written) is split: the inputs it names are skipped with
its reason, and the rest is sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from workers.datasets.items import Segment, SoundItem
from workers.datasets.report import Tally
from workers.datasets.storage import AudioStore
from workers.sdk.client import ApiClient, ApiError, UserErrors

MAX_SOUNDS = 1000  # the API's batch limits
MAX_ANNOTATIONS = 5000
RETRIES = 5

CREATE_SOUNDS = """mutation($input: [SoundInput!]!) {
  createSounds(input: $input) { sounds { id } created userErrors { index field code message } } }"""
CREATE_ANNOTATIONS = """mutation($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) { annotations { id } created
    userErrors { index field code message } } }"""


def sound_input(item: SoundItem, audio_url: str) -> dict[str, Any]:
    assert item.duration is not None
    return {
        "key": item.key,
        "title": item.title,
        "audioUrl": audio_url,
        "license": item.license,
        "durationSeconds": item.duration,
        "tags": item.tags,
        "infoUrl": item.info_url,
        "metadata": item.metadata,
    }


def annotation_input(segment: Segment, sound_id: str) -> dict[str, Any]:
    return {
        "key": segment.key,
        "sound": sound_id,
        "startSeconds": segment.start,
        "durationSeconds": segment.end - segment.start,
        "tags": segment.tags,
        "dataUrl": segment.data_url,
        "metadata": segment.metadata,
    }


def all_segments(item: SoundItem) -> list[Segment]:
    return ([item.whole] if item.whole is not None else []) + item.segments


class Publisher:
    """Publishes batches of items; `tally` counts what happened. Safe to run several
    `publish` calls at once (that is how several requests are kept in flight)."""

    def __init__(
        self, *, client: ApiClient, store: AudioStore, tally: Tally, uploads: int = 8
    ) -> None:
        self.client = client
        self.store = store
        self.tally = tally
        self.uploads = asyncio.Semaphore(uploads)

    async def publish(self, items: Sequence[SoundItem]) -> None:
        urls = await asyncio.gather(*(self._audio_url(item) for item in items))
        inputs = [sound_input(item, url) for item, url in zip(items, urls, strict=True)]
        keys = [item.key for item in items]
        ids = await self._create(CREATE_SOUNDS, "createSounds", "sounds", inputs, keys)
        notes: list[dict[str, Any]] = []
        for item, sound_id in zip(items, ids, strict=True):
            if sound_id is not None:
                notes.extend(annotation_input(s, sound_id) for s in all_segments(item))
        for start in range(0, len(notes), MAX_ANNOTATIONS):
            chunk = notes[start : start + MAX_ANNOTATIONS]
            keys = [str(a["key"]) for a in chunk]
            await self._create(CREATE_ANNOTATIONS, "createAnnotations", "annotations", chunk, keys)

    async def _audio_url(self, item: SoundItem) -> str:
        if item.audio.url is not None:
            return item.audio.url
        assert item.audio.path is not None and item.audio.relative is not None
        async with self.uploads:
            return await self.store.publish(item.audio.path, item.audio.relative)

    async def _create(
        self,
        query: str,
        field: str,
        kind: str,
        inputs: list[dict[str, Any]],
        keys: list[str],
    ) -> list[str | None]:
        """Ids in input order (None: refused and skipped), counting created and present."""
        ids: list[str | None] = [None] * len(inputs)
        pending = list(range(len(inputs)))
        while pending:
            batch = [inputs[i] for i in pending]
            try:
                payload = await self._send(query, {"input": batch}, field)
            except UserErrors as exc:
                refused = {e.get("index") for e in exc.errors}
                if None in refused:
                    raise
                for e in exc.errors:
                    index = pending[int(e["index"])]
                    self.tally.skipped.append(
                        f"{keys[index]}: the API refused the {kind[:-1]}: {e.get('field')}: "
                        f"{e.get('code')}: {e.get('message')}"
                    )
                pending = [i for n, i in enumerate(pending) if n not in refused]
                continue
            for i, made in zip(pending, payload[kind], strict=True):
                ids[i] = str(made["id"])
            created = int(payload["created"])
            if kind == "sounds":
                self.tally.sounds_created += created
                self.tally.sounds_present += len(pending) - created
            else:
                self.tally.annotations_created += created
                self.tally.annotations_present += len(pending) - created
            pending = []
        return ids

    async def _send(self, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        """One mutation, retried with backoff while the API is unavailable (keys make a
        repeat harmless even if the first attempt was in fact committed)."""
        for attempt in range(RETRIES + 1):
            try:
                return await self.client.mutate(query, variables, field=field)
            except ApiError as exc:
                if not exc.retryable or attempt == RETRIES:
                    raise
                await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")
