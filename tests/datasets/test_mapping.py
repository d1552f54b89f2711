"""The mapping rules: note names, General MIDI numbering, MusicNet's sample-index times, and
what an NSynth note or a MusicNet recording becomes, read back through GraphQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.datasets.conftest import Importer
from tests.datasets.formats import example, musicnet, nsynth
from workers.datasets.items import BadInput, parse_license
from workers.datasets.midi import note_name, program_name


def test_note_names_are_scientific_pitch() -> None:
    assert [note_name(p) for p in (60, 69, 21, 108, 61, 59, 0)] == [
        "C4", "A4", "A0", "C8", "C#4", "B3", "C-1",
    ]  # fmt: skip


def test_general_midi_programs_are_one_based() -> None:
    named = {p: program_name(p) for p in (1, 7, 41, 42, 43, 44, 61, 69, 71, 72, 74)}
    assert named == {
        1: "piano", 7: "harpsichord", 41: "violin", 42: "viola", 43: "cello",
        44: "contrabass", 61: "horn", 69: "oboe", 71: "bassoon", 72: "clarinet", 74: "flute",
    }  # fmt: skip
    with pytest.raises(ValueError):
        program_name(0)


@pytest.mark.parametrize(
    ("given", "enum"),
    [("CC_BY", "CC_BY"), ("cc-by-4.0", "CC_BY"), ("CC0", "CC0"), ("CC-BY-NC-SA-4.0", "CC_BY_NC_SA"),
     ("https://creativecommons.org/licenses/by-nd/4.0/", "CC_BY_ND"),
     ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0"), ("by-nc", "CC_BY_NC")],
)  # fmt: skip
def test_licences(given: str, enum: str) -> None:
    assert parse_license(given, file="m.csv") == enum


@pytest.mark.parametrize("given", ["GPL", "https://creativecommons.org/licenses/by/3.0/"])
def test_unknown_licences_name_the_field(given: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_license(given, file="m.csv", line=3)
    assert caught.value.describe().startswith("m.csv:3: license: ")


def test_nsynth_note(importer: Importer, user: str, tmp_path: Path) -> None:
    notes = [example("guitar", 7, 60, 25), example("guitar", 7, 69, 127, qualities_str=[])]
    split = nsynth(tmp_path / "nsynth-test", notes)
    code, out = importer("nsynth", str(split), "--user", user, "--tag", "test")
    assert code == 0, out
    assert "created 2 sounds and 2 annotations" in out
    by_title = {s["title"]: s for s in importer.sounds(user)}
    c4 = by_title["guitar_acoustic_007-060-025"]
    assert c4["license"] == "CC_BY" and c4["tags"] == ["test"]
    assert c4["durationSeconds"] == pytest.approx(0.25)
    assert c4["metadata"] == {
        "pitch": 60, "velocity": 25, "instrument": "guitar_acoustic_007",
        "instrumentFamily": "guitar", "instrumentSource": "acoustic",
        "qualities": ["bright", "reverb"], "sampleRate": 16000,
    }  # fmt: skip
    (note,) = [e["node"] for e in c4["annotations"]["edges"]]
    assert (note["startSeconds"], note["endSeconds"]) == (0.0, pytest.approx(0.25))
    assert note["tags"] == ["guitar", "acoustic", "bright", "reverb", "C4", "velocity:25"]
    a4 = by_title["guitar_acoustic_007-069-127"]["annotations"]["edges"][0]["node"]
    assert a4["tags"] == ["guitar", "acoustic", "A4", "velocity:127"]


def test_musicnet_recording(importer: Importer, user: str, tmp_path: Path) -> None:
    rows = [
        [0, 44100, 41, 60, 0.0, 1.0, "Quarter"],
        [22050, 66150, 1, 69, 0.5, 1.0, "Quarter"],
        [44100, 88200, 74, 81, 1.0, 0.875, "Dotted Half"],
    ]
    root = musicnet(tmp_path / "musicnet", {"2106": ("test", 2.0, rows)})
    code, out = importer("musicnet", str(root), "--user", user)
    assert code == 0, out
    (sound,) = importer.sounds(user)
    assert sound["title"] == "String Quartet No 2106 — 1. Allegro"
    assert sound["license"] == "CC_BY" and sound["tags"] == ["test"]
    assert sound["metadata"]["composer"] == "Mozart"
    found = [e["node"] for e in sound["annotations"]["edges"]]
    whole, *notes = found
    assert whole["tags"] == ["Mozart", "String Quartet", "test"]
    assert whole["endSeconds"] == pytest.approx(2.0)
    assert [(n["startSeconds"], n["endSeconds"], n["tags"]) for n in notes] == [
        (0.0, 1.0, ["violin", "C4"]), (0.5, 1.5, ["piano", "A4"]), (1.0, 2.0, ["flute", "A5"]),
    ]  # fmt: skip
    assert notes[2]["metadata"] == {
        "midiPitch": 81, "instrumentProgram": 74, "startBeat": 1.0, "endBeat": 0.875,
        "noteValue": "Dotted Half",
    }  # fmt: skip


def test_sound_metadata_is_a_checked_json_object(importer: Importer, user: str) -> None:
    """What the importers rely on: `SoundInput.metadata` round-trips, is refused (by index and
    field, nothing written) when not a JSON object, and `created` counts the new sounds."""
    url = importer.api_url + "/graphql"
    signup = """mutation($n: String!) { createUser(input: {name: $n, type: DATASET,
      aboutMe: "metadata test"}) { apiKey } }"""
    body = {"query": signup, "variables": {"n": user}}
    key = httpx.post(url, json=body).json()["data"]["createUser"]["apiKey"]
    create = """mutation($input: [SoundInput!]!) { createSounds(input: $input) {
      sounds { metadata } created userErrors { index field code } } }"""
    sound = {"key": "s1", "title": "t", "audioUrl": "https://a.example.org/1.wav",
             "license": "CC0", "durationSeconds": 1.0}  # fmt: skip

    def send(*inputs: dict[str, object]) -> dict[str, object]:
        headers = {"authorization": f"Bearer {key}"}
        answer = httpx.post(url, json={"query": create, "variables": {"input": list(inputs)}},
                            headers=headers).json()  # fmt: skip
        return answer["data"]["createSounds"]  # type: ignore[no-any-return]

    refused = send(sound | {"key": "s0", "audioUrl": "https://a.example.org/0.wav"},
                   sound | {"metadata": [1, 2]})  # fmt: skip
    assert refused == {"sounds": [], "created": 0,
                       "userErrors": [{"index": 1, "field": "metadata", "code": "INVALID_METADATA"}]}  # fmt: skip
    made = send(sound | {"metadata": {"pitch": 60, "tags": ["a"]}})
    assert made == {
        "sounds": [{"metadata": {"pitch": 60, "tags": ["a"]}}],
        "created": 1,
        "userErrors": [],
    }
    again = send(sound | {"metadata": {"pitch": 60, "tags": ["a"]}})
    assert again["created"] == 0 and again["sounds"] == made["sounds"]
