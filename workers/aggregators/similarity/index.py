"""The segment index: a usearch HNSW graph over unit vectors plus the columns that say what
each vector is (sound, start, end, kind), saved on disk as one atomic snapshot.

Keys are assigned in increasing order and rows are kept in key order, so a key found by the
graph maps back to its row by binary search. Removal drops rows and graph nodes together.

A snapshot is a directory `gen-<n>/` holding `index.usearch` (the graph), `segments.npz` (the
columns, raw features and vectors) and `manifest.json` (whatever the caller stores with it: the
stream cursor, frozen statistics and projection). It is written in full and fsynced, then the
one-line file `CURRENT` is replaced (write a temp file, rename) to name it; older generations
are deleted afterwards. A crash at any point leaves `CURRENT` naming a complete snapshot, so
the index and its cursor always agree: nothing is indexed twice or lost across a restart.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from usearch.index import Index

__all__ = ["EXACT_LIMIT", "Hits", "VectorIndex", "load_snapshot", "save_snapshot"]

WINDOW, ONSET = 0, 1
"""Segment kinds: a fixed window, or an onsets bot segment."""
EXACT_LIMIT = 4096
"""A filtered query that leaves at most this many candidate segments is answered exactly."""
Hits = tuple[np.ndarray, np.ndarray]
"""(rows, scores): rows into the index's columns, cosine similarities, best first."""
_COLUMNS = {"keys": np.uint64, "sound": np.int32, "start": np.float64, "end": np.float64}


