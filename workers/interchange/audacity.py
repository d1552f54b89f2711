"""Audacity label tracks: UTF-8 text, one `start<TAB>end<TAB>label` line per label, seconds
with six decimals; start == end is a point label. The extended style follows a label with a
frequency line `\\<TAB>low<TAB>high` (Hz, -1 for undefined), read into `metadata.lowHz` and
`metadata.highHz` (null when undefined) and written back from them.

Tags are the label split on `;`; a label that cannot be tags (a sentence over 64 characters)
is kept as `metadata.text`. Annotations with neither tags nor text have no label to show and
are left out of the file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from workers.interchange.model import (
    Label,
    LabelFileError,
    SoundInfo,
    check_tags,
    decode_text,
    fmt_seconds,
    label_text,
    seconds,
    segment,
    split_label,
)

EXTENSION = "txt"
MEDIA_TYPE = "text/plain; charset=utf-8"
UNDEFINED_HZ = -1.0


def read(data: bytes) -> list[Label]:
    """The labels of an Audacity label file; `LabelFileError` names the line and field."""
    labels: list[Label] = []
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        where = f"line {number}"
        if not line.strip():
            continue
        if line.startswith("\\"):
            if not labels:
                raise LabelFileError(where, "a frequency line (`\\`) must follow a label line")
            labels[-1] = _with_frequencies(labels[-1], line, where)
            continue
        labels.append(_label(line, where))
    return labels


def _label(line: str, where: str) -> Label:
    fields = line.split("\t", 2)
    if len(fields) < 2:
        found = "commas" if "," in line else "spaces" if " " in line else "no tab"
        raise LabelFileError(
            where, f"expected `start<TAB>end<TAB>label` (tab-separated), found {found}"
        )
    start = seconds(fields[0], where=where, field="start")
    end = seconds(fields[1], where=where, field="end")
    start, end, point = segment(start, end, where=where)
    text = fields[2] if len(fields) == 3 else ""
    tags, metadata = split_label(text)
    if not tags and not metadata:
        raise LabelFileError(
            where, "the label is empty: name it (Cochlea annotations need a tag)", field="label"
        )
    check_tags(tags, where=where)
    return Label(
        start=start, end=end, tags=tags, metadata=metadata or None, point=point, where=where
    )


def _with_frequencies(label: Label, line: str, where: str) -> Label:
    fields = line.split("\t")
    if fields[0] != "\\" or len(fields) != 3:
        raise LabelFileError(where, "expected a frequency line `\\<TAB>low<TAB>high`")
    found: dict[str, Any] = {}
    for name, text in (("low", fields[1]), ("high", fields[2])):
        try:
            value = float(text)
        except ValueError:
            raise LabelFileError(where, f"{text!r} is not a number", field=name) from None
        if not math.isfinite(value) or (value < 0 and value != UNDEFINED_HZ):
            raise LabelFileError(where, f"{text} is not a frequency (Hz, or -1)", field=name)
        found[f"{name}Hz"] = None if value == UNDEFINED_HZ else value
    metadata = dict(label.metadata or {}) | found
    return Label(
        start=label.start,
        end=label.end,
        tags=label.tags,
        metadata=metadata,
        point=label.point,
        where=label.where,
    )


def write(sound: SoundInfo, labels: Sequence[Label]) -> str:
    """An Audacity label file of `labels` (in time order), frequency lines where known."""
    lines = []
    for label in sorted(labels, key=lambda x: (x.start, x.end)):
        text = label_text(label).replace("\t", " ").replace("\n", " ").replace("\r", " ")
        if not text:
            continue
        end = label.start if label.point else label.end
        lines.append(f"{fmt_seconds(label.start)}\t{fmt_seconds(end)}\t{text}")
        meta = label.metadata or {}
        if "lowHz" in meta or "highHz" in meta:
            low, high = (_hz(meta.get(k)) for k in ("lowHz", "highHz"))
            lines.append(f"\\\t{low}\t{high}")
    return "".join(f"{line}\n" for line in lines)


def _hz(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return fmt_seconds(float(value))
    return fmt_seconds(UNDEFINED_HZ)
