"""The collections the dataset tests import, written here in the real formats (numpy +
soundfile), independently of the importers' own synthetic generator."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile


def tone(seconds: float, rate: int, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def example(family: str, number: int, pitch: int, velocity: int, **fields: Any) -> dict[str, Any]:
    """One examples.json entry, as NSynth writes them."""
    instrument = f"{family}_acoustic_{number:03d}"
    return {
        "note": number * 1000 + pitch,
        "note_str": f"{instrument}-{pitch:03d}-{velocity:03d}",
        "instrument": number,
        "instrument_str": instrument,
        "pitch": pitch,
        "velocity": velocity,
        "sample_rate": 16000,
        "qualities": [1, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        "qualities_str": ["bright", "reverb"],
        "instrument_family": 3,
        "instrument_family_str": family,
        "instrument_source": 0,
        "instrument_source_str": "acoustic",
    } | fields


def nsynth(directory: Path, examples: list[dict[str, Any]], *, seconds: float = 0.25) -> Path:
    """An NSynth split: examples.json keyed by note_str and audio/<note_str>.wav (16 kHz mono;
    shorter than NSynth's 4 s to keep the tests quick)."""
    (directory / "audio").mkdir(parents=True, exist_ok=True)
    for e in examples:
        y = tone(seconds, 16000, 440.0 * 2 ** ((e["pitch"] - 69) / 12))
        soundfile.write(directory / "audio" / f"{e['note_str']}.wav", y, 16000, subtype="PCM_16")
    text = json.dumps({e["note_str"]: e for e in examples}, indent=2)
    (directory / "examples.json").write_text(text)
    return directory


LABELS = ["start_time", "end_time", "instrument", "note", "start_beat", "end_beat", "note_value"]
META = ["id", "composer", "composition", "movement", "ensemble", "source", "transcriber",
        "catalog_name", "seconds"]  # fmt: skip


def musicnet(directory: Path, recordings: dict[str, tuple[str, float, list[list[Any]]]]) -> Path:
    """MusicNet's layout: {id: (split, seconds, label rows)} at 44.1 kHz; label times in
    sample indices."""
    meta = []
    for recording, (split, seconds, rows) in recordings.items():
        for sub in ("data", "labels"):
            (directory / f"{split}_{sub}").mkdir(parents=True, exist_ok=True)
        y = tone(seconds, 44100)
        soundfile.write(directory / f"{split}_data" / f"{recording}.wav", y, 44100)
        with (directory / f"{split}_labels" / f"{recording}.csv").open("w", newline="") as f:
            csv.writer(f).writerows([LABELS, *rows])
        meta.append([recording, "Mozart", f"String Quartet No {recording}", "1. Allegro",
                     "String Quartet", "a source", "a transcriber", "K465", seconds])  # fmt: skip
    with (directory / "musicnet_metadata.csv").open("w", newline="") as f:
        csv.writer(f).writerows([META, *meta])
    return directory
