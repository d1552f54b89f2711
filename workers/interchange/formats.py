"""The label formats by name (`jams`, `audacity`, `labelstudio`, `csv`): their readers,
writers, file extensions and media types, and how a file's format is guessed."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from workers.interchange import audacity, jams_format, labelstudio, sonic_visualiser
from workers.interchange.model import Label, LabelFileError, SoundInfo


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    extension: str
    media_type: str
    read: Callable[[bytes], list[Label]]
    write: Callable[[SoundInfo, Sequence[Label]], str]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jams", "jams", jams_format.MEDIA_TYPE, jams_format.read, jams_format.write),
        Format("audacity", "txt", audacity.MEDIA_TYPE, audacity.read, audacity.write),
        Format("labelstudio", "json", labelstudio.MEDIA_TYPE, labelstudio.read, labelstudio.write),
        Format(
            "csv", "csv", sonic_visualiser.MEDIA_TYPE, sonic_visualiser.read, sonic_visualiser.write
        ),
    )
}
BY_EXTENSION = {f.extension: f for f in FORMATS.values()} | {"jamz": FORMATS["jams"]}


def guess(path: str, data: bytes) -> Format:
    """The format of a file, from its extension, else from its content."""
    extension = PurePath(path).suffix.lower().lstrip(".")
    if extension in ("jams", "jamz", "csv"):
        return BY_EXTENSION[extension]
    head = data[:2]
    if head == jams_format.GZIP_MAGIC:
        return FORMATS["jams"]
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return _json_format(data)
    if extension == "txt":
        return FORMATS["audacity"]
    first = text.split(b"\n", 1)[0]
    if b"\t" in first:
        return FORMATS["audacity"]
    if b"," in first:
        return FORMATS["csv"]
    raise LabelFileError("", "cannot tell the format: pass --format jams|audacity|labelstudio|csv")


def _json_format(data: bytes) -> Format:
    """JAMS is an object with `annotations` and `file_metadata`; Label Studio a task list
    (or one task). Invalid JSON goes to Label Studio's reader, which names the line."""
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return FORMATS["labelstudio"]
    if isinstance(parsed, dict) and ("file_metadata" in parsed or "annotations" in parsed):
        if "data" not in parsed:
            return FORMATS["jams"]
    return FORMATS["labelstudio"]
