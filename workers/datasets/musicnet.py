"""MusicNet as distributed: `musicnet_metadata.csv`, `{train,test}_data/<id>.wav` and
`{train,test}_labels/<id>.csv` (columns start_time, end_time, instrument, note, start_beat,
end_beat, note_value; times are sample indices at 44,100 Hz).

One sound per recording present on disk, titled "composition — movement" (CC BY 4.0); one
whole-sound annotation tagged with composer, ensemble and split; one annotation per label row,
from `start_time / 44100` to `end_time / 44100`, tagged with the General MIDI name of the
1-based instrument program and the note name. Keys: `musicnet:<id>` (sound and whole-sound
annotation) and `musicnet:<id>:<row>` (row 1 is the first label row).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workers.datasets.items import Audio, BadInput, Segment, SoundItem, parse_license, stable_key
from workers.datasets.midi import note_name, program_name
from workers.datasets.run import Source

SAMPLE_RATE = 44_100
SPLITS = ("train", "test")
LABEL_COLUMNS = ("start_time", "end_time", "instrument", "note", "start_beat", "end_beat")
META_COLUMNS = ("id", "composer", "composition", "movement", "ensemble")
INFO_URL = "https://zenodo.org/records/5120004"
ABOUT = (
    "MusicNet (Thickstun, Harchaoui and Kakade; CC BY 4.0): 330 recordings of classical music "
    "with every note labelled. One sound per recording, titled composition — movement, with "
    "an annotation tagged composer, ensemble and split, and one per note tagged with its "
    "General MIDI instrument and note name (times from sample indices at 44.1 kHz). " + INFO_URL
)


def read_metadata(directory: Path) -> dict[str, dict[str, str]]:
    """musicnet_metadata.csv by recording id."""
    path = directory / "musicnet_metadata.csv"
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            missing = [c for c in META_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise BadInput(f"no column {', '.join(missing)}", file=path, line=1, field="header")
            return {(row.get("id") or "").strip(): row for row in reader}
    except FileNotFoundError:
        raise BadInput("no musicnet_metadata.csv: not a MusicNet directory", file=path) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BadInput(f"malformed CSV: {exc}", file=path) from None


def _number(row: dict[str, Any], column: str, *, path: Path, line: int, kind: type) -> Any:
    raw = (row.get(column) or "").strip()
    try:
        return kind(raw) if kind is float else int(raw)
    except ValueError:
        shown = (
            "empty"
            if not raw
            else f"{raw!r} is not {'a number' if kind is float else 'an integer'}"
        )
        raise BadInput(shown, file=path, line=line, field=column) from None


def read_labels(path: Path, recording: str) -> list[Segment]:
    """Every label row of one recording as a segment; `BadInput` names line and column."""
    try:
        file = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(
            "no labels file", file=path, key=f"musicnet:{recording}", field="labels"
        ) from None
    with file:
        reader = csv.DictReader(file)
        missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(f"no column {', '.join(missing)}", file=path, line=1, field="header")
        segments = []
        try:
            for row_number, row in enumerate(reader, start=1):
                segments.append(
                    _label(
                        row, path=path, line=reader.line_num, row=row_number, recording=recording
                    )
                )
        except csv.Error as exc:
            raise BadInput(f"malformed CSV: {exc}", file=path, line=reader.line_num) from None
    return segments


def _label(fields: dict[str, Any], *, path: Path, line: int, row: int, recording: str) -> Segment:
    start = _number(fields, "start_time", path=path, line=line, kind=int)
    end = _number(fields, "end_time", path=path, line=line, kind=int)
    program = _number(fields, "instrument", path=path, line=line, kind=int)
    pitch = _number(fields, "note", path=path, line=line, kind=int)
    start_beat = _number(fields, "start_beat", path=path, line=line, kind=float)
    end_beat = _number(fields, "end_beat", path=path, line=line, kind=float)
    if start < 0 or end <= start:
        raise BadInput(
            f"end_time {end} is not after start_time {start}",
            file=path,
            line=line,
            field="end_time",
        )
    try:
        instrument = program_name(program)
    except ValueError as exc:
        raise BadInput(str(exc), file=path, line=line, field="instrument") from None
    try:
        note = note_name(pitch)
    except ValueError as exc:
        raise BadInput(str(exc), file=path, line=line, field="note") from None
    return Segment(
        key=stable_key("musicnet", recording, str(row)),
        start=start / SAMPLE_RATE,
        end=end / SAMPLE_RATE,
        tags=[instrument, note],
        metadata={
            "midiPitch": pitch,
            "instrumentProgram": program,
            "startBeat": start_beat,
            "endBeat": end_beat,
            "noteValue": (fields.get("note_value") or "").strip() or None,
        },
        file=str(path),
        line=line,
    )


def to_item(
    directory: Path, split: str, recording: str, meta: dict[str, str] | None, license: str
) -> SoundItem:
    metadata_path = directory / "musicnet_metadata.csv"
    key = stable_key("musicnet", recording)
    if meta is None:
        raise BadInput(f"no row for recording {recording}", file=metadata_path, key=key, field="id")
    composition = (meta.get("composition") or "").strip()
    movement = (meta.get("movement") or "").strip()
    if not composition:
        raise BadInput("empty", file=metadata_path, key=key, field="composition")
    composer = (meta.get("composer") or "").strip()
    ensemble = (meta.get("ensemble") or "").strip()
    relative = f"{split}_data/{recording}.wav"
    segments = read_labels(directory / f"{split}_labels" / f"{recording}.csv", recording)
    return SoundItem(
        key=key,
        title=f"{composition} — {movement}" if movement else composition,
        audio=Audio(path=directory / relative, relative=relative),
        license=license,
        tags=[split],
        info_url=INFO_URL,
        metadata={
            "id": int(recording) if recording.isdigit() else recording,
            **{
                name: (meta.get(column) or "").strip() or None
                for name, column in (
                    ("composer", "composer"),
                    ("composition", "composition"),
                    ("movement", "movement"),
                    ("ensemble", "ensemble"),
                    ("source", "source"),
                    ("transcriber", "transcriber"),
                    ("catalogName", "catalog_name"),
                )
            },
        },
        whole=Segment(
            key=key, start=0.0, end=0.0, tags=[t for t in (composer, ensemble, split) if t]
        ),
        segments=segments,
        source=str(directory / relative),
    )


def source(directory: Path, *, license: str | None) -> Source:
    """Every recording whose WAV is in `{train,test}_data`, by split then id."""
    metadata = read_metadata(directory)
    chosen = parse_license(license, file="--license") if license else "CC_BY"
    found = [
        (split, wav.stem)
        for split in SPLITS
        for wav in sorted(
            (directory / f"{split}_data").glob("*.wav"), key=lambda p: (len(p.stem), p.stem)
        )
    ]
    if not found:
        raise BadInput("no train_data/*.wav or test_data/*.wav", file=directory)

    def items() -> Iterator[SoundItem | BadInput]:
        for split, recording in found:
            try:
                yield to_item(directory, split, recording, metadata.get(recording), chosen)
            except BadInput as exc:
                yield exc

    return Source(
        name="musicnet",
        user="musicnet",
        about=ABOUT,
        items=items(),
        total=len(found),
        info_url=INFO_URL,
    )
