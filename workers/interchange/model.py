"""What every label format reads into and writes from: `Label` (one segment or instant with
tags and data), `SoundInfo` (the sound a file describes) and `LabelFileError` (bad input,
naming the line or element and the field).

Cochlea annotations always last a little: an instant (an Audacity point label, a JAMS onset of
duration 0, a Sonic Visualiser instant) is stored as `POINT_SECONDS` long with
`metadata.point = true`, so that every writer gives it back as an instant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

POINT_SECONDS = 0.001
MAX_TAG_LENGTH = 64  # as the API's validation
MAX_TAGS = 64
TAG_SEPARATOR = ";"  # single-string labels (Audacity, Sonic Visualiser) hold tags joined by it


class LabelFileError(ValueError):
    """Bad input in a label file: `where` (line or element) and `field` say what to fix."""

    def __init__(self, where: str, message: str, *, field: str | None = None) -> None:
        self.where = where
        self.field = field
        self.detail = message
        place = f"{where}, {field}" if field else where
        super().__init__(f"{place}: {message}" if place else message)


@dataclass(frozen=True, slots=True)
class SoundInfo:
    """The sound a label file belongs to (what writers put in headers and identifiers)."""

    id: str
    title: str
    audio_url: str
    duration_seconds: float
    license: str | None = None
    info_url: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Label:
    """One segment [start, end) or instant (`point`, start == end) with tags and data.

    `created_by` is the creator's name on export (writers group by it); `where` is where a
    reader found the label, for error messages.
    """

    start: float
    end: float
    tags: tuple[str, ...] = ()
    data_url: str | None = None
    metadata: Mapping[str, Any] | None = None
    point: bool = False
    created_by: str | None = None
    where: str = ""

    @property
    def text(self) -> str | None:
        """Free text (a Label Studio textarea, a label too long to be tags), if any."""
        value = (self.metadata or {}).get("text")
        return value if isinstance(value, str) else None


def from_annotation(
    *,
    start: float,
    duration: float,
    tags: Sequence[str],
    data_url: str | None,
    metadata: Mapping[str, Any] | None,
    created_by: str | None = None,
) -> Label:
    """A stored annotation as a `Label` (an instant stored by an import becomes one again)."""
    meta = dict(metadata) if metadata else {}
    point = meta.get("point") is True and duration <= POINT_SECONDS + 1e-9
    if point:
        del meta["point"]
    return Label(
        start=start,
        end=start if point else start + duration,
        tags=tuple(tags),
        data_url=data_url,
        metadata=meta or None,
        point=point,
        created_by=created_by,
    )


def to_annotation_input(label: Label, *, sound: str, key: str) -> dict[str, Any]:
    """The GraphQL `AnnotationInput` for `label` on `sound`."""
    meta = dict(label.metadata or {})
    if label.point:
        meta["point"] = True
    return {
        "key": key,
        "sound": sound,
        "startSeconds": label.start,
        "durationSeconds": POINT_SECONDS if label.point else label.end - label.start,
        "tags": list(label.tags),
        "dataUrl": label.data_url,
        "metadata": meta or None,
    }


def seconds(text: str, *, where: str, field: str) -> float:
    """A finite, non-negative number of seconds from `text`."""
    try:
        value = float(text.strip())
    except ValueError:
        raise LabelFileError(where, f"{text.strip()!r} is not a number", field=field) from None
    return check_seconds(value, where=where, field=field)


def check_seconds(value: Any, *, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabelFileError(where, f"{value!r} is not a number", field=field)
    if not math.isfinite(value):
        raise LabelFileError(where, f"{value} is not a finite number", field=field)
    if value < 0:
        raise LabelFileError(where, f"{value:g} is negative", field=field)
    return float(value)


def segment(start: float, end: float, *, where: str) -> tuple[float, float, bool]:
    """(start, end, point) after checking that the segment does not end before it starts."""
    if end < start:
        raise LabelFileError(where, f"start {start:g} s is after end {end:g} s")
    return start, end, end == start


def split_label(text: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Tags from a single-string label (`a; b` is two tags), or, when the text cannot be tags
    (too long, too many), no tags and the text kept as `metadata.text`."""
    pieces = [p.strip() for p in text.split(TAG_SEPARATOR)]
    pieces = [p for p in pieces if p]
    if pieces and len(pieces) <= MAX_TAGS and all(len(p) <= MAX_TAG_LENGTH for p in pieces):
        return tuple(pieces), {}
    stripped = text.strip()
    return (), ({"text": stripped} if stripped else {})


def label_text(label: Label) -> str:
    """The single string a label-per-line format writes: the tags joined, else the text."""
    if label.tags:
        return f"{TAG_SEPARATOR} ".join(label.tags)
    return label.text or ""


def fmt_seconds(value: float) -> str:
    """Seconds with six decimals: to the microsecond, as Audacity writes them."""
    return f"{value:.6f}"


def micro(value: float) -> float:
    """`value` rounded to the microsecond (what JSON formats write)."""
    return float(round(value, 6))


def check_tags(tags: Sequence[str], *, where: str, field: str = "label") -> None:
    """The API's tag rules, checked here so that the error can name the line."""
    if len(tags) > MAX_TAGS:
        raise LabelFileError(where, f"at most {MAX_TAGS} tags per annotation", field=field)
    for tag in tags:
        if len(tag.strip()) > MAX_TAG_LENGTH:
            raise LabelFileError(
                where, f"tag {tag[:20]!r}... is over {MAX_TAG_LENGTH} characters", field=field
            )


def decode_text(data: bytes, *, name: str = "the file") -> str:
    """UTF-8 text (a BOM is dropped); an error names the byte offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LabelFileError(
            f"byte {error.start}", f"{name} is not UTF-8 text ({error.reason})"
        ) from None
