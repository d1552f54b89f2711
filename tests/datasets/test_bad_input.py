"""Bad input is named (file, line or key, field), skipped or stopped at as --on-error says,
never half-written, never a traceback, and the exit status says something was left out."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile

from tests.datasets.conftest import Importer
from tests.datasets.formats import example, musicnet, nsynth, tone


def _titles(importer: Importer, user: str) -> dict[str, int]:
    return {s["title"]: s["annotations"]["totalCount"] for s in importer.sounds(user)}


def test_malformed_examples_json(importer: Importer, user: str, tmp_path: Path) -> None:
    split = nsynth(tmp_path / "split", [example("bass", 1, 40, 50)])
    text = (split / "examples.json").read_text()
    (split / "examples.json").write_text(text.replace('"pitch": 40,', '"pitch": 40'))
    code, out = importer("nsynth", str(split), "--user", user)
    assert code == 1
    assert f"{split / 'examples.json'}:8: malformed JSON: Expecting ',' delimiter" in out
    assert "Traceback" not in out
    assert importer.sounds(user) == []


def _broken_split(tmp_path: Path) -> Path:
    good, missing, unreadable, wrong = (example("reed", 2, p, 75) for p in (60, 61, 62, 63))
    split = nsynth(tmp_path / "split", [good, missing, unreadable, wrong])
    examples = json.loads((split / "examples.json").read_text())
    examples[wrong["note_str"]]["pitch"] = "high"
    (split / "examples.json").write_text(json.dumps(examples))
    (split / "audio" / f"{missing['note_str']}.wav").unlink()
    (split / "audio" / f"{unreadable['note_str']}.wav").write_bytes(b"RIFF garbage, not audio")
    return split


def test_nsynth_bad_items_skipped(importer: Importer, user: str, tmp_path: Path) -> None:
    split = _broken_split(tmp_path)
    code, out = importer("nsynth", str(split), "--user", user, "--on-error", "skip")
    assert code == 1, out
    assert _titles(importer, user) == {"reed_acoustic_002-060-075": 1}
    examples = split / "examples.json"
    assert "skipped 3" in out and "Traceback" not in out
    assert f"[nsynth:reed_acoustic_002-061-075]: audio: no audio file {split}/audio/" in out
    unreadable = split / "audio" / "reed_acoustic_002-062-075.wav"
    assert (
        f"{unreadable} [nsynth:reed_acoustic_002-062-075]: audio: cannot read the audio header"
        in out
    )
    assert f"{examples} [reed_acoustic_002-063-075]: pitch: 'high' is not a int" in out


def test_nsynth_stops_before_the_bad_item(importer: Importer, user: str, tmp_path: Path) -> None:
    split = _broken_split(tmp_path)
    code, out = importer("nsynth", str(split), "--user", user)
    assert code == 1, out
    assert "stopped at bad input" in out and "reed_acoustic_002-061-075" in out
    assert _titles(importer, user) == {"reed_acoustic_002-060-075": 1}


def test_musicnet_bad_label_row(importer: Importer, user: str, tmp_path: Path) -> None:
    good = [[0, 22050, 41, 60, 0.0, 1.0, "Quarter"]]
    bad = [*good, [22050, "soon", 42, 62, 1.0, 1.0, "Quarter"]]
    past_end = [[0, 44100 * 3, 43, 48, 0.0, 4.0, "Whole"]]
    root = musicnet(tmp_path / "mn", {"1": ("train", 1.0, good), "2": ("train", 1.0, bad),
                                      "3": ("test", 1.0, past_end)})  # fmt: skip
    code, out = importer("musicnet", str(root), "--user", user, "--on-error", "skip")
    assert code == 1, out
    assert _titles(importer, user) == {"String Quartet No 1 — 1. Allegro": 2}
    assert f"{root}/train_labels/2.csv:3: end_time: 'soon' is not an integer" in out
    assert f"{root}/test_labels/3.csv:2 [musicnet:3:1]: end: the time range ends at 3 s" in out


def test_manifest_bad_rows(importer: Importer, user: str, tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d", "f"):
        soundfile.write(tmp_path / f"{name}.wav", tone(1.0, 8000), 8000)
    rows = [
        "file_name,license,start_seconds,end_seconds,tags",
        "a.wav,CC0,0,0.5,hit",
        "b.wav,GPL,,,",
        "c.wav,CC0,0.5,1.5,late",
        "d.wav,CC0,0,0.5,x,surplus",
        "e.wav,CC0,,,",
        "f.wav,CC0,0,0.5,fine",
        "f.wav,CC0,0.5,soon,bad",
    ]
    manifest = tmp_path / "sounds.csv"
    manifest.write_text("\n".join(rows) + "\n")
    code, out = importer("manifest", str(manifest), "--user", user, "--on-error", "skip")
    assert code == 1, out
    assert _titles(importer, user) == {"a": 1}
    assert f"{manifest}:3: license: unknown licence 'GPL'" in out
    assert f"{manifest}:4 [manifest:c.wav:1]: end: the time range ends at 1.5 s" in out
    assert f"{manifest}:5: more columns in this row than in the header" in out
    assert f"{manifest}:6 [manifest:e.wav]: audio: no audio file {tmp_path}/e.wav" in out
    # f.wav's first segment is fine, its second is not: nothing of f.wav is written.
    assert f"{manifest}:8 [manifest:f.wav:2]: end_seconds: 'soon' is not a number" in out
    assert "Traceback" not in out


def test_dry_run_writes_nothing(importer: Importer, user: str, tmp_path: Path) -> None:
    split = nsynth(tmp_path / "split", [example("bass", 1, 40, 50), example("bass", 1, 41, 50)])
    code, out = importer("nsynth", str(split), "--user", user, "--dry-run")
    assert code == 0, out
    assert "would create nsynth:bass_acoustic_001-040-050" in out
    assert "would create up to 2 sounds and 2 annotations" in out
    assert importer.sounds(user) == []
    assert json.loads((split / "examples.json").read_text())  # untouched
