"""Manifest rows (CSV, TSV, JSON, JSONL, or a folder's metadata.csv/jsonl) into sounds.

A row names its audio by `audio_url`, or by `file_name` (relative to `--base-url` or to the
manifest's own directory). A row without `start_seconds` describes the sound (title, license,
tags, info_url, duration_seconds, metadata); a row with it is also a segment of that sound
(its tags, metadata, `end_seconds` or `duration_seconds`). JSON rows may list segments inline
under `annotations`. Columns not named here go into the metadata. Times are in `--time-unit`.
Rows are grouped by audio: a bad row makes its whole sound bad (nothing of it is written).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from workers.datasets.items import (
    Audio,
    BadInput,
    Segment,
    SoundItem,
    clean_tags,
    parse_license,
    stable_key,
)

SOUND_COLUMNS = {"audio_url", "file_name", "key", "title", "license", "tags", "info_url"}
TIME_COLUMNS = {"start_seconds", "end_seconds", "duration_seconds"}
OTHER_COLUMNS = {"metadata", "annotations", "data_url"}
UNITS = {"seconds": 1.0, "ms": 1000.0}


@dataclass(frozen=True)
class RowOptions:
    """How to read rows: where `file_name`s are, the time unit, the default licence."""

    file: Path | str  # named in errors
    base_url: str | None = None  # file_name relative to this URL...
    base_dir: Path | None = None  # ...or to this directory
    time_unit: str = "seconds"
    sample_rate: int | None = None
    license: str | None = None
    prefix: str = "manifest"  # of the keys


@dataclass
class Group:
    """The rows of one sound, in order; `error` is the first thing wrong with them."""

    ref: str
    line: int | None
    fields: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    segments: list[tuple[int | None, dict[str, Any]]] = field(default_factory=list)
    error: BadInput | None = None


def seconds(value: Any, column: str, options: RowOptions, line: int | None, key: str) -> float:
    """A time value in the chosen unit, as seconds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise BadInput(
            f"{value!r} is not a number", file=options.file, line=line, key=key, field=column
        )
    if options.time_unit == "samples":
        assert options.sample_rate
        return number / options.sample_rate
    return number / UNITS[options.time_unit]


def tag_list(value: Any, options: RowOptions, line: int | None, key: str) -> list[str]:
    """`a|b|c`, a JSON array in a string, or a list."""
    if value is None or value == "":
        return []
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BadInput(
                "not a JSON array", file=options.file, line=line, key=key, field="tags"
            ) from None
    if isinstance(value, str):
        value = value.split("|")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadInput(
            "must be text separated by | or a list of strings",
            file=options.file,
            line=line,
            key=key,
            field="tags",
        )
    return clean_tags(value, file=options.file, line=line, key=key)


def json_object(value: Any, options: RowOptions, line: int | None, key: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"not JSON: {exc.msg}", file=options.file, line=line, key=key, field="metadata"
            ) from None
    if not isinstance(value, dict):
        raise BadInput(
            "must be a JSON object", file=options.file, line=line, key=key, field="metadata"
        )
    return value


def group_rows(
    rows: Iterable[tuple[int | None, Any]], options: RowOptions
) -> Iterator[Group | BadInput]:
    """Rows gathered by audio (first appearance order); rows without audio are BadInput."""
    groups: dict[str, Group] = {}
    for line, row in rows:
        if isinstance(row, BadInput):
            yield row
            continue
        if not isinstance(row, dict):
            yield BadInput("a row must be an object", file=options.file, line=line)
            continue
        row = {str(k).strip(): v for k, v in row.items() if v is not None and v != ""}
        ref = row.get("audio_url") or row.get("file_name")
        if not isinstance(ref, str) or not ref.strip():
            yield BadInput(
                "a row needs audio_url or file_name",
                file=options.file,
                line=line,
                field="audio_url",
            )
            continue
        group = groups.setdefault(ref, Group(ref=ref, line=line))
        if group.error is None:
            try:
                _add(group, line, row, options)
            except BadInput as exc:
                group.error = exc
    yield from groups.values()