class VectorIndex:
    """HNSW (cosine) over `dims`-dimensional unit vectors, with per-segment columns."""

    def __init__(
        self,
        dims: int,
        *,
        raw_dims: int,
        connectivity: int = 32,
        expansion_add: int = 128,
        expansion_search: int = 256,
    ) -> None:
        self.dims, self.raw_dims = dims, raw_dims
        self.graph = Index(
            ndim=dims,
            metric="cos",
            dtype="f32",
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        self.expansion_search = expansion_search
        self._n = 0
        self._data: dict[str, np.ndarray] = {}
        self._allocate(0)
        self.next_key = 0

    def _allocate(self, capacity: int) -> None:
        shapes: dict[str, tuple[int, ...]] = {name: (capacity,) for name in _COLUMNS}
        shapes |= {
            "kind": (capacity,),
            "vectors": (capacity, self.dims),
            "raw": (capacity, self.raw_dims),
        }
        dtypes = _COLUMNS | {"kind": np.uint8, "vectors": np.float32, "raw": np.float32}
        old, self._data = self._data, {n: np.zeros(shapes[n], dtypes[n]) for n in shapes}
        for name, column in old.items():
            self._data[name][: self._n] = column[: self._n]

    def _column(self, name: str) -> np.ndarray:
        return self._data[name][: self._n]

    keys = property(lambda self: self._column("keys"))
    sound = property(lambda self: self._column("sound"))
    start = property(lambda self: self._column("start"))
    end = property(lambda self: self._column("end"))
    kind = property(lambda self: self._column("kind"))
    vectors = property(lambda self: self._column("vectors"))
    raw = property(lambda self: self._column("raw"))

    def __len__(self) -> int:
        return len(self.keys)

    def add(
        self,
        *,
        sound: int,
        spans: list[tuple[float, float]],
        kind: int,
        vectors: np.ndarray,
        raw: np.ndarray,
    ) -> np.ndarray:
        """Index one sound's segments (start, end seconds) with their vectors; their keys."""
        vectors = np.asarray(vectors, np.float32).reshape(-1, self.dims)
        if len(spans) != len(vectors) or len(raw) != len(vectors):
            raise ValueError(f"{len(spans)} spans, {len(vectors)} vectors, {len(raw)} raw rows")
        if not len(spans):
            return np.zeros(0, np.uint64)
        keys = np.arange(self.next_key, self.next_key + len(spans), dtype=np.uint64)
        self.graph.add(keys, vectors)
        self.next_key += len(spans)
        starts, ends = (np.array([s[i] for s in spans], np.float64) for i in (0, 1))
        raw = np.asarray(raw, np.float32).reshape(len(spans), self.raw_dims)
        needed = self._n + len(spans)
        if needed > len(self._data["keys"]):
            self._allocate(max(needed, 2 * len(self._data["keys"]), 1024))
        rows = slice(self._n, needed)
        values = {"keys": keys, "sound": sound, "start": starts, "end": ends, "kind": kind}
        for name, value in (values | {"vectors": vectors, "raw": raw}).items():
            self._data[name][rows] = value
        self._n = needed
        return keys

    def remove(self, keys: np.ndarray) -> int:
        """Drop these keys' segments from graph and columns; how many were there."""
        gone = np.isin(self.keys, np.asarray(keys, np.uint64))
        if not gone.any():
            return 0
        self.graph.remove(self.keys[gone])
        keep = np.flatnonzero(~gone)
        for column in self._data.values():
            column[: len(keep)] = column[keep]
        self._n = len(keep)
        return int(gone.sum())

    def rows_of(self, sound: int, kind: int | None = None) -> np.ndarray:
        """Rows of a sound's segments (of one kind), in key order."""
        mask = self.sound == sound
        if kind is not None:
            mask &= self.kind == kind
        return np.flatnonzero(mask)

    def replace_vectors(self, vectors: np.ndarray) -> None:
        """Rebuild the graph over new vectors for the same rows (after a refit)."""
        vectors = np.asarray(vectors, np.float32).reshape(len(self), self.dims)
        self.graph.reset()
        if len(self):
            self.graph.add(self.keys, vectors)
        self._data["vectors"][: self._n] = vectors

    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Hits:
        """The `k` most similar segments to a unit `vector`, among rows where `allowed`
        (a boolean mask over rows) holds. Few candidates: exact; else HNSW, fetching more
        until `k` allowed hits are found or the graph is exhausted."""
        vector = np.asarray(vector, np.float32).reshape(self.dims)
        candidates = len(self) if allowed is None else int(allowed.sum())
        if k <= 0 or candidates == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if candidates <= EXACT_LIMIT:
            rows = np.arange(len(self)) if allowed is None else np.flatnonzero(allowed)
            return _top(rows, self.vectors[rows] @ vector, k)
        excluded = len(self) - candidates  # e.g. the query's own sound, often its nearest
        want = k + excluded if excluded <= 1000 else int(np.ceil(k * len(self) / candidates)) + k
        while True:
            want = min(want, len(self))
            self.graph.expansion_search = max(self.expansion_search, want)  # type: ignore[misc]
            matches = self.graph.search(vector, want)
            found = np.asarray(matches.keys, np.uint64)
            rows = np.minimum(np.searchsorted(self.keys, found), len(self) - 1)
            scores = 1.0 - np.asarray(matches.distances, np.float32)
            known = self.keys[rows] == found  # always, unless the graph and columns disagree
            rows, scores = rows[known], scores[known]
            if allowed is not None:
                keep = allowed[rows]
                rows, scores = rows[keep], scores[keep]
            if len(rows) >= k or want >= len(self):
                return rows[:k].astype(np.int64), scores[:k]
            want *= 4

    def save(self, directory: Path) -> None:
        self.graph.save(str(directory / "index.usearch"))
        columns = {name: getattr(self, name) for name in (*_COLUMNS, "kind", "vectors", "raw")}
        with open(directory / "segments.npz", "wb") as out:
            np.savez(out, next_key=np.array([self.next_key], np.uint64), **columns)
            out.flush()
            os.fsync(out.fileno())

    @classmethod
    def load(cls, directory: Path, *, dims: int, raw_dims: int) -> VectorIndex:
        index = cls(dims, raw_dims=raw_dims)
        with np.load(directory / "segments.npz", allow_pickle=False) as stored:
            index._data = {name: stored[name] for name in (*_COLUMNS, "kind", "vectors", "raw")}
            index._n = len(index._data["keys"])
            index.next_key = int(stored["next_key"][0])
        index.graph.load(str(directory / "index.usearch"))
        index.graph.expansion_search = index.expansion_search  # type: ignore[misc]
        shapes = (index.vectors.shape[1:], index.raw.shape[1:])
        if len(index.graph) != len(index) or shapes != ((dims,), (raw_dims,)):
            raise ValueError(f"{directory}: the graph and the segment table disagree")
        return index


def _top(rows: np.ndarray, scores: np.ndarray, k: int) -> Hits:
    order = np.argsort(-scores, kind="stable")[:k]
    return rows[order].astype(np.int64), scores[order].astype(np.float32)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_snapshot(root: Path, index: VectorIndex, manifest: dict[str, Any]) -> Path:
    """Write a new generation under `root` and make it current; the generation's path."""
    root.mkdir(parents=True, exist_ok=True)
    current = _current_name(root)
    number = int(current.split("-")[1]) + 1 if current else 1
    target = root / f"gen-{number:06d}"
    shutil.rmtree(target, ignore_errors=True)  # a leftover of a crash before its rename
    target.mkdir()
    index.save(target)
    with open(target / "manifest.json", "w") as out:
        json.dump(manifest, out)
        out.flush()
        os.fsync(out.fileno())
    _fsync_dir(target)
    temp = root / "CURRENT.tmp"
    temp.write_text(target.name + "\n")
    os.replace(temp, root / "CURRENT")
    _fsync_dir(root)
    for old in root.glob("gen-*"):
        if old.name != target.name:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _current_name(root: Path) -> str | None:
    try:
        name = (root / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    return name or None


def load_snapshot(
    root: Path, *, dims: int, raw_dims: int
) -> tuple[VectorIndex, dict[str, Any]] | None:
    """The current snapshot's index and manifest, or None when there is none yet."""
    name = _current_name(root)
    if name is None:
        return None
    directory = root / name
    manifest = json.loads((directory / "manifest.json").read_text())
    return VectorIndex.load(directory, dims=dims, raw_dims=raw_dims), manifest
