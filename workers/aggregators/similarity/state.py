"""Everything the similarity aggregator knows, in memory, and how it is saved with its cursor.

`Collection` holds the segment index, the frozen `Standardiser` and `Projection`, the sounds
it has seen (tags and creator for filters, the arrays that fed it, onset segments waiting for
arrays) and the stream cursor up to which all of that is complete. `save` writes it all as
one snapshot (`index.save_snapshot`); `load` reads the current one back.

Freezing: until the index first holds `fit_min` segments the statistics and the map are
provisional, refitted on every change (a small collection is searchable at once). At `fit_min`
they are fitted one last time and frozen; from then on only `refit()` (an explicit command)
changes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workers.aggregators.similarity.embedding import RAW_DIM, Standardiser, unit_rows
from workers.aggregators.similarity.index import (
    ONSET,
    WINDOW,
    Hits,
    VectorIndex,
    load_snapshot,
    save_snapshot,
)
from workers.aggregators.similarity.projection import Projection

__all__ = ["DIMS", "Collection", "SoundInfo"]

DIMS = RAW_DIM
"""Dimensions of the indexed vectors (the standardised raw features, no reduction)."""
FORMAT = 1


@dataclass
class SoundInfo:
    """A sound as the aggregator knows it: for filters, and for joining its bots' outputs."""

    id: str
    tags: list[str] = field(default_factory=list)
    created_by: str | None = None
    duration: float = 0.0
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Bot ("mfcc", "chroma") -> {"annotation", "url", "metadata"} of its latest array."""
    indexed_from: list[str] = field(default_factory=list)
    """The annotation ids of the arrays its current windows were embedded from."""
    onsets: dict[str, list[float]] = field(default_factory=dict)
    """Onset annotation id -> [start, end]: every onset segment seen (indexed or waiting)."""
    onsets_indexed: list[str] = field(default_factory=list)


class Collection:
    """The index with its frozen statistics and projection, sounds, and cursor."""

    def __init__(self, *, fit_min: int = 256) -> None:
        self.fit_min = fit_min
        self.index = VectorIndex(DIMS, raw_dims=RAW_DIM)
        self.stats = Standardiser.identity()
        self.projection: Projection | None = None
        self.frozen = False
        self.sounds: list[SoundInfo] = []
        self.ordinals: dict[str, int] = {}
        self.progress: dict[str, Any] = {}
        """The stream progress committed with this state (the runtime's `progress_to_json`)."""
        self._points: np.ndarray | None = None

    # --- sounds and segments -------------------------------------------------------------

    def sound(self, sound_id: str) -> SoundInfo:
        """The sound's record, created on first sight."""
        if sound_id not in self.ordinals:
            self.ordinals[sound_id] = len(self.sounds)
            self.sounds.append(SoundInfo(id=sound_id))
        return self.sounds[self.ordinals[sound_id]]

    def add(
        self, sound_id: str, spans: list[tuple[float, float]], raw: np.ndarray, *, kind: int
    ) -> int:
        """Index segments of a sound from their raw features; how many were added."""
        if not spans:
            return 0
        raw = np.asarray(raw, np.float32).reshape(len(spans), RAW_DIM)
        ordinal = self.ordinals[self.sound(sound_id).id]
        self.index.add(
            sound=ordinal, spans=spans, kind=kind, vectors=self.stats.embed(raw), raw=raw
        )
        self._changed()
        return len(spans)

    def remove_sound(self, sound_id: str) -> int:
        """Drop a sound's segments (before re-embedding it from newer arrays); how many."""
        if sound_id not in self.ordinals:
            return 0
        rows = self.index.rows_of(self.ordinals[sound_id])
        if not len(rows):
            return 0
        removed = self.index.remove(self.index.keys[rows])
        self._changed()
        return removed

    def _changed(self) -> None:
        self._points = None
        if not self.frozen and len(self.index):
            self._fit(freeze=len(self.index) >= self.fit_min)

    def refit(self) -> None:
        """Fit statistics and map again on everything indexed, and freeze them."""
        if not len(self.index):
            raise ValueError("nothing is indexed yet: there is nothing to fit on")
        self._fit(freeze=True)

    def _fit(self, *, freeze: bool) -> None:
        self.stats = Standardiser.fit(self.index.raw)
        self.index.replace_vectors(self.stats.embed(self.index.raw))
        self.projection = Projection.fit(self.index.vectors)
        self.frozen = freeze
        self._points = None

    # --- queries -------------------------------------------------------------------------

    @property
    def points(self) -> np.ndarray:
        """Every segment's point on the unit sphere (rows, 3), by the frozen projection."""
        if self._points is None:
            if self.projection is None:
                self._points = np.zeros((0, 3), np.float32)
            else:
                self._points = self.projection.points(self.index.vectors)
        return self._points

    def segment_at(self, sound_id: str, time: float) -> int | None:
        """The row of the sound's segment whose middle is nearest `time` among those that
        contain it (fixed windows first); None if no segment of it contains `time`."""
        if sound_id not in self.ordinals:
            return None
        rows = self.index.rows_of(self.ordinals[sound_id])
        inside = rows[(self.index.start[rows] <= time) & (time <= self.index.end[rows])]
        if not len(inside):
            return None
        middle = (self.index.start[inside] + self.index.end[inside]) / 2
        order = np.lexsort((np.abs(middle - time), self.index.kind[inside]))
        return int(inside[order[0]])

    def indexed_span(self, sound_id: str) -> tuple[float, float] | None:
        if sound_id not in self.ordinals:
            return None
        rows = self.index.rows_of(self.ordinals[sound_id])
        if not len(rows):
            return None
        return float(self.index.start[rows].min()), float(self.index.end[rows].max())

    def allowed(
        self,
        *,
        tags: list[str] | None = None,
        created_by: str | None = None,
        exclude_sound: str | None = None,
    ) -> np.ndarray | None:
        """A mask over rows of the segments a filter keeps (None: all of them)."""
        excluded = self.ordinals.get(exclude_sound) if exclude_sound is not None else None
        if not tags and created_by is None:
            return None if excluded is None else self.index.sound != excluded
        wanted = set(tags or ())
        keep = np.array(
            [
                wanted <= set(info.tags) and (created_by is None or info.created_by == created_by)
                for info in self.sounds
            ],
            dtype=bool,
        )
        if excluded is not None:
            keep[excluded] = False
        return keep[self.index.sound]

    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None) -> Hits:
        return self.index.search(unit_rows(vector), k, allowed)

    def near_point(
        self, center: np.ndarray, radius: float, k: int, allowed: np.ndarray | None = None
    ) -> Hits:
        """Up to `k` points within `radius` radians of `center` (among `allowed` rows),
        nearest first; scores are the cosines of the angles."""
        cosines = self.points @ unit_rows(center)
        keep = cosines >= np.cos(radius) - 1e-6
        if allowed is not None:
            keep &= allowed
        inside = np.flatnonzero(keep)
        order = np.argsort(-cosines[inside], kind="stable")[:k]
        return inside[order].astype(np.int64), cosines[inside][order].astype(np.float32)

    # --- persistence ---------------------------------------------------------------------

    def save(self, root: Path) -> None:
        manifest = {
            "format": FORMAT,
            "progress": self.progress,
            "fitMin": self.fit_min,
            "frozen": self.frozen,
            "stats": self.stats.to_json(),
            "projection": None if self.projection is None else self.projection.to_json(),
            "sounds": [vars(info) for info in self.sounds],
        }
        save_snapshot(root, self.index, manifest)

    @classmethod
    def load(cls, root: Path, *, fit_min: int = 256) -> Collection:
        """The saved collection under `root`, or an empty one when nothing was saved."""
        collection = cls(fit_min=fit_min)
        found = load_snapshot(root, dims=DIMS, raw_dims=RAW_DIM)
        if found is None:
            return collection
        collection.index, manifest = found
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{root}: snapshot format {manifest.get('format')}, not {FORMAT}")
        collection.progress = dict(manifest["progress"])
        collection.frozen = bool(manifest["frozen"])
        collection.stats = Standardiser.from_json(manifest["stats"])
        stored = manifest["projection"]
        collection.projection = None if stored is None else Projection.from_json(stored, dims=DIMS)
        collection.sounds = [SoundInfo(**info) for info in manifest["sounds"]]
        collection.ordinals = {info.id: n for n, info in enumerate(collection.sounds)}
        return collection


__all__ += ["ONSET", "WINDOW"]
