"""Small collections in the exact NSynth and MusicNet layouts, synthesized here, for the demo
that `cochlea up` seeds and for the import benchmark (real formats, no download).

NSynth-format: 4 s notes at 16 kHz mono (held 3 s, released over 1 s), 16-bit WAV, from a few
additive-synthesis "instrument families". MusicNet-format: a short two-voice piece at 44.1 kHz
(violin melody over a cello line) with its label CSV in sample indices.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile

NSYNTH_RATE = 16_000
MUSICNET_RATE = 44_100
QUALITIES = (
    "bright", "dark", "distortion", "fast_decay", "long_release",
    "multiphonic", "nonlinear_env", "percussive", "reverb", "tempo-synced",
)  # fmt: skip
# family: (family id, harmonic amplitudes, vibrato depth, qualities)
FAMILIES: dict[str, tuple[int, tuple[float, ...], float, tuple[str, ...]]] = {
    "bass": (0, (1.0, 0.5, 0.2), 0.0, ("dark",)),
    "brass": (1, (1.0, 0.8, 0.6, 0.5, 0.4, 0.3), 0.0, ("bright",)),
    "flute": (2, (1.0, 0.1, 0.05), 0.004, ()),
    "keyboard": (4, (1.0, 0.4, 0.25, 0.1), 0.0, ("fast_decay", "percussive")),
    "string": (8, (1.0, 0.6, 0.4, 0.3, 0.2, 0.1), 0.006, ("long_release",)),
}
VELOCITIES = (25, 50, 75, 100, 127)


def note_audio(pitch: int, velocity: int, family: str, seconds: float, rate: int) -> np.ndarray:
    _, harmonics, vibrato, qualities = FAMILIES[family]
    t = np.arange(round(seconds * rate)) / rate
    f0 = 440.0 * 2 ** ((pitch - 69) / 12) * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    y = sum(
        a * np.sin((n + 1) * phase) for n, a in enumerate(harmonics) if (n + 1) * f0[0] < rate / 2
    )
    held = min(3.0, seconds - 0.05)
    if "percussive" in qualities:
        envelope = np.exp(-t / 0.6)
    else:
        envelope = np.minimum(1.0, t / 0.02) * np.where(t < held, 1.0, np.exp(-(t - held) / 0.15))
    y = np.asarray(y) * envelope * (0.2 + 0.6 * velocity / 127) / sum(harmonics)
    return np.asarray(y * np.minimum(1.0, (seconds - t) / 0.01), dtype=np.float32)


def nsynth_examples(notes: int) -> dict[str, dict[str, object]]:
    """`notes` examples.json entries of the families above (pitches 36-84, five velocities)."""
    examples: dict[str, dict[str, object]] = {}
    names = list(FAMILIES)
    for i in range(notes):
        family = names[i % len(names)]
        family_id, _, _, qualities = FAMILIES[family]
        pitch, velocity = 36 + (i * 7) % 49, VELOCITIES[(i // len(names)) % len(VELOCITIES)]
        instrument = f"{family}_synthetic_{i // 25:03d}"
        note_str = f"{instrument}-{pitch:03d}-{velocity:03d}"
        examples[note_str] = {
            "note": i, "note_str": note_str, "instrument": family_id * 1000 + i // 25,
            "instrument_str": instrument, "pitch": pitch, "velocity": velocity,
            "sample_rate": NSYNTH_RATE, "qualities": [int(q in qualities) for q in QUALITIES],
            "qualities_str": list(qualities), "instrument_family": family_id,
            "instrument_family_str": family, "instrument_source": 2,
            "instrument_source_str": "synthetic",
        }  # fmt: skip
    return examples


def write_nsynth(directory: Path, *, notes: int = 100, seconds: float = 4.0) -> list[str]:
    """An NSynth split of `nsynth_examples(notes)`, each note synthesized; returns their
    note_str. Audio files already there are kept (writing is idempotent)."""
    audio = directory / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    examples = nsynth_examples(notes)
    for note_str, e in examples.items():
        path = audio / f"{note_str}.wav"
        if not path.exists():
            family = str(e["instrument_family_str"])
            y = note_audio(int(e["pitch"]), int(e["velocity"]), family, seconds, NSYNTH_RATE)  # type: ignore[call-overload]
            soundfile.write(path, y, NSYNTH_RATE, subtype="PCM_16")
    (directory / "examples.json").write_text(json.dumps(examples, indent=2))
    return list(examples)


# (start beat, beats, MIDI pitch, GM program): a violin melody over a cello line, 120 bpm.
PIECE = [
    *((b, 1.0, p, 41) for b, p in enumerate([76, 74, 72, 74, 76, 76, 76, 74, 74, 74, 76, 79])),
    *((b * 4.0, 4.0, p, 43) for b, p in enumerate([48, 43, 48])),
]
VALUES = {1.0: "Quarter", 4.0: "Whole"}


def write_musicnet(directory: Path, *, recording: str = "9001") -> None:
    """One 7 s recording as MusicNet lays it out (train split), labels in sample indices."""
    for sub in ("train_data", "train_labels"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    beat = 0.5  # seconds
    total = round((max(s + n for s, n, _, _ in PIECE) * beat + 1.0) * MUSICNET_RATE)
    wav = directory / "train_data" / f"{recording}.wav"
    rows = []
    y = np.zeros(total, dtype=np.float32)
    for start, beats, pitch, program in PIECE:
        first, count = round(start * beat * MUSICNET_RATE), round(beats * beat * MUSICNET_RATE)
        family = "string" if program == 41 else "bass"
        y[first : first + count] += 0.5 * note_audio(
            pitch, 80, family, count / MUSICNET_RATE, MUSICNET_RATE
        )
        rows.append([first, first + count, program, pitch, start, beats, VALUES[beats]])
    if not wav.exists():
        soundfile.write(wav, y, MUSICNET_RATE, subtype="PCM_16")
    with (directory / "train_labels" / f"{recording}.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["start_time", "end_time", "instrument", "note", "start_beat", "end_beat", "note_value"]
        )
        writer.writerows(sorted(rows))
    with (directory / "musicnet_metadata.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "composer", "composition", "movement", "ensemble", "source",
                         "transcriber", "catalog_name", "seconds"])  # fmt: skip
        writer.writerow([recording, "Cochlea", "Synthetic Duo in C major", "1. Andante",
                         "Violin and Cello", "synthesized", "cochlea", "Co. 1",
                         total // MUSICNET_RATE])  # fmt: skip
