"""What every importer yields: a sound with its segments, or the reason a source item is bad.

Each format module turns its source into `SoundItem`s (fully checked before anything is
written) or `BadInput`s naming the file, the line or key, and the field, so that the runner
can skip or stop without ever writing half an item.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_KEY_LENGTH = 256
MAX_TAG_LENGTH = 64
MAX_TAGS = 64

# The API's Creative Commons 4.0 enum; short codes and licence URLs map onto it.
LICENSES = ("CC_BY", "CC_BY_SA", "CC_BY_ND", "CC_BY_NC", "CC_BY_NC_SA", "CC_BY_NC_ND", "CC0")
_LICENSE_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?creativecommons\.org/"
    r"(?:licenses/(?P<kind>[a-z-]+)/(?P<version>[\d.]+)|publicdomain/zero/(?P<zero>[\d.]+))/?"
    r"(?:legalcode(?:\.[a-z]+)?|deed\.[a-z-]+)?$",
    re.IGNORECASE,
)


class BadInput(Exception):
    """A source item that cannot be imported: where (file, line or key) and which field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path,
        field: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = str(file)
        self.field = field
        self.line = line
        self.key = key
        self.message = message
        super().__init__(self.describe())

    def describe(self) -> str:
        """`file:line: field: message` (or `file [key]: ...`): one line for a terminal."""
        where = self.file + (f":{self.line}" if self.line is not None else "")
        if self.key is not None:
            where += f" [{self.key}]"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class Audio:
    """Where a sound's audio is: a local file (`path`, `relative` to the source root) or a URL."""

    path: Path | None = None
    relative: str | None = None
    url: str | None = None

    @property
    def shown(self) -> str:
        return str(self.path) if self.path is not None else str(self.url)


@dataclass
class Segment:
    """An annotation of the sound: [start, end) in seconds, tags and/or metadata."""

    key: str
    start: float
    end: float
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    data_url: str | None = None
    file: str = ""  # where it came from, for errors found once the duration is known
    line: int | None = None


@dataclass
class SoundItem:
    """One sound to create, with every annotation of it. `duration` may come later (header)."""

    key: str
    title: str
    audio: Audio
    license: str
    tags: list[str] = field(default_factory=list)
    info_url: str | None = None
    metadata: dict[str, Any] | None = None
    duration: float | None = None
    segments: list[Segment] = field(default_factory=list)
    whole: Segment | None = None  # an annotation spanning the whole sound (its end is unknown)
    source: str = ""  # what to name in errors: the file (and line) it came from


def stable_key(*parts: str) -> str:
    """`parts` joined with ':', shortened with a hash when over the API's 256 characters."""
    key = ":".join(parts)
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: MAX_KEY_LENGTH - 34]}:{digest}"


def parse_license(value: str, *, file: str | Path, line: int | None = None) -> str:
    """The API enum for a licence given as an enum name, a short code (CC0, CC-BY-4.0,
    by-nc-sa) or a creativecommons.org URL; only 4.0 licences and CC0 are representable."""
    raw = value.strip()
    found = _LICENSE_URL.match(raw)
    if found:
        if found["zero"]:
            return "CC0"
        if found["version"] != "4.0":
            raise BadInput(
                f"{raw!r} is version {found['version']}: Cochlea records CC 4.0 licences and CC0",
                file=file,
                line=line,
                field="license",
            )
        code = found["kind"]
    else:
        code = re.sub(r"^(cc[\s_-]*0)[\s_-]*1\.0$|[\s_-]*4\.0$", r"\1", raw, flags=re.IGNORECASE)
    code = re.sub(r"^cc[\s_-]*", "", code, flags=re.IGNORECASE).upper()
    code = re.sub(r"[\s-]+", "_", code)
    name = "CC0" if code in ("0", "ZERO") else f"CC_{code}"
    if name not in LICENSES:
        raise BadInput(
            f"unknown licence {raw!r} (use one of {', '.join(LICENSES)}, a code such as "
            "CC-BY-4.0, or a creativecommons.org 4.0 URL)",
            file=file,
            line=line,
            field="license",
        )
    return name


def end_tolerance(sound_seconds: float) -> float:
    """How far past the end a segment may reach: the API's own allowance (50 ms + 0.5 %)."""
    return 0.05 + 0.005 * sound_seconds


def check_segments(item: SoundItem) -> None:
    """Once the duration is known: every segment starts >= 0 and ends after its start, inside
    the sound (with the API's tolerance)."""
    assert item.duration is not None
    limit = item.duration + end_tolerance(item.duration)
    for s in item.segments:
        file = s.file or item.source
        if not (math.isfinite(s.start) and s.start >= 0):
            raise BadInput(
                f"starts at {s.start:g} s", file=file, line=s.line, key=s.key, field="start"
            )
        if not (math.isfinite(s.end) and s.end > s.start):
            raise BadInput(
                f"ends at {s.end:g} s, not after its start ({s.start:g} s)",
                file=file, line=s.line, key=s.key, field="end",
            )  # fmt: skip
        if s.end > limit:
            raise BadInput(
                f"the time range ends at {s.end:g} s, past the end of the sound "
                f"({item.duration:g} s)",
                file=file, line=s.line, key=s.key, field="end",
            )  # fmt: skip


def clean_tags(tags: list[str], *, file: str | Path, line: int | None, key: str) -> list[str]:
    """Tags trimmed, empty ones dropped, checked against the API's limits."""
    kept = [t.strip() for t in tags if t and t.strip()]
    for tag in kept:
        if len(tag) > MAX_TAG_LENGTH:
            raise BadInput(
                f"tag {tag[:20]!r}... is over {MAX_TAG_LENGTH} characters",
                file=file,
                line=line,
                key=key,
                field="tags",
            )
    if len(kept) > MAX_TAGS:
        raise BadInput(f"{len(kept)} tags, at most {MAX_TAGS}", file=file, key=key, field="tags")
    return kept
