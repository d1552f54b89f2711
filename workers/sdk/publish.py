"""Publishing annotations idempotently: every input carries a `key`, so a retry is harmless.

The API keeps a key unique per creator: an input whose key exists already returns the
annotation made before and creates nothing. A bot that crashed after publishing but before
saving its checkpoint therefore publishes the same batch again without duplicating it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workers.sdk.client import ApiClient

__all__ = ["MAX_ANNOTATIONS", "publish_annotations"]

MAX_ANNOTATIONS = 5000
"""The most annotations the API takes in one `createAnnotations` call."""

CREATE = """mutation($input: [AnnotationInput!]!) { createAnnotations(input: $input) {
  annotations { id } userErrors { index field code message } } }"""


async def publish_annotations(
    client: ApiClient, inputs: Sequence[dict[str, Any]], *, batch: int = MAX_ANNOTATIONS
) -> list[str]:
    """Create `inputs` (`AnnotationInput`s, each with a `key`) in as few calls as the API
    allows; their ids in input order. Raises `ValueError` for an input without a key before
    anything is sent, `UserErrors` when the API refuses a batch (nothing of it is written)."""
    for index, item in enumerate(inputs):
        if not item.get("key"):
            raise ValueError(f"annotation {index} has no idempotency `key`")
    ids: list[str] = []
    size = max(1, min(batch, MAX_ANNOTATIONS))
    for first in range(0, len(inputs), size):
        chunk = list(inputs[first : first + size])
        payload = await client.mutate(CREATE, {"input": chunk}, field="createAnnotations")
        ids.extend(str(a["id"]) for a in payload["annotations"])
    return ids
