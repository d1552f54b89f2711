"""The `/files` mount (`api.files`): whole small files in one read, larger ones streamed, and
everything StaticFiles answers (Range, HEAD, 304, 404) the same either way."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from api import files
from api.settings import Settings


def _put(settings: Settings, size: int) -> tuple[str, bytes]:
    """A file of `size` bytes under the data directory's files; its path below /files."""
    name = f"test-files/{uuid.uuid4()}.bin"
    path = Path(settings.data_dir) / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bytes(i * 7 % 251 for i in range(size))
    path.write_bytes(data)
    return name, data


@pytest.mark.parametrize("whole", [True, False], ids=["read-whole", "streamed"])
async def test_files_are_served_alike_whole_or_streamed(
    http: httpx.AsyncClient,
    api_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    whole: bool,
) -> None:
    size = 3 * files.CHUNK_BYTES // 2  # one full chunk and a half when streamed
    monkeypatch.setattr(files, "WHOLE_FILE_BYTES", size if whole else size - 1)
    reads: list[int] = []
    read = files._read
    monkeypatch.setattr(
        files, "_read", lambda path, length: reads.append(length) or read(path, length)
    )
    name, data = _put(settings, size)
    url = f"{api_url}/files/{name}"

    got = await http.get(url)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-length"] == str(size)
    assert got.headers["accept-ranges"] == "bytes" and got.headers["etag"]

    part = await http.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"

    head = await http.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size)

    again = await http.get(url, headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304 and again.content == b""

    assert (await http.get(f"{api_url}/files/test-files/missing.bin")).status_code == 404
    assert reads == ([size] if whole else []), "only a whole GET is read in one piece"


async def test_an_empty_file_is_an_empty_body(
    http: httpx.AsyncClient, api_url: str, settings: Settings
) -> None:
    name, _ = _put(settings, 0)
    got = await http.get(f"{api_url}/files/{name}")
    assert got.status_code == 200 and got.content == b""
    assert got.headers["content-length"] == "0"
