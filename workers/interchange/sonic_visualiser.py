"""Sonic Visualiser layer exports and Sonic Annotator CSV: comma-separated rows of
`time[,value][,duration],label` in seconds.

Without a header row the column count says the layer: 2 `time,label` (instants), 3
`time,value,label` (time-values), 4 `time,value,duration,label` (regions), 5 adds `level`
before the label (notes). An optional header row of column names (`TIME`, `VALUE`, `DURATION`,
`END`, `LEVEL`, `URI`, `LABEL`, any case and order) says it instead; the writer always writes
one. `value` and `level` go to `metadata.value` and `metadata.level`, `URI` is the `dataUrl`;
no duration, or a duration of 0, is an instant. Tags are the label split on `;`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from workers.interchange.model import (
    Label,
    LabelFileError,
    SoundInfo,
    check_seconds,
    check_tags,
    decode_text,
    fmt_seconds,
    label_text,
    seconds,
    segment,
    split_label,
)

EXTENSION = "csv"
MEDIA_TYPE = "text/csv; charset=utf-8"
COLUMNS = ("TIME", "VALUE", "DURATION", "END", "LEVEL", "URI", "LABEL")
BY_COUNT = {
    2: ("TIME", "LABEL"),
    3: ("TIME", "VALUE", "LABEL"),
    4: ("TIME", "VALUE", "DURATION", "LABEL"),
    5: ("TIME", "VALUE", "DURATION", "LEVEL", "LABEL"),
}


def read(data: bytes) -> list[Label]:
    """The labels of a CSV layer export; `LabelFileError` names the line and column."""
    rows = csv.reader(io.StringIO(decode_text(data), newline=""))
    header: tuple[str, ...] | None = None
    labels: list[Label] = []
    try:
        for row in rows:
            where = f"line {rows.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if header is None and not labels and _is_header(row):
                header = tuple(cell.strip().upper() for cell in row)
                continue
            labels.append(_row(row, header, where))
    except csv.Error as error:
        raise LabelFileError(f"line {rows.line_num}", f"malformed CSV: {error}") from None
    return labels


def _is_header(row: list[str]) -> bool:
    names = [cell.strip().upper() for cell in row]
    return "TIME" in names and all(n in COLUMNS for n in names) and len(set(names)) == len(names)


def _row(row: list[str], header: tuple[str, ...] | None, where: str) -> Label:
    if header is None:
        columns = BY_COUNT.get(len(row))
        if columns is None:
            if len(row) == 1:
                found = next((d for d in ("\t", ";", " ") if d in row[0].strip()), None)
                hint = f" (this line uses {found!r} instead of commas)" if found else ""
                raise LabelFileError(
                    where, f"expected comma-separated `time[,value][,duration],label`{hint}"
                )
            raise LabelFileError(
                where, f"{len(row)} columns: expected 2 to 5, or a header row naming them"
            )
    else:
        columns = header
        if len(row) != len(header):
            raise LabelFileError(where, f"{len(row)} columns where the header names {len(header)}")
    cells = dict(zip(columns, row, strict=True))
    start = seconds(cells["TIME"], where=where, field="time")
    metadata: dict[str, Any] = {}
    for name in ("VALUE", "LEVEL"):
        if cells.get(name, "").strip():
            metadata[name.lower()] = _number(cells[name], where=where, field=name.lower())
    end = start
    if cells.get("DURATION", "").strip():
        try:
            duration = float(cells["DURATION"])
        except ValueError:
            raise LabelFileError(
                where, f"{cells['DURATION'].strip()!r} is not a number", field="duration"
            ) from None
        if duration < 0:
            raise LabelFileError(
                where, f"{duration:g} is negative: the segment ends before it starts",
                field="duration",
            )  # fmt: skip
        end = start + check_seconds(duration, where=where, field="duration")
    elif cells.get("END", "").strip():
        end = seconds(cells["END"], where=where, field="end")
    start, end, point = segment(start, end, where=where)
    tags, text = split_label(cells.get("LABEL", ""))
    check_tags(tags, where=where)
    metadata |= text
    data_url = cells.get("URI", "").strip() or None
    if not tags and not metadata and data_url is None:
        raise LabelFileError(where, "the row has no label (Cochlea needs a tag)", field="label")
    return Label(
        start=start,
        end=end,
        tags=tags,
        data_url=data_url,
        metadata=metadata or None,
        point=point,
        where=where,
    )


def _number(text: str, *, where: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LabelFileError(where, f"{text.strip()!r} is not a number", field=field) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise LabelFileError(where, f"{text.strip()} is not a finite number", field=field)
    return value


def write(sound: SoundInfo, labels: Sequence[Label]) -> str:
    """A CSV with a header row: TIME, [VALUE], DURATION, [LEVEL], [URI], LABEL."""
    ordered = sorted(labels, key=lambda x: (x.start, x.end))
    has = {
        name: any(_numeric((x.metadata or {}).get(name.lower())) for x in ordered)
        for name in ("VALUE", "LEVEL")
    }
    columns = ["TIME"]
    columns += ["VALUE"] if has["VALUE"] else []
    columns += ["DURATION"]
    columns += ["LEVEL"] if has["LEVEL"] else []
    columns += ["URI"] if any(x.data_url for x in ordered) else []
    columns += ["LABEL"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for label in ordered:
        meta = label.metadata or {}
        cells = {
            "TIME": fmt_seconds(label.start),
            "DURATION": fmt_seconds(0.0 if label.point else label.end - label.start),
            "URI": label.data_url or "",
            "LABEL": label_text(label),
        }
        for name in ("VALUE", "LEVEL"):
            value = meta.get(name.lower())
            cells[name] = repr(float(value)) if isinstance(value, int | float) else ""
        writer.writerow([cells[c] for c in columns])
    return out.getvalue()


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
