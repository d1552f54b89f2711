"""NSynth as distributed: `DIR/examples.json` (an object keyed by `note_str`) and
`DIR/audio/<note_str>.wav` (4 s, 16 kHz mono).

One sound per note, titled with its `note_str`; one whole-sound annotation tagged with the
instrument family, the instrument source, each quality, the note name (scientific pitch: MIDI
60 is C4) and `velocity:<v>`; the note's fields as the sound's metadata. Keys:
`nsynth:<note_str>` for the sound and for its annotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workers.datasets.items import Audio, BadInput, Segment, SoundItem, parse_license, stable_key
from workers.datasets.midi import note_name
from workers.datasets.run import Source

ABOUT = (
    "NSynth (Magenta, CC BY 4.0): four-second notes of 1,006 instruments at 16 kHz, one sound "
    "per note. Each has one annotation tagged with the instrument family and source, its "
    "qualities, the note name (scientific pitch, C4 = MIDI 60) and velocity:<v>; the sound's "
    "metadata holds pitch, velocity, instrument, family, source, qualities and sample rate. "
    "https://magenta.tensorflow.org/datasets/nsynth"
)
INFO_URL = "https://magenta.tensorflow.org/datasets/nsynth"


def read_examples(directory: Path) -> dict[str, Any]:
    """`examples.json`, or `BadInput` naming the line and column where it stops being JSON."""
    path = directory / "examples.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput("no examples.json: not an NSynth split", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read: {exc}", file=path) from None
    try:
        examples = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"malformed JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno
        ) from None
    if not isinstance(examples, dict):
        raise BadInput("must be a JSON object keyed by note_str", file=path, line=1)
    return examples


def _field(example: dict[str, Any], name: str, kind: type, *, path: Path, key: str) -> Any:
    value = example.get(name)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        shown = "missing" if name not in example else f"{value!r} is not a {kind.__name__}"
        raise BadInput(shown, file=path, key=key, field=name)
    return value


def to_item(key: str, example: Any, *, directory: Path, license: str, path: Path) -> SoundItem:
    """One example as a sound with its annotation; `BadInput` names the key and field."""
    if not isinstance(example, dict):
        raise BadInput("each example must be a JSON object", file=path, key=key)
    note_str = _field(example, "note_str", str, path=path, key=key)
    if note_str != key:
        raise BadInput(f"{note_str!r} differs from its key", file=path, key=key, field="note_str")
    pitch = _field(example, "pitch", int, path=path, key=key)
    velocity = _field(example, "velocity", int, path=path, key=key)
    if not 0 <= pitch <= 127:
        raise BadInput(f"{pitch} is outside MIDI's 0-127", file=path, key=key, field="pitch")
    family = _field(example, "instrument_family_str", str, path=path, key=key)
    source = _field(example, "instrument_source_str", str, path=path, key=key)
    instrument = _field(example, "instrument_str", str, path=path, key=key)
    qualities = _field(example, "qualities_str", list, path=path, key=key)
    if not all(isinstance(q, str) for q in qualities):
        raise BadInput("must be a list of strings", file=path, key=key, field="qualities_str")
    sample_rate = _field(example, "sample_rate", int, path=path, key=key)
    relative = f"audio/{note_str}.wav"
    item_key = stable_key("nsynth", note_str)
    tags = [family, source, *qualities, note_name(pitch), f"velocity:{velocity}"]
    return SoundItem(
        key=item_key,
        title=note_str,
        audio=Audio(path=directory / relative, relative=relative),
        license=license,
        info_url=INFO_URL,
        metadata={
            "pitch": pitch,
            "velocity": velocity,
            "instrument": instrument,
            "instrumentFamily": family,
            "instrumentSource": source,
            "qualities": qualities,
            "sampleRate": sample_rate,
        },
        whole=Segment(key=item_key, start=0.0, end=0.0, tags=tags, file=str(path)),
        source=str(path),
    )


def source(directory: Path, *, license: str | None) -> Source:
    """The split at `directory` (examples.json is read at once: it names every note)."""
    examples = read_examples(directory)
    path = directory / "examples.json"
    chosen = parse_license(license, file="--license") if license else "CC_BY"

    def items() -> Iterator[SoundItem | BadInput]:
        for key, example in examples.items():
            try:
                yield to_item(key, example, directory=directory, license=chosen, path=path)
            except BadInput as exc:
                yield exc

    return Source(
        name="nsynth",
        user="nsynth",
        about=ABOUT,
        items=items(),
        total=len(examples),
        info_url=INFO_URL,
    )
