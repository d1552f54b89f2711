"""The demo that `cochlea up` seeds: a few users of every type, synthetic sounds whose audio this
module generates (and the API serves at `/files/demo/`), and annotations at the right times.

Everything goes through the service layer, as any client's writes would, and is idempotent:
users are looked up by name, sounds and annotations carry keys, audio files are written once.
So a restart creates nothing new. Only the printed token is new each time (a fresh login).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import soundfile
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.engine import create_engine
from api.db.tables import users_table as users
from api.services.annotations import AnnotationInput, create_annotations
from api.services.reading import USERS
from api.services.records import UserRecord
from api.services.sounds import SoundInput, create_sounds
from api.services.users import NewUser, create_user, login
from api.settings import Settings

DEMO_HUMAN = "ada"
DEMO_PASSWORD = "listen-closely"
RATE = 22_050

DEMO_USERS: list[tuple[str, str, str]] = [
    ("ada", "HUMAN", "Demo human: tags notes and chords by ear."),
    ("grace", "HUMAN", "Demo human: marks noises and sweeps."),
    ("demo-dataset", "DATASET", "Synthetic test signals that `cochlea up` generates."),
    ("demo-featurebot", "FEATUREBOT", "Demo featurebot: publishes onsets of the click track."),
    ("demo-aggregator", "AGGREGATOR", "Demo aggregator: reads the streams, writes nothing."),
]


def _seconds(n: float) -> np.ndarray:
    return np.arange(round(n * RATE)) / RATE


def hz(note: str) -> float:
    """Frequency of a note name such as A4 or C#3 (equal temperament, A4 = 440 Hz)."""
    steps = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[note[0]]
    steps += note.count("#") - note.count("b")
    midi = 12 * (int(note.lstrip("ABCDEFG#b")) + 1) + steps
    return 440.0 * 2 ** ((midi - 69) / 12)


