"""`cochlea import manifest FILE`: a list of sounds in CSV, TSV, JSON (an array of objects),
JSONL, or plain text (one audio URL per line), told apart by the file's extension. What the
columns mean is `workers.datasets.rows`'s business."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workers.datasets.items import BadInput, SoundItem
from workers.datasets.rows import RowOptions, group_rows, to_item
from workers.datasets.run import Source

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FORMATS[".txt"] = "txt"
Row = tuple[int | None, Any]


def parse_rows(text: str, kind: str, file: Path | str) -> list[Row]:
    """`(line, row)` pairs (line None for JSON arrays); unparseable lines become `BadInput`."""
    if kind in ("csv", "tsv"):
        return _delimited(text, "\t" if kind == "tsv" else ",", file)
    if kind == "jsonl":
        rows: list[Row] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append(
                    (number, BadInput(f"malformed JSON: {exc.msg}", file=file, line=number))
                )
        return rows
    if kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"malformed JSON: {exc.msg} (column {exc.colno})", file=file, line=exc.lineno
            ) from None
        if not isinstance(data, list):
            raise BadInput("must be a JSON array of objects", file=file, line=1)
        return [(None, row) for row in data]
    lines = enumerate(text.splitlines(), start=1)
    return [(n, {"audio_url": s.strip()}) for n, s in lines if s.strip() and not s.startswith("#")]


def _delimited(text: str, delimiter: str, file: Path | str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, restkey="\0extra")
    rows: list[Row] = []
    try:
        for row in reader:
            line = reader.line_num
            if "\0extra" in row:
                rows.append(
                    (
                        line,
                        BadInput(
                            "more columns in this row than in the header",
                            file=file,
                            line=line,
                        ),
                    )
                )
            else:
                rows.append((line, row))
    except csv.Error as exc:
        raise BadInput(f"malformed CSV: {exc}", file=file, line=reader.line_num) from None
    return rows


def items_of(rows: list[Row], options: RowOptions) -> Iterator[SoundItem | BadInput]:
    for group in group_rows(rows, options):
        if isinstance(group, BadInput):
            yield group
            continue
        try:
            yield to_item(group, options)
        except BadInput as exc:
            yield exc


def source(path: Path, *, options: RowOptions) -> Source:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise BadInput(
            f"unknown manifest format {path.suffix!r} (use {', '.join(FORMATS)})", file=path
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput("no such file", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read: {exc}", file=path) from None
    rows = parse_rows(text, kind, path)
    user = "".join(c if c.isalnum() or c in "-_." else "-" for c in path.stem).strip("-._")
    about = f"Sounds imported from the manifest {path.name} with `cochlea import manifest`."
    listed = list(items_of(rows, options))
    return Source(
        name="manifest", user=user or "manifest", about=about, items=iter(listed), total=len(listed)
    )
