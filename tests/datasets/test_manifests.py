"""Manifests in each format (CSV, TSV, JSON, JSONL) and time unit, audio named by URL on a
Range-capable server (durations read from headers with ranged GETs) or by file name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile

from tests.datasets.conftest import Importer
from tests.datasets.formats import example, nsynth, tone
from tests.workers.audio_server import AudioServer

SCALE = {"seconds": 1.0, "ms": 1000.0, "samples": 8000.0}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[AudioServer]:
    """A server over `tmp_path/www`: a 10 s WAV and a 3 s FLAC."""
    www = tmp_path / "www"
    www.mkdir()
    soundfile.write(www / "long.wav", tone(10.0, 8000), 8000, subtype="PCM_16")
    soundfile.write(www / "short.flac", tone(3.0, 8000), 8000, subtype="PCM_16")
    with AudioServer(root=www) as server:
        yield server


def _rows(server: AudioServer, unit: str, by_name: bool) -> list[dict[str, object]]:
    """Two sounds (with the first's metadata), a segment of each; `by_name`: named by
    `file_name` (relative to --base-url) instead of `audio_url`."""
    k = SCALE[unit]
    long, short = server.url("/long.wav"), server.url("/short.flac")
    if by_name:
        rows = _rows(server, unit, False)
        for row in rows:
            row["file_name"] = str(row.pop("audio_url")).rsplit("/", 1)[1]
        return rows
    return [
        {"audio_url": long, "title": "Long tone", "license": "CC-BY-4.0", "tags": "tone|long",
         "info_url": "https://example.org/long", "recorded": "2024"},
        {"audio_url": long, "start_seconds": 1.5 * k, "end_seconds": 2.5 * k, "tags": "a|b"},
        {"audio_url": short, "license": "CC0", "start_seconds": 0.0, "duration_seconds": 3.0 * k,
         "tags": "whole", "metadata": json.dumps({"confidence": 0.5})},
    ]  # fmt: skip


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    if path.suffix in (".csv", ".tsv"):
        sep = "\t" if path.suffix == ".tsv" else ","
        columns = list(dict.fromkeys(c for r in rows for c in r))
        lines = [sep.join(columns)]
        lines += [sep.join(_cell(r.get(c, ""), sep) for c in columns) for r in rows]
        path.write_text("\n".join(lines) + "\n")
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _cell(value: object, sep: str) -> str:
    text = str(value)
    return (
        '"' + text.replace('"', '""') + '"' if sep == "," and ('"' in text or "," in text) else text
    )


@pytest.mark.parametrize(
    ("suffix", "unit"),
    [(".csv", "seconds"), (".tsv", "ms"), (".json", "samples"), (".jsonl", "seconds")],
)
def test_manifest_formats_and_units(
    importer: Importer, user: str, tmp_path: Path, served: AudioServer, suffix: str, unit: str
) -> None:
    manifest = tmp_path / f"list{suffix}"
    by_name = suffix == ".jsonl"
    _write(manifest, _rows(served, unit, by_name))
    extra = ["--sample-rate", "8000"] if unit == "samples" else []
    extra += ["--base-url", served.url("/")] if by_name else []
    code, out = importer("manifest", str(manifest), "--user", user, "--time-unit", unit, *extra)
    assert code == 0, out
    long, short = sorted(importer.sounds(user), key=lambda s: s["title"])
    assert (long["title"], long["license"], long["tags"]) == (
        "Long tone",
        "CC_BY",
        ["tone", "long"],
    )
    assert long["durationSeconds"] == pytest.approx(10.0)
    assert long["infoUrl"] == "https://example.org/long"
    assert long["metadata"] == {"recorded": "2024"}
    (segment,) = [e["node"] for e in long["annotations"]["edges"]]
    assert (segment["startSeconds"], segment["endSeconds"]) == (
        pytest.approx(1.5),
        pytest.approx(2.5),
    )
    assert segment["tags"] == ["a", "b"]
    assert (short["title"], short["license"], short["durationSeconds"]) == (
        "short",
        "CC0",
        pytest.approx(3.0),
    )
    whole = short["annotations"]["edges"][0]["node"]
    assert whole["metadata"] == {"confidence": 0.5} and whole["endSeconds"] == pytest.approx(3.0)
    # The durations came from the headers: every GET was a ranged one of 64 KiB at most.
    gets = [r for r in served.received if r.method == "GET"]
    assert gets and all(r.headers.get("Range", "").startswith("bytes=") for r in gets)


def test_file_names_and_audio_base_url(importer: Importer, user: str, tmp_path: Path) -> None:
    """Local files with --audio-base-url: headers read from disk, sounds point at the host."""
    split = nsynth(tmp_path / "split", [example("mallet", 3, 72, 50)])
    with AudioServer(root=split) as server:
        base = server.url("/")
        code, out = importer("nsynth", str(split), "--user", user, "--audio-base-url", base)
        assert code == 0, out
        (sound,) = importer.sounds(user)
        assert sound["audioUrl"] == server.url("/audio/mallet_acoustic_003-072-050.wav")
        assert server.request_count == 0  # the header was read from disk