def _tone(notes: list[str], seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = _seconds(seconds)
    y = sum(np.sin(2 * np.pi * hz(n) * t) for n in notes) * amplitude / len(notes)
    fade = np.minimum(1.0, np.minimum(t / 0.01, (seconds - t) / 0.05))  # no clicks at the edges
    return np.asarray(y * fade)


# A melody as (note, seconds); "Twinkle, Twinkle, Little Star", first two phrases.
TWINKLE = [
    (n, 1.0 if n.endswith("-") else 0.5)
    for n in "C4 C4 G4 G4 A4 A4 G4- F4 F4 E4 E4 D4 D4 C4-".split()
]
ARPEGGIO = [("A3", 0.5), ("C4", 0.5), ("E4", 0.5), ("A4", 0.5)]
BURSTS = [0.5, 2.0, 3.5, 5.0]  # noise bursts start here and last 0.5 s
CLICKS = [i * 0.5 for i in range(12)]  # 120 bpm, 4/4


def _melody(notes: list[tuple[str, float]]) -> np.ndarray:
    return np.concatenate([_tone([n.rstrip("-")], s) for n, s in notes])


def _arpeggio() -> np.ndarray:
    return np.concatenate([_melody(ARPEGGIO), _tone(["A3", "C4", "E4"], 2.0)])


def _noise_bursts() -> np.ndarray:
    y = np.zeros(round(6 * RATE))
    noise = np.random.default_rng(7).uniform(-0.3, 0.3, y.size)
    for start in BURSTS:
        i = round(start * RATE)
        y[i : i + RATE // 2] = noise[i : i + RATE // 2]
    return y


def _click_track() -> np.ndarray:
    y = np.zeros(round(6 * RATE))
    t = _seconds(0.03)
    for i, start in enumerate(CLICKS):
        click = np.sin(2 * np.pi * (2000 if i % 4 == 0 else 1000) * t) * np.exp(-t / 0.005)
        j = round(start * RATE)
        y[j : j + t.size] = 0.5 * click
    return y


def _chirp(f0: float = 100.0, f1: float = 8000.0, seconds: float = 5.0) -> np.ndarray:
    t = _seconds(seconds)
    k = np.log(f1 / f0)
    return 0.3 * np.sin(2 * np.pi * f0 * seconds / k * (np.exp(t / seconds * k) - 1))


class DemoSound(NamedTuple):
    file: str
    title: str
    license: str
    tags: str  # space-separated
    creator: str


SOUNDS: list[DemoSound] = [
    DemoSound("sine-440.wav", "A4 sine tone (440 Hz)", "CC0", "test-signal sine", "demo-dataset"),
    DemoSound("c-major-chord.flac", "C major chord", "CC0", "chord synth", "demo-dataset"),
    DemoSound("twinkle.wav", "Twinkle, Twinkle, Little Star", "CC_BY", "melody", "demo-dataset"),
    DemoSound("noise-bursts.flac", "Four noise bursts", "CC0", "test-signal noise", "demo-dataset"),
    DemoSound(
        "click-track.wav", "Click track, 120 bpm", "CC0", "test-signal rhythm", "demo-dataset"
    ),
    DemoSound(
        "chirp.flac", "Chirp, 100 Hz to 8 kHz", "CC_BY_SA", "test-signal sweep", "demo-dataset"
    ),
    DemoSound("a-minor-arpeggio.wav", "A minor arpeggio", "CC_BY_NC", "arpeggio synth", "ada"),
]
SYNTHS: dict[str, Callable[[], np.ndarray]] = {
    "sine-440.wav": lambda: _tone(["A4"], 4.0),
    "c-major-chord.flac": lambda: _tone(["C4", "E4", "G4"], 5.0),
    "twinkle.wav": lambda: _melody(TWINKLE),
    "noise-bursts.flac": _noise_bursts,
    "click-track.wav": _click_track,
    "chirp.flac": _chirp,
    "a-minor-arpeggio.wav": _arpeggio,
}


def _times(notes: list[tuple[str, float]], offset: float = 0.0) -> list[tuple[float, float, str]]:
    out, at = [], offset
    for note, seconds in notes:
        out.append((at, seconds, note.rstrip("-")))
        at += seconds
    return out


# (creator, sound file, start, duration, tags, metadata)
Annotation = tuple[str, str, float, float, list[str], dict[str, Any] | None]


def _onsets() -> list[Annotation]:
    """What a featurebot would publish: the click track's onsets, downbeats stronger."""
    return [
        (
            "demo-featurebot",
            "click-track.wav",
            s,
            0.03,
            ["onset"],
            {"strength": 1.0 if i % 4 == 0 else 0.6},
        )
        for i, s in enumerate(CLICKS)
    ]


ANNOTATIONS: list[Annotation] = [
    ("ada", "sine-440.wav", 0.0, 4.0, ["A4", "note"], None),
    ("ada", "c-major-chord.flac", 0.0, 5.0, ["C major", "chord", "C4", "E4", "G4"], None),
    *(("ada", "twinkle.wav", s, d, [n, "note"], None) for s, d, n in _times(TWINKLE)),
    ("demo-dataset", "twinkle.wav", 0.0, 4.0, ["phrase"], {"phrase": 1}),
    ("demo-dataset", "twinkle.wav", 4.0, 4.0, ["phrase"], {"phrase": 2}),
    *(("ada", "a-minor-arpeggio.wav", s, d, [n, "note"], None) for s, d, n in _times(ARPEGGIO)),
    ("ada", "a-minor-arpeggio.wav", 2.0, 2.0, ["A minor", "chord", "A3", "C4", "E4"], None),
    *(("grace", "noise-bursts.flac", s, 0.5, ["noise", "burst"], None) for s in BURSTS),
    ("grace", "chirp.flac", 0.0, 5.0, ["chirp", "sweep"], None),
    *_onsets(),
]


@dataclass(frozen=True)
class DemoResult:
    """What `seed` did: how many resources it created (0 on a restart) and a fresh API key."""

    created: int
    sounds: int
    annotations: int
    token: str | None
    audio_base: str  # where the demo sounds' audioUrls point (set when they were first made)


async def seed(settings: Settings, *, engine: AsyncEngine | None = None) -> DemoResult:
    """Seed the demo into `settings`' database and data directory (idempotent)."""
    own = engine is None
    engine = engine or create_engine(settings.database_url or "", pool_size=2)
    try:
        return await _seed(settings, engine)
    finally:
        if own:
            await engine.dispose()


async def _seed(settings: Settings, engine: AsyncEngine) -> DemoResult:
    created = 0
    people: dict[str, UserRecord] = {}
    for name, type_, about in DEMO_USERS:
        people[name], made = await _ensure_user(engine, name, type_, about)
        created += made
    base = settings.public_url.rstrip("/") + "/files/demo/"
    folder = Path(settings.data_dir) / "files" / "demo"
    ids: dict[str, uuid.UUID] = {}
    audio_base = base
    for creator in dict.fromkeys(s.creator for s in SOUNDS):
        mine = [s for s in SOUNDS if s.creator == creator]
        inputs = [
            SoundInput(
                key=f"demo:{s.file}",
                title=s.title,
                audio_url=base + s.file,
                license=s.license,
                duration_seconds=_write_audio(folder / s.file, SYNTHS[s.file]),
                tags=s.tags.split(),
            )
            for s in mine
        ]
        result = await create_sounds(engine=engine, viewer=people[creator], inputs=inputs)
        _check(result.problems, "sounds")
        created += result.created
        for s, record in zip(mine, result.items, strict=True):
            ids[s.file] = record.id
            audio_base = record.audio_url.removesuffix(s.file)
    for creator in dict.fromkeys(a[0] for a in ANNOTATIONS):
        inputs_a = [
            AnnotationInput(
                key=f"demo:{file}:{i}",
                sound=ids[file],
                start_seconds=start,
                duration_seconds=seconds,
                tags=tags,
                metadata=metadata,
            )
            for i, (who, file, start, seconds, tags, metadata) in enumerate(ANNOTATIONS)
            if who == creator
        ]
        result_a = await create_annotations(engine=engine, viewer=people[creator], inputs=inputs_a)
        _check(result_a.problems, "annotations")
        created += result_a.created
    token = await login(engine=engine, name=DEMO_HUMAN, password=DEMO_PASSWORD)
    return DemoResult(created, len(SOUNDS), len(ANNOTATIONS), token, audio_base)


async def _ensure_user(
    engine: AsyncEngine, name: str, type_: str, about: str
) -> tuple[UserRecord, int]:
    """The user called `name`, signed up first if needed; and 1 if it was."""
    found = await _find_user(engine, name)
    if found is not None:
        return found, 0
    password = DEMO_PASSWORD if type_ == "HUMAN" else None
    signup = await create_user(
        engine=engine, new=NewUser(name=name, type=type_, password=password, about_me=about)
    )
    if signup.user is not None:
        return signup.user, 1
    found = await _find_user(engine, name)  # taken meanwhile by a concurrent seed
    if found is None:
        raise RuntimeError(f"could not create demo user {name!r}: {signup.problems}")
    return found, 0


async def _find_user(engine: AsyncEngine, name: str) -> UserRecord | None:
    async with engine.connect() as conn:
        stmt = select(*USERS.columns).where(func.lower(users.c.name) == name.lower())
        row = (await conn.execute(stmt)).mappings().first()
    return USERS.to_record(row) if row is not None else None


def _write_audio(path: Path, synth: Callable[[], np.ndarray]) -> float:
    """Write the file once (atomically: a crash leaves no half file); return its seconds."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        soundfile.write(partial, synth(), RATE, subtype="PCM_16", format=path.suffix[1:].upper())
        os.replace(partial, path)
    return float(soundfile.info(path).duration)


def _check(problems: Sequence[object], what: str) -> None:
    if problems:
        raise RuntimeError(f"the demo {what} were refused: {problems}")
