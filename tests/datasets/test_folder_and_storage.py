"""`import folder` (local, and an HTTP directory listing) and where published audio lands:
the API's local store (played back with Range, 206) or the dataset user's S3 bucket."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import soundfile

from tests.datasets.conftest import Importer
from tests.datasets.formats import tone
from tests.workers.audio_server import AudioServer


def _folder(root: Path) -> Path:
    """drums/kick.wav, drums/snare.flac, speech/hello.ogg, and a metadata.csv for two."""
    for relative, fmt in (("drums/kick.wav", "WAV"), ("drums/snare.flac", "FLAC"),
                          ("speech/hello.ogg", "OGG"), ("speech/hum.mp3", "MP3")):  # fmt: skip
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / relative, tone(2.0, 16000), 16000, format=fmt)
    (root / "notes.txt").write_text("not audio")
    (root / "metadata.csv").write_text(
        "file_name,title,license,tags,start_seconds,end_seconds\n"
        "drums/kick.wav,Big kick,CC-BY-NC-4.0,909,,\n"
        "drums/kick.wav,,,hit,0.1,0.3\n"
        "speech/hello.ogg,Hello,,,,\n"
    )
    return root


def _check(sounds: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    by_title = {str(s["title"]): s for s in sounds}
    assert set(by_title) == {"Big kick", "snare", "Hello", "hum"}
    assert by_title["hum"]["durationSeconds"] == pytest.approx(2.0, abs=0.1)  # MP3: mutagen
    kick = by_title["Big kick"]
    assert (kick["license"], kick["tags"]) == ("CC_BY_NC", ["drums", "909"])
    assert by_title["snare"]["license"] == "CC0" and by_title["Hello"]["tags"] == ["speech"]
    assert by_title["Hello"]["durationSeconds"] == pytest.approx(2.0)
    (hit,) = [e["node"] for e in kick["annotations"]["edges"]]  # type: ignore[index]
    assert (hit["startSeconds"], hit["endSeconds"], hit["tags"]) == (0.1, 0.3, ["hit"])
    return by_title


def test_local_folder_published_to_the_local_store(
    importer: Importer, user: str, tmp_path: Path
) -> None:
    root = _folder(tmp_path / "samples")
    code, out = importer("folder", str(root), "--user", user, "--license", "CC0")
    assert code == 0, out
    kick = _check(importer.sounds(user))["Big kick"]
    url = str(kick["audioUrl"])
    assert url == f"{importer.api_url}/files/datasets/{user}/drums/kick.wav"
    stored = (root / "drums" / "kick.wav").read_bytes()
    ranged = httpx.get(url, headers={"Range": "bytes=0-99", "Origin": "https://x.example"})
    assert ranged.status_code == 206 and ranged.content == stored[:100]
    assert ranged.headers["content-range"] == f"bytes 0-99/{len(stored)}"
    assert ranged.headers["access-control-allow-origin"] == "*"


def _listing(*links: str) -> bytes:
    items = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    page = f'<html><body><h1>Index</h1><ul><li><a href="../">..</a></li>{items}</ul></body></html>'
    return page.encode()


def test_http_directory_listing(importer: Importer, user: str, tmp_path: Path) -> None:
    root = _folder(tmp_path / "www" / "samples")
    with AudioServer(root=tmp_path / "www") as server:
        server.add("/samples/", body=_listing("drums/", "speech/", "metadata.csv", "notes.txt"),
                   headers={"Content-Type": "text/html"})  # fmt: skip
        server.add("/samples/drums/", body=_listing("kick.wav", "snare.flac", "?C=M;O=A"),
                   headers={"Content-Type": "text/html"})  # fmt: skip
        server.add("/samples/speech/", body=_listing("hello.ogg", "hum.mp3"),
                   headers={"Content-Type": "text/html"})  # fmt: skip
        code, out = importer("folder", server.url("/samples/"), "--user", user, "--license", "CC0")
        assert code == 0, out
        by_title = _check(importer.sounds(user))
    assert by_title["snare"]["audioUrl"] == server.url("/samples/drums/snare.flac")
    assert root.is_dir()


def test_s3_publishing(
    importer: Importer, user: str, tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCHLEA_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("COCHLEA_S3_ACCESS_KEY", "testing")
    monkeypatch.setenv("COCHLEA_S3_SECRET_KEY", "testing")
    root = _folder(tmp_path / "samples")
    code, out = importer("folder", str(root), "--user", user, "--license", "CC0")
    assert code == 0, out
    kick = _check(importer.sounds(user))["Big kick"]
    assert kick["audioUrl"] == f"http://{s3_endpoint}/cochlea-{user}/drums/kick.wav"
    played = httpx.get(str(kick["audioUrl"]), headers={"Range": "bytes=0-99"})
    assert played.status_code == 206
    assert played.content == (root / "drums" / "kick.wav").read_bytes()[:100]
    assert played.headers["content-type"] == "audio/wav"
    code, out = importer("folder", str(root), "--user", user, "--license", "CC0")
    assert code == 0 and "nothing new to create: 4 sounds and 1 annotation were" in out
