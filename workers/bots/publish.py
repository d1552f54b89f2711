"""Turning a bot's output into `AnnotationInput`s, and posting them idempotently.

An array annotation spans its whole sound: start 0, duration the sound's declared
`durationSeconds` (what the API checks annotations against), `dataUrl` the stored array and
`metadata` its layout. Onset segments are clipped to the declared duration, since the decoded
audio may run slightly longer. Every input carries an idempotency key (`annotation_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workers.bots import annotation_key
from workers.sdk.client import ApiClient

__all__ = ["MAX_BATCH", "array_annotation", "create_annotations", "onset_annotations"]

MAX_BATCH = 5000
"""The most annotations the API takes in one `createAnnotations` call."""
ONSET_TAGS = ["onset"]

CREATE_ANNOTATIONS = """mutation($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) {
    annotations { id } userErrors { index field code message } } }"""


def array_annotation(
    *,
    bot: str,
    source_id: str,
    sound_id: str,
    duration: float,
    data_url: str,
    metadata: dict[str, Any],
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The input of a whole-sound annotation carrying an array."""
    return {
        "key": annotation_key(bot=bot, source_id=source_id),
        "sound": sound_id,
        "startSeconds": 0.0,
        "durationSeconds": float(duration),
        "tags": list(tags),
        "dataUrl": data_url,
        "metadata": metadata,
    }


def onset_annotations(
    *, bot: str, sound_id: str, duration: float, segments: Sequence[tuple[float, float]]
) -> list[dict[str, Any]]:
    """One `onset`-tagged input per segment that starts within the declared duration."""
    inputs = []
    for index, (start, length) in enumerate(segments):
        clipped = min(float(length), float(duration) - float(start))
        if clipped <= 0:
            continue
        inputs.append(
            {
                "key": annotation_key(bot=bot, source_id=sound_id, index=index),
                "sound": sound_id,
                "startSeconds": float(start),
                "durationSeconds": clipped,
                "tags": ONSET_TAGS,
            }
        )
    return inputs


async def create_annotations(*, client: ApiClient, inputs: list[dict[str, Any]]) -> list[str]:
    """Create `inputs` in batches of `MAX_BATCH`; the ids in input order. Inputs whose key
    exists already return the existing annotation, so a repeated call creates nothing."""
    ids: list[str] = []
    for first in range(0, len(inputs), MAX_BATCH):
        batch = inputs[first : first + MAX_BATCH]
        payload = await client.mutate(
            CREATE_ANNOTATIONS, {"input": batch}, field="createAnnotations"
        )
        ids.extend(str(a["id"]) for a in payload["annotations"])
    return ids
