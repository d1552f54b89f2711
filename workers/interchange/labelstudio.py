"""Label Studio's audio tasks: the JSON task list its audio template imports (`data.audio` a
URL) and the export of the same list with `annotations[].result[]` regions.

A region is the results sharing one `id`: `labels` (`value: {start, end, labels}`) give the
tags, `textarea` (`value: {start, end, text}`) gives `metadata.text`, and a result's `meta`
(`{"dataUrl", "metadata"}`, written by Cochlea) the rest. A whole-file `choices` result
(`value: {choices}`) tags the whole sound. Cancelled annotations and `predictions` are not
imported. Cochlea's export puts the sound's id in `data.sound`, so that an export annotated in
Label Studio comes back onto the same sound.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workers.interchange.model import (
    Label,
    LabelFileError,
    SoundInfo,
    check_seconds,
    check_tags,
    decode_text,
    micro,
    segment,
)

EXTENSION = "json"
MEDIA_TYPE = "application/json"
REGION_TYPES = frozenset({"labels", "textarea", "choices"})


@dataclass(frozen=True, slots=True)
class Task:
    """One task: its `data` (audio URL and whatever else) and the regions of its annotations."""

    where: str
    data: dict[str, Any]
    labels: list[Label]
    original_length: float | None  # the sound's duration, as Label Studio measured it

    @property
    def audio_url(self) -> Any:
        return self.data.get("audio")


def task_seconds(data: dict[str, Any]) -> float | None:
    """The sound's duration a task's `data.duration` gives (a number, or a numeric string)."""
    value = data.get("duration")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def load_json(data: bytes) -> Any:
    """JSON from `data`; invalid JSON names its line and column."""
    try:
        return json.loads(decode_text(data))
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise LabelFileError(where, f"invalid JSON: {error.msg}") from None
    except RecursionError:
        raise LabelFileError("", "the JSON nests too deeply") from None


def read_tasks(data: bytes, *, sound_seconds: float | None = None) -> list[Task]:
    """The tasks of a task list or export (a JSON list, or a single task object)."""
    parsed = load_json(data)
    items = [parsed] if isinstance(parsed, dict) else parsed
    if not isinstance(items, list):
        raise LabelFileError("", "a Label Studio file is a JSON list of tasks")
    tasks = []
    for index, item in enumerate(items):
        where = f"task {index}"
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise LabelFileError(where, "a task is an object with a `data` object", field="data")
        tasks.append(_task(item, where, sound_seconds))
    return tasks


def read(data: bytes, *, sound_seconds: float | None = None) -> list[Label]:
    """The labels of a file holding one task (what `cochlea import labels` takes)."""
    tasks = read_tasks(data, sound_seconds=sound_seconds)
    if len(tasks) != 1:
        raise LabelFileError(
            "",
            f"the file holds {len(tasks)} tasks; --sound takes one "
            "(`cochlea import labelstudio FILE` imports them all)",
        )
    return tasks[0].labels


def _task(item: dict[str, Any], where: str, sound_seconds: float | None) -> Task:
    annotations = item.get("annotations") or []
    if not isinstance(annotations, list):
        raise LabelFileError(where, "must be a list", field="annotations")
    lengths = [
        r["original_length"]
        for a in annotations
        if isinstance(a, dict)
        for r in (a.get("result") or [])
        if isinstance(r, dict) and isinstance(r.get("original_length"), int | float)
    ]
    length = float(max(lengths)) if lengths else None
    labels: list[Label] = []
    for a_index, annotation in enumerate(annotations):
        a_where = f"{where}.annotations[{a_index}]"
        if not isinstance(annotation, dict):
            raise LabelFileError(a_where, "an annotation is an object")
        if annotation.get("was_cancelled"):
            continue
        result = annotation.get("result") or []
        if not isinstance(result, list):
            raise LabelFileError(a_where, "must be a list", field="result")
        whole = sound_seconds or task_seconds(item["data"]) or length
        labels.extend(_regions(result, a_where, whole))
    return Task(where=where, data=item["data"], labels=labels, original_length=length)


def _regions(results: list[Any], where: str, whole: float | None) -> list[Label]:
    grouped: dict[str, dict[str, Any]] = {}
    for index, result in enumerate(results):
        r_where = f"{where}.result[{index}]"
        if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
            raise LabelFileError(r_where, "a result is an object with a `value` object")
        kind = result.get("type")
        if kind not in REGION_TYPES:
            continue  # e.g. a rating or a relation: nothing Cochlea stores
        region = grouped.setdefault(
            str(result.get("id", f"#{index}")), {"where": r_where, "tags": [], "meta": {}}
        )
        value = result["value"]
        if kind == "choices" or "start" not in value:
            span = (0.0, whole) if whole else None
            if span is None:
                raise LabelFileError(
                    r_where,
                    "a whole-file result needs the sound's duration: add data.duration (seconds)",
                )
        else:
            start = check_seconds(value.get("start"), where=r_where, field="value.start")
            end = check_seconds(value.get("end"), where=r_where, field="value.end")
            span = segment(start, end, where=r_where)[:2]
        if region.setdefault("span", span) != span:
            raise LabelFileError(r_where, "results of one region disagree on start/end")
        key = {"labels": "labels", "choices": "choices", "textarea": "text"}[kind]
        items = value.get(key) or []
        if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
            raise LabelFileError(r_where, "must be a list of strings", field=f"value.{key}")
        if kind == "textarea":
            region["text"] = "\n".join(items)
        else:
            region["tags"].extend(t.strip() for t in items if t.strip())
        meta = result.get("meta")
        if isinstance(meta, dict):
            region["meta"] |= meta
    return [_label(region) for region in grouped.values()]


def _label(region: dict[str, Any]) -> Label:
    start, end = region["span"]
    meta = region["meta"]
    metadata = dict(meta.get("metadata") or {})
    if "text" in region:
        metadata["text"] = region["text"]
    tags = tuple(dict.fromkeys(region["tags"]))
    check_tags(tags, where=region["where"], field="value.labels")
    data_url = meta.get("dataUrl") if isinstance(meta.get("dataUrl"), str) else None
    if not tags and not metadata and data_url is None:
        raise LabelFileError(region["where"], "the region has no labels, text or data")
    return Label(
        start=start,
        end=end,
        tags=tags,
        data_url=data_url,
        metadata=metadata or None,
        point=start == end,
        where=region["where"],
    )


def write(sound: SoundInfo, labels: Sequence[Label]) -> str:
    """A one-task Label Studio task list: the sound in `data`, and one annotation (with
    `labels` and `textarea` results per region) per creator."""
    by_creator: dict[str, list[Label]] = {}
    for label in sorted(labels, key=lambda x: (x.start, x.end)):
        by_creator.setdefault(label.created_by or "", []).append(label)
    seen: dict[tuple[float, float, tuple[str, ...]], int] = {}
    annotations = []
    for group in by_creator.values():
        result = []
        for label in group:
            same = (label.start, label.end, label.tags)
            seen[same] = seen.get(same, -1) + 1
            result.extend(_results(sound, label, seen[same]))
        annotations.append({"result": result})
    data = {"audio": sound.audio_url, "title": sound.title, "sound": sound.id}
    task = {"data": data, "annotations": annotations}
    return json.dumps([task], indent=2, ensure_ascii=False) + "\n"


def _results(sound: SoundInfo, label: Label, occurrence: int) -> list[dict[str, Any]]:
    start = micro(label.start)
    end = start if label.point else micro(label.end)
    base = f"{start:.6f}|{end:.6f}|{'|'.join(label.tags)}|{occurrence}"
    region_id = hashlib.sha256(base.encode()).hexdigest()[:10]
    common = {
        "id": region_id,
        "to_name": "audio",
        "original_length": sound.duration_seconds,
    }
    metadata = {k: v for k, v in (label.metadata or {}).items() if k != "text"}
    meta: dict[str, Any] = {"dataUrl": label.data_url} if label.data_url else {}
    meta |= {"metadata": metadata} if metadata else {}
    value = {"start": start, "end": end, "channel": 0}
    results: list[dict[str, Any]] = [
        common
        | {"from_name": "label", "type": "labels", "value": value | {"labels": list(label.tags)}}
        | ({"meta": meta} if meta else {})
    ]
    if label.text is not None:
        results.append(
            common
            | {"from_name": "text", "type": "textarea", "value": value | {"text": [label.text]}}
        )
    return results
