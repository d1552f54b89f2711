"""The similarity aggregator's quality and speed, side by side in one run.

    python -m bench.similarity [--full]

- ANN fidelity: recall@10 of the usearch index against exact search (a numpy matrix product)
  over the same vectors, for the query the API runs (`similar`: the query's own sound
  excluded), at 100,000 segments (--full: 300,000). The vectors are the aggregator's own
  (standardised, unit-length 92-d features) of synthetic raw features with the structure of a
  collection: 20 families, 40 segments per sound around the sound's centre.
- Query latency p50 / p99 of that path (`Collection.search` with its filter mask, what the
  resolver calls; no HTTP), beside exact search's.
- Indexing rate: segments/s through `Collection.add`, one sound (40 segments) at a time as the
  follower adds them: standardising, unit-scaling, graph insertion.
- Label precision@10 on synthetic instruments rendered with numpy (six families: bowed,
  flute-like, clarinet-like, brass-like, struck bells, noise drums; random pitches and
  loudness), features through the real stft, mfcc and chroma bots' compute functions, windows
  and vectors exactly as the aggregator makes them; the query's own sound is excluded. Beside
  it the random baseline: the expected precision of 10 segments drawn at random from the other
  sounds.

Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.aggregators.similarity.embedding import frame_span, raw_features, windows
from workers.aggregators.similarity.state import WINDOW, Collection
from workers.features import FRAME_RATE, SAMPLE_RATE, bot_module

__all__ = ["Figures", "measure", "rows"]

FAMILIES = ("bowed", "flute", "clarinet", "brass", "bell", "drum")
SEGMENTS_PER_SOUND = 40


@dataclass(frozen=True)
class Figures:
    segments: int
    recall: float
    p50_ms: float
    p99_ms: float
    exact_p50_ms: float
    exact_p99_ms: float
    rate: float
    save_seconds: float
    load_seconds: float
    snapshot_mb: float
    precision: float
    baseline: float
    labelled_sounds: int
    labelled_segments: int


def _collection_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    sounds = n // SEGMENTS_PER_SOUND
    families = rng.standard_normal((20, 92)) * 2.0
    centres = families[rng.integers(0, 20, sounds)] + 1.2 * rng.standard_normal((sounds, 92))
    raw = np.repeat(centres, SEGMENTS_PER_SOUND, axis=0)
    return (raw + rng.standard_normal(raw.shape)).astype(np.float32)


def _ann(n: int, queries: int, rng: np.random.Generator) -> dict[str, float]:
    raw = _collection_vectors(n, rng)
    collection = Collection(fit_min=256)
    spans = [(i * 0.5, i * 0.5 + 1.0) for i in range(SEGMENTS_PER_SOUND)]
    started = time.perf_counter()
    for sound in range(n // SEGMENTS_PER_SOUND):
        block = raw[sound * SEGMENTS_PER_SOUND : (sound + 1) * SEGMENTS_PER_SOUND]
        collection.add(f"s{sound}", spans, block, kind=WINDOW)
    rate = n / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="cochlea-bench-similarity-") as tmp:
        started = time.perf_counter()
        collection.save(Path(tmp))
        save = time.perf_counter() - started
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        started = time.perf_counter()
        Collection.load(Path(tmp))
        load = time.perf_counter() - started
    vectors = collection.index.vectors
    found, exact_found, took, exact_took = [], [], [], []
    for row in rng.choice(n, queries, replace=False):
        own = f"s{collection.index.sound[row]}"
        query = vectors[row]
        started = time.perf_counter()
        allowed = collection.allowed(exclude_sound=own)
        rows, _ = collection.search(query, 10, allowed)
        took.append(time.perf_counter() - started)
        started = time.perf_counter()
        scores = vectors @ query
        scores[collection.index.sound == collection.index.sound[row]] = -np.inf
        exact = np.argpartition(-scores, 10)[:10]
        exact_took.append(time.perf_counter() - started)
        found.append(set(rows.tolist()))
        exact_found.append(set(exact.tolist()))
    recall = np.mean([len(a & b) / 10 for a, b in zip(found, exact_found, strict=True)])
    ms = np.array(took) * 1000
    exact_ms = np.array(exact_took) * 1000
    return {
        "recall": float(recall),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "exact_p50": float(np.percentile(exact_ms, 50)),
        "exact_p99": float(np.percentile(exact_ms, 99)),
        "rate": rate,
        "save": save,
        "load": load,
        "megabytes": size / 1e6,
    }


def _harmonic(f0: float, t: np.ndarray, amplitudes: np.ndarray, vibrato: float = 0.0) -> np.ndarray:
    phase = 2 * np.pi * f0 * (t + vibrato * np.sin(2 * np.pi * 5.5 * t) / (2 * np.pi * 5.5))
    out = np.zeros_like(t)
    for k, a in enumerate(amplitudes, start=1):
        if k * f0 < SAMPLE_RATE / 2 - 500:
            out += a * np.sin(k * phase)
    return out


def _note(family: str, f0: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    k = np.arange(1, 41, dtype=np.float64)
    attack = np.minimum(1.0, t / 0.08)
    if family == "bowed":
        tone = _harmonic(f0, t, 1 / k, vibrato=0.006) * np.minimum(1.0, t / 0.25)
    elif family == "flute":
        breath = np.convolve(rng.standard_normal(len(t)), np.ones(8) / 8, "same") * 0.08
        tone = (_harmonic(f0 * 2, t, np.array([1.0, 0.15, 0.04])) + breath) * attack
    elif family == "clarinet":
        tone = _harmonic(f0, t, np.where(k % 2 == 1, 1 / k, 0.02 / k)) * attack
    elif family == "brass":
        tone = _harmonic(f0, t, np.exp(-((k - 5) ** 2) / 18)) * np.minimum(1.0, t / 0.04)
    elif family == "bell":
        ratios, decays = np.array([1.0, 2.76, 5.40, 8.93]), np.array([1.5, 2.5, 4.0, 6.0])
        tone = sum(
            np.sin(2 * np.pi * f0 * 2 * r * t) * np.exp(-d * t) / (i + 1)
            for i, (r, d) in enumerate(zip(ratios, decays, strict=True))
        )
    else:  # drum: decaying noise, low-passed by a moving average of random width
        width = int(rng.integers(2, 12))
        noise = np.convolve(rng.standard_normal(len(t)), np.ones(width) / width, "same")
        tone = noise * np.exp(-t * rng.uniform(8, 20)) * 3
    return np.asarray(tone * rng.uniform(0.1, 0.8), dtype=np.float64)


def _sound(family: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    notes, total = [], 0.0
    while total < seconds:
        length = float(rng.uniform(0.4, 1.2))
        f0 = 440.0 * 2 ** ((int(rng.integers(45, 70)) - 69) / 12)
        notes.append(_note(family, f0, length, rng))
        total += length
    y = np.concatenate(notes)[: int(seconds * SAMPLE_RATE)]
    y = y + rng.standard_normal(len(y)) * 1e-3
    return (y / max(1.0, float(np.abs(y).max()))).astype(np.float32)


def _labelled(per_family: int, seconds: float, rng: np.random.Generator) -> dict[str, float]:
    stft_bot, mfcc_bot, chroma_bot = (bot_module(n) for n in ("stft", "mfcc", "chroma"))
    collection, labels = Collection(fit_min=10**9), []
    sounds = [(family, n) for family in FAMILIES for n in range(per_family)]
    for family, n in sounds:
        stft = stft_bot.compute(y=_sound(family, seconds, rng)[None, :], sr=SAMPLE_RATE)
        mfcc, chroma = mfcc_bot.compute(stft=stft), chroma_bot.compute(stft=stft)
        spans = list(windows(len(mfcc), frame_rate=FRAME_RATE))
        cuts = [frame_span(a, b, frame_rate=FRAME_RATE, frames=len(mfcc)) for a, b in spans]
        raw = np.array([raw_features(mfcc[i:j], chroma[i:j]) for i, j in cuts])
        collection.add(f"{family}-{n}", spans, raw, kind=WINDOW)
        labels += [family] * len(spans)
    collection.refit()  # statistics and map fitted on the whole collection, then frozen
    label = np.array(labels)
    sound = collection.index.sound
    precisions, baselines = [], []
    for row in range(len(collection.index)):
        own = collection.sounds[int(sound[row])].id
        rows, _ = collection.search(
            collection.index.vectors[row], 10, collection.allowed(exclude_sound=own)
        )
        precisions.append(float(np.mean(label[rows] == label[row])))
        others = sound != sound[row]
        baselines.append(float(np.mean(label[others] == label[row])))
    return {
        "precision": float(np.mean(precisions)),
        "baseline": float(np.mean(baselines)),
        "sounds": len(sounds),
        "segments": len(collection.index),
    }


def measure(*, full: bool = False, seed: int = 0) -> Figures:
    rng = np.random.default_rng(seed)
    n = 300_000 if full else 100_000
    ann = _ann(n, 1000 if full else 500, rng)
    labelled = _labelled(20 if full else 10, 4.0, rng)
    return Figures(
        segments=n,
        recall=ann["recall"],
        p50_ms=ann["p50"],
        p99_ms=ann["p99"],
        exact_p50_ms=ann["exact_p50"],
        exact_p99_ms=ann["exact_p99"],
        rate=ann["rate"],
        save_seconds=ann["save"],
        load_seconds=ann["load"],
        snapshot_mb=ann["megabytes"],
        precision=labelled["precision"],
        baseline=labelled["baseline"],
        labelled_sounds=int(labelled["sounds"]),
        labelled_segments=int(labelled["segments"]),
    )


def rows(f: Figures) -> list[tuple[str, str, str, str]]:
    """(figure, value, limit, ratio) rows for `make bench`'s table."""
    n = f"{f.segments:,} segments"
    p99_goal = 20.0
    precision = f"{f.labelled_sounds} sounds, {f.labelled_segments} segments, 6 families"
    return [
        (f"similarity: recall@10 vs exact search, {n}", f"{f.recall:.3f}", "0.98 goal",
         f"{f.recall / 0.98:.2f}"),
        (f"similarity: query p50 | p99, {n}", f"{f.p50_ms:.2f} | {f.p99_ms:.2f} ms",
         f"{f.exact_p50_ms:.2f} | {f.exact_p99_ms:.2f} ms exact; p99 goal 20 ms",
         f"{f.p99_ms / p99_goal:.2g} of goal"),
        (f"similarity: indexing rate, {n}, 40 per add", f"{f.rate:,.0f} segments/s", "", ""),
        (f"similarity: snapshot commit | load, {n} ({f.snapshot_mb:,.0f} MB)",
         f"{f.save_seconds:.2f} | {f.load_seconds:.2f} s", "", ""),
        (f"similarity: label precision@10, synthetic instruments ({precision})",
         f"{f.precision:.3f}", f"{f.baseline:.3f} random baseline",
         f"{f.precision / f.baseline:.1f}x" if f.baseline else "—"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="300,000 segments, 120 sounds")
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    figures = measure(full=args.full)
    for figure, value, limit, ratio in rows(figures):
        print(f"{figure}: {value}  [{limit}]  {ratio}")
    took, cpus, end = time.perf_counter() - started, os.cpu_count(), os.getloadavg()[0]
    print(
        f"took {took:.0f} s; {cpus} CPUs, 1-min load average {load:.1f} at start, {end:.1f} at end"
    )


if __name__ == "__main__":
    main()
