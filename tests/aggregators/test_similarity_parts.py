"""The similarity aggregator's pure parts: the embedding, the index on disk, the frozen map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.aggregators.similarity.embedding import (
    FEATURES,
    RAW_DIM,
    Standardiser,
    frame_span,
    raw_features,
    windows,
)
from workers.aggregators.similarity.index import EXACT_LIMIT, ONSET, WINDOW, VectorIndex
from workers.aggregators.similarity.state import DIMS, Collection
from workers.features import FRAME_RATE

SPANS = [(i * 0.5, i * 0.5 + 1.0) for i in range(8)]


def frames(seed: int, n: int = 200, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mfcc = (rng.standard_normal((n, 20)) + offset).astype(np.float32)
    return mfcc, rng.random((n, 12)).astype(np.float32)


def raw_of(seed: int, offset: float = 0.0) -> np.ndarray:
    mfcc, chroma = frames(seed, offset=offset)
    cuts = [frame_span(a, b, frame_rate=FRAME_RATE, frames=len(mfcc)) for a, b in SPANS]
    return np.array([raw_features(mfcc[i:j], chroma[i:j]) for i, j in cuts])


def test_embedding_is_deterministic_with_its_documented_layout() -> None:
    mfcc, chroma = frames(1, n=43)
    raw = raw_features(mfcc, chroma)
    assert raw.shape == (RAW_DIM,) == (len(FEATURES),) == (92,) and raw.dtype == np.float32
    np.testing.assert_array_equal(raw, raw_features(mfcc.copy(), chroma.copy()))
    delta = np.diff(mfcc.astype(np.float64), axis=0)
    expected = [mfcc.mean(0), mfcc.std(0), delta.mean(0), delta.std(0), chroma.mean(0)]
    np.testing.assert_allclose(raw, np.concatenate(expected), rtol=1e-5, atol=1e-6)
    assert FEATURES[0] == "mfcc0.mean" and FEATURES[40] == "delta0.mean"
    assert FEATURES[-1] == "chroma.B.mean"

    stats = Standardiser.fit(raw_of(2))
    vector = stats.embed(raw)
    assert vector.shape == (DIMS,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    again = Standardiser.from_json(stats.to_json())
    np.testing.assert_array_equal(again.embed(raw), vector)

    # Windows: 1 s every 0.5 s; a sound shorter than a window gets one over all of it.
    three_seconds = 1 + round(3 * FRAME_RATE)  # centred frames of a 3 s sound
    assert list(windows(three_seconds, frame_rate=FRAME_RATE))[-1] == (2.0, 3.0)
    assert len(list(windows(three_seconds, frame_rate=FRAME_RATE))) == 5
    assert list(windows(20, frame_rate=FRAME_RATE)) == [(0.0, 20 / FRAME_RATE)]
    with pytest.raises(ValueError, match="shape"):
        raw_features(mfcc[:, :13], chroma)
    with pytest.raises(ValueError, match="frames"):
        raw_features(mfcc[:2], chroma[:2])


def test_index_save_load_and_removal(tmp_path: Path) -> None:
    collection = Collection(fit_min=16)
    for sound in range(4):
        collection.add(f"s{sound}", SPANS, raw_of(sound, offset=sound), kind=WINDOW)
    collection.add("s0", [(0.2, 0.9)], raw_of(9)[:1], kind=ONSET)
    collection.progress = {"annotationCreated": {"cursor": "c1", "seen": 33}}
    query = collection.index.vectors[3]
    before = collection.search(query, 5, collection.allowed(exclude_sound="s0"))
    collection.save(tmp_path)

    loaded = Collection.load(tmp_path, fit_min=16)
    for name in ("keys", "sound", "start", "end", "kind", "vectors", "raw"):
        np.testing.assert_array_equal(getattr(loaded.index, name), getattr(collection.index, name))
    assert loaded.progress == collection.progress and loaded.frozen
    np.testing.assert_array_equal(loaded.points, collection.points)
    after = loaded.search(query, 5, loaded.allowed(exclude_sound="s0"))
    np.testing.assert_array_equal(after[0], before[0])
    assert 0 not in set(loaded.index.sound[after[0]].tolist())  # the query's sound is excluded

    assert loaded.remove_sound("s1") == len(SPANS)
    assert len(loaded.index) == len(loaded.index.graph) == 3 * len(SPANS) + 1
    rows, _ = loaded.search(query, 5, loaded.allowed(exclude_sound="s0"))
    assert 1 not in set(loaded.index.sound[rows].tolist())
    loaded.save(tmp_path)
    reloaded = Collection.load(tmp_path)
    np.testing.assert_array_equal(reloaded.index.keys, loaded.index.keys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "gen-000002"]


def test_a_generation_left_half_written_is_ignored(tmp_path: Path) -> None:
    collection = Collection(fit_min=4)
    collection.add("s0", SPANS, raw_of(0), kind=WINDOW)
    collection.save(tmp_path)
    (tmp_path / "gen-000002").mkdir()  # a crash before CURRENT was replaced
    (tmp_path / "gen-000002" / "index.usearch").write_bytes(b"partial")
    assert len(Collection.load(tmp_path).index) == len(SPANS)
    collection.save(tmp_path)  # the next commit overwrites the leftover
    assert len(Collection.load(tmp_path).index) == len(SPANS)


def test_graph_search_finds_exact_neighbours() -> None:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((9000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(16, raw_dims=1)
    for block in range(0, 9000, 100):
        spans = [(0.0, 1.0)] * 100
        index.add(sound=block // 100, spans=spans, kind=WINDOW,
                  vectors=vectors[block : block + 100], raw=np.zeros((100, 1)))  # fmt: skip
    recall = []
    for row in range(0, 9000, 300):
        rows, scores = index.search(vectors[row], 10)
        exact = np.argsort(-(vectors @ vectors[row]))[:10]
        recall.append(len(set(rows.tolist()) & set(exact.tolist())) / 10)
        assert np.all(np.diff(scores) <= 1e-6)
    assert np.mean(recall) >= 0.9

    # Removal through the graph path (more candidates than are searched exactly).
    assert index.remove(index.keys[index.sound % 3 == 0]) == 3000
    assert len(index) == len(index.graph) == 6000 > EXACT_LIMIT
    for row in range(0, 9000, 300):
        rows, _ = index.search(vectors[row], 10)
        assert len(rows) == 10 and 0 not in set((index.sound[rows] % 3).tolist())


def test_the_map_is_frozen_until_refit() -> None:
    collection = Collection(fit_min=16)
    collection.add("s0", SPANS, raw_of(0), kind=WINDOW)
    assert not collection.frozen  # 8 segments: provisional
    collection.add("s1", SPANS, raw_of(1, offset=1), kind=WINDOW)
    assert collection.frozen
    points = collection.points.copy()
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1, atol=1e-5)
    projection, stats = collection.projection, collection.stats

    for sound in range(2, 6):
        collection.add(f"s{sound}", SPANS, raw_of(sound, offset=3 * sound), kind=WINDOW)
    assert collection.projection is projection and collection.stats is stats
    np.testing.assert_array_equal(collection.points[: len(points)], points)

    collection.refit()
    assert collection.frozen and collection.projection is not projection
    assert collection.projection is not None and collection.projection.fitted_on == 48
    assert not np.allclose(collection.points[: len(points)], points, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(collection.points, axis=1), 1, atol=1e-5)
