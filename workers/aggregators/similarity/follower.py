"""Feeding the collection from the featurebots' annotations.

The aggregator follows one stream, `annotationCreated(filter: {creatorType: FEATUREBOT})`, and
keeps what the `mfcc`, `chroma` and `onsets` bots publish (by user name, `Sources`):

- an mfcc or chroma array annotation is remembered for its sound; once a sound has both, both
  arrays are read whole and its fixed windows, and any onset segments already seen, are
  embedded and indexed (a newer array of a sound replaces all of its segments);
- an onsets segment of a sound whose arrays are indexed is embedded from its frames alone,
  two Range requests (`read_array(frames=...)`); otherwise it waits for the arrays.

Arrays that are missing, truncated, of the wrong dtype or shape (or whose frame counts
disagree) are skipped: `on_skip` records them and the follower goes on. An array store that
is down is retried with backoff, holding the stream where it is.

`handle` reads first and changes the collection only once all reads are done, in one step
without awaiting; and every change is idempotent by annotation id. So a commit taken between
two awaits never holds half a node, and a node handled again after a restart changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from workers.aggregators.similarity.embedding import (
    MIN_FRAMES,
    N_CHROMA,
    N_MFCC,
    RAW_DIM,
    frame_span,
    raw_features,
    windows,
)
from workers.aggregators.similarity.state import ONSET, WINDOW, Collection, SoundInfo
from workers.sdk.remote_arrays import ArrayReadError, read_array

__all__ = ["FILTER", "SELECTION", "Follower", "Skip", "Sources"]

log = logging.getLogger(__name__)

SELECTION = (
    "id startSeconds endSeconds dataUrl metadata createdBy { id name } "
    "sound { id durationSeconds tags createdBy { id } }"
)
"""What the follower needs of each annotation."""
FILTER = {"creatorType": "FEATUREBOT"}
WIDTHS = {"mfcc": N_MFCC, "chroma": N_CHROMA}


@dataclass(frozen=True)
class Sources:
    """The user names of the bots whose output is embedded."""

    mfcc: str = "mfcc"
    chroma: str = "chroma"
    onsets: str = "onsets"

    def role(self, name: str) -> str | None:
        lowered = name.lower()
        roles = {
            self.mfcc.lower(): "mfcc",
            self.chroma.lower(): "chroma",
            self.onsets.lower(): "onsets",
        }
        return roles.get(lowered)


@dataclass(frozen=True)
class Skip:
    """An input that cannot be indexed: which annotation, why (a stable code), and details."""

    annotation: str
    sound: str
    code: str
    reason: str


class Unusable(Exception):
    def __init__(self, annotation: str, code: str, reason: str) -> None:
        super().__init__(reason)
        self.annotation, self.code, self.reason = annotation, code, reason


OnSkip = Callable[[Skip, dict[str, Any]], Awaitable[None]]


class Follower:
    """Applies annotations to a `Collection`; `on_skip` hears about unusable ones."""

    def __init__(
        self,
        collection: Collection,
        *,
        on_skip: OnSkip,
        sources: Sources | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        self.collection = collection
        self.http: httpx.AsyncClient | None = None
        self.on_skip = on_skip
        self.sources = sources or Sources()
        self.max_backoff = max_backoff

    async def handle(self, node: dict[str, Any], *, http: httpx.AsyncClient) -> None:
        """Apply one annotation (any featurebot's; others' are ignored), reading with `http`."""
        self.http = http
        role = self.sources.role(str((node.get("createdBy") or {}).get("name", "")))
        if role is None or not node.get("sound"):
            return
        info = self._note_sound(node["sound"])
        try:
            if role == "onsets":
                await self._onset(info, node)
            else:
                await self._array(info, node, role)
        except Unusable as bad:
            skip = Skip(annotation=bad.annotation, sound=info.id, code=bad.code, reason=bad.reason)
            log.warning(
                "skipped %s of sound %s: %s: %s", skip.annotation, info.id, skip.code, skip.reason
            )
            await self.on_skip(skip, node)

    def _note_sound(self, sound: dict[str, Any]) -> SoundInfo:
        info = self.collection.sound(str(sound["id"]))
        info.tags = [str(t) for t in sound.get("tags") or []]
        info.created_by = str((sound.get("createdBy") or {}).get("id") or "") or None
        info.duration = float(sound.get("durationSeconds") or 0.0)
        return info

    async def _array(self, info: SoundInfo, node: dict[str, Any], role: str) -> None:
        if not node.get("dataUrl"):
            raise Unusable(str(node["id"]), "no_data", f"the {role} annotation has no dataUrl")
        entry = {
            "annotation": str(node["id"]),
            "url": node["dataUrl"],
            "metadata": node.get("metadata"),
        }
        arrays = info.arrays | {role: entry}
        if set(arrays) != set(WIDTHS):
            info.arrays = arrays  # waits for the other bot's array
            return
        wanted = [arrays["mfcc"]["annotation"], arrays["chroma"]["annotation"]]
        if info.indexed_from == wanted:
            return  # seen before (a replay)
        try:
            mfcc, chroma = [await self._read(arrays[k], k) for k in WIDTHS]
            if len(mfcc) != len(chroma):
                reason = f"mfcc has {len(mfcc)} frames, chroma {len(chroma)}: they must match"
                raise Unusable(str(node["id"]), "frames_mismatch", reason)
            rate = self._frame_rate(arrays, node)
        except Unusable as bad:  # keep the good one; the bad one must not be used again
            info.arrays = {k: v for k, v in arrays.items() if v["annotation"] != bad.annotation}
            raise
        spans = list(windows(len(mfcc), frame_rate=rate))
        onset_spans, onset_ids = [], []
        for annotation, (start, end) in info.onsets.items():
            first, stop = frame_span(start, end, frame_rate=rate, frames=len(mfcc))
            onset_ids.append(annotation)
            if stop - first >= MIN_FRAMES:
                onset_spans.append(((start, end), (first, stop)))
        cuts = [frame_span(*s, frame_rate=rate, frames=len(mfcc)) for s in spans]
        cuts += [cut for _, cut in onset_spans]
        features = await asyncio.to_thread(_features, mfcc, chroma, cuts)  # an hour: ~0.5 s
        raw, onset_raw = features[: len(spans)], features[len(spans) :]
        # All reads done: apply in one step.
        self.collection.remove_sound(info.id)
        self.collection.add(info.id, spans, raw, kind=WINDOW)
        self.collection.add(info.id, [s for s, _ in onset_spans], onset_raw, kind=ONSET)
        info.arrays, info.indexed_from, info.onsets_indexed = arrays, wanted, onset_ids

    async def _onset(self, info: SoundInfo, node: dict[str, Any]) -> None:
        annotation = str(node["id"])
        if annotation in info.onsets:
            return  # seen before
        span = (float(node["startSeconds"]), float(node["endSeconds"]))
        if not info.indexed_from or set(info.arrays) != set(WIDTHS):
            info.onsets[annotation] = list(span)  # waits for (good) arrays
            return
        rate = self._frame_rate(info.arrays, node)
        frames_total = int(_meta(info.arrays["mfcc"])["shape"][0])  # checked when indexed
        first, stop = frame_span(*span, frame_rate=rate, frames=frames_total)
        raw = None
        if stop - first >= MIN_FRAMES:
            try:
                mfcc, chroma = [
                    await self._read(info.arrays[k], k, frames=(first, stop)) for k in WIDTHS
                ]
            except Unusable as bad:
                reason = f"its {bad.annotation} frames: {bad.reason}"
                raise Unusable(annotation, bad.code, reason) from None
            if len(mfcc) != len(chroma) or len(mfcc) < MIN_FRAMES:
                reason = f"frames {first}-{stop}: got {len(mfcc)} mfcc and {len(chroma)} chroma"
                raise Unusable(annotation, "frames_mismatch", reason)
            raw = raw_features(mfcc, chroma)
        info.onsets[annotation] = list(span)
        info.onsets_indexed.append(annotation)
        if raw is not None:
            self.collection.add(info.id, [span], raw[None], kind=ONSET)

    def _frame_rate(self, arrays: dict[str, dict[str, Any]], node: dict[str, Any]) -> float:
        rates: dict[str, float] = {}
        for key in WIDTHS:
            rate = _meta(arrays[key]).get("frameRate")
            if not isinstance(rate, int | float) or not rate > 0:
                reason = f"no positive frameRate: {rate!r}"
                raise Unusable(arrays[key]["annotation"], "array_metadata", reason)
            rates[key] = float(rate)
        if abs(rates["mfcc"] - rates["chroma"]) > 1e-6:
            raise Unusable(str(node["id"]), "frames_mismatch", f"frame rates differ: {rates}")
        return float(rates["mfcc"])

    async def _read(
        self, entry: dict[str, Any], role: str, *, frames: tuple[int, int] | None = None
    ) -> np.ndarray:
        """The array (or frames) of one annotation, checked: float32, (frames, width)."""
        annotation, metadata = entry["annotation"], entry["metadata"]
        shape = (metadata or {}).get("shape") if isinstance(metadata, dict) else None
        if not isinstance(shape, list) or len(shape) != 2 or shape[1] != WIDTHS[role]:
            reason = (
                f"a {role} array must have shape (frames, {WIDTHS[role]}), metadata says {shape}"
            )
            raise Unusable(annotation, "array_shape", reason)
        if metadata.get("dtype") != "<f4":
            raise Unusable(
                annotation,
                "array_dtype",
                f"a {role} array must be <f4, not {metadata.get('dtype')!r}",
            )
        delay = 0.5
        while True:
            try:
                array = await read_array(entry["url"], metadata, frames=frames, client=self.http)
                break
            except ArrayReadError as error:
                if not error.retryable:
                    raise Unusable(annotation, error.code, str(error)) from None
                log.warning("array store unavailable (%s); retrying in %.1f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(self.max_backoff, delay * 2)
        if not np.all(np.isfinite(array)):
            raise Unusable(
                annotation, "array_values", f"the {role} array holds NaN or infinite values"
            )
        if frames is None and len(array) < MIN_FRAMES:
            raise Unusable(annotation, "array_shape", f"the {role} array has {len(array)} frames")
        return array


def _features(mfcc: np.ndarray, chroma: np.ndarray, cuts: list[tuple[int, int]]) -> np.ndarray:
    """Raw features (segments, RAW_DIM) of the frame ranges `cuts`, off the event loop."""
    rows = [raw_features(mfcc[first:stop], chroma[first:stop]) for first, stop in cuts]
    return np.array(rows, dtype=np.float32).reshape(len(cuts), RAW_DIM)


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    metadata = entry.get("metadata")
    return metadata if isinstance(metadata, dict) else {}