def _add(group: Group, line: int | None, row: dict[str, Any], options: RowOptions) -> None:
    key = group.ref
    extra = {k: v for k, v in row.items() if k not in SOUND_COLUMNS | TIME_COLUMNS | OTHER_COLUMNS}
    is_segment = "start_seconds" in row
    for column in SOUND_COLUMNS:
        if column in row and column != "tags":
            group.fields.setdefault(column, row[column])
    if not is_segment:
        if "tags" in row:
            group.fields.setdefault("tags", tag_list(row["tags"], options, line, key))
        if "duration_seconds" in row:
            group.fields.setdefault(
                "duration", seconds(row["duration_seconds"], "duration_seconds", options, line, key)
            )
        group.metadata.update(json_object(row.get("metadata"), options, line, key) | extra)
    else:
        segment: dict[str, Any] = {
            k: row[k]
            for k in (
                "start_seconds",
                "end_seconds",
                "duration_seconds",
                "tags",
                "metadata",
                "data_url",
            )
            if k in row
        }
        segment["extra"] = extra
        group.segments.append((line, segment))
    inline = row.get("annotations")
    if inline is not None:
        if not isinstance(inline, list):
            raise BadInput(
                "must be a list of segments",
                file=options.file,
                line=line,
                key=key,
                field="annotations",
            )
        group.segments.extend((line, s) for s in inline)


def _segment(
    number: int, line: int | None, raw: Any, sound_key: str, options: RowOptions
) -> Segment:
    key = stable_key(sound_key, str(number))
    if not isinstance(raw, dict) or "start_seconds" not in raw:
        raise BadInput(
            "a segment needs start_seconds",
            file=options.file,
            line=line,
            key=key,
            field="start_seconds",
        )
    start = seconds(raw["start_seconds"], "start_seconds", options, line, key)
    if "end_seconds" in raw:
        end = seconds(raw["end_seconds"], "end_seconds", options, line, key)
    elif "duration_seconds" in raw:
        end = start + seconds(raw["duration_seconds"], "duration_seconds", options, line, key)
    else:
        raise BadInput(
            "a segment needs end_seconds or duration_seconds",
            file=options.file,
            line=line,
            key=key,
            field="end_seconds",
        )
    metadata = json_object(raw.get("metadata"), options, line, key) | dict(raw.get("extra") or {})
    tags = tag_list(raw.get("tags"), options, line, key)
    data_url = raw.get("data_url")
    if not tags and not metadata and not data_url:
        raise BadInput(
            "a segment needs tags, metadata or data_url",
            file=options.file,
            line=line,
            key=key,
            field="tags",
        )
    return Segment(
        key=key,
        start=start,
        end=end,
        tags=tags,
        metadata=metadata or None,
        data_url=data_url,
        file=str(options.file),
        line=line,
    )


def audio_of(ref: str, fields: dict[str, Any], options: RowOptions, line: int | None) -> Audio:
    if "audio_url" in fields:
        url = str(fields["audio_url"]).strip()
        if not url.startswith(("http://", "https://")):
            raise BadInput(
                "must be an http(s) URL", file=options.file, line=line, key=ref, field="audio_url"
            )
        return Audio(url=url)
    name = PurePosixPath(str(fields["file_name"]).strip())
    if name.is_absolute() or ".." in name.parts:
        raise BadInput(
            "must be a relative path inside the collection",
            file=options.file,
            line=line,
            key=ref,
            field="file_name",
        )
    if options.base_url:
        return Audio(url=f"{options.base_url.rstrip('/')}/{quote(name.as_posix())}")
    base = options.base_dir or Path(".")
    return Audio(path=base / name, relative=name.as_posix())


def to_item(group: Group, options: RowOptions, *, tags: list[str] | None = None) -> SoundItem:
    """A group's sound; `tags` (e.g. a folder's sub-folder names) come first."""
    if group.error is not None:
        raise group.error
    fields, line, ref = group.fields, group.line, group.ref
    sound_key = str(fields.get("key") or stable_key(options.prefix, ref))
    licence = fields.get("license") or options.license
    if not licence:
        raise BadInput(
            "no licence: add a license column or pass --license",
            file=options.file,
            line=line,
            key=ref,
            field="license",
        )
    segments = [
        _segment(n, seg_line, raw, sound_key, options)
        for n, (seg_line, raw) in enumerate(group.segments, start=1)
    ]
    name = PurePosixPath(ref.split("?")[0]).name
    return SoundItem(
        key=sound_key,
        title=str(fields.get("title") or PurePosixPath(name).stem or ref),
        audio=audio_of(ref, fields, options, line),
        license=parse_license(str(licence), file=options.file, line=line),
        tags=list(tags or []) + [t for t in fields.get("tags", []) if t not in (tags or [])],
        info_url=fields.get("info_url"),
        metadata=group.metadata or None,
        duration=fields.get("duration"),
        segments=segments,
        source=f"{options.file}:{line}" if line is not None else str(options.file),
    )
