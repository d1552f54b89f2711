"""Label files into Cochlea, as the holder of an API key: every check first, then one atomic
`createAnnotations` batch, so bad input writes nothing.

Idempotency: each annotation's key is a hash of the sound, the row's content (times to the
microsecond, tags, data) and its occurrence among identical rows, so importing the same file
twice creates nothing the second time, and re-importing an edited file creates only its new
rows. A file is at most `MAX_FILE_BYTES` and `MAX_ANNOTATIONS` labels (the API's batch limit);
larger ones are refused with how to split them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from api.services.annotations import end_tolerance
from api.settings import Settings
from workers.interchange import labelstudio, remote
from workers.interchange.formats import Format
from workers.interchange.model import Label, LabelFileError, SoundInfo, micro, to_annotation_input
from workers.sdk.client import ApiClient, UserErrors

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_ANNOTATIONS = 5000
MAX_SOUNDS = 1000
LICENSES = ("CC_BY", "CC_BY_SA", "CC_BY_ND", "CC_BY_NC", "CC_BY_NC_SA", "CC_BY_NC_ND", "CC0")


class ImportRefused(Exception):
    """A one-line reason, naming the file (and line or element), why nothing was written."""


@dataclass(frozen=True, slots=True)
class Imported:
    sounds: list[SoundInfo]
    labels: int  # annotations in the file
    created: int  # of which new
    new_sounds: int = 0


def read_file(path: Path) -> bytes:
    """The file's bytes, refused when over the size limit (before reading it)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImportRefused(
                f"{path}: {size:,} bytes is over the import limit of {MAX_FILE_BYTES:,}: split it "
                f"into files of at most {MAX_ANNOTATIONS:,} labels and {MAX_FILE_BYTES:,} bytes"
            )
        return path.read_bytes()
    except OSError as error:
        raise ImportRefused(f"{path}: {error.strerror or error}") from None


def check_batch(path: Path, count: int) -> None:
    if count > MAX_ANNOTATIONS:
        raise ImportRefused(
            f"{path}: {count:,} labels, but one import is one atomic batch of at most "
            f"{MAX_ANNOTATIONS:,}: split the file (e.g. by time) into parts of at most "
            f"{MAX_ANNOTATIONS:,} rows and import each"
        )


def check_fits(labels: Sequence[Label], sound: SoundInfo) -> None:
    """Every label ends within the sound (with the API's tolerance)."""
    limit = sound.duration_seconds + end_tolerance(sound.duration_seconds)
    for label in labels:
        if label.end > limit or label.start > limit:
            raise LabelFileError(
                label.where,
                f"ends at {label.end:g} s, past the end of the sound "
                f"({sound.duration_seconds:g} s)",
                field="end",
            )


def keys_for(sound_id: str, labels: Sequence[Label]) -> list[str]:
    """Idempotency keys: the sound, the row's content and its occurrence among equal rows."""
    seen: Counter[str] = Counter()
    keys = []
    for label in labels:
        content = f"{sound_id}|{_content(label)}"
        digest = hashlib.sha256(f"{content}#{seen[content]}".encode()).hexdigest()
        seen[content] += 1
        keys.append(f"import:{digest[:40]}")
    return keys


def _content(label: Label) -> str:
    """What makes two labels the same annotation: times to the microsecond, tags and data."""
    row = [
        micro(label.start),
        micro(label.end),
        label.point,
        list(label.tags),
        label.data_url,
        dict(label.metadata or {}),
    ]
    return json.dumps(row, sort_keys=True, separators=(",", ":"))


async def _write(
    client: ApiClient, path: Path, plan: list[tuple[SoundInfo, Label]], me: str
) -> int:
    """Send one batch of the labels the importer has not already got on the sound (its own
    annotations exported and edited elsewhere come back without duplicates); map any
    userError back to its line; return how many annotations were created."""
    by_sound: dict[str, list[Label]] = {}
    for sound, label in plan:
        by_sound.setdefault(sound.id, []).append(label)
    inputs = []
    before = 0
    for sound_id, labels in by_sound.items():
        mine = await remote.labels_of(client, sound_id, created_by=me, tags=())
        before += len(mine)
        have = Counter(_content(x) for x in mine)
        for label, key in zip(labels, keys_for(sound_id, labels), strict=True):
            content = _content(label)
            if have[content] > 0:
                have[content] -= 1
                continue
            inputs.append((label, to_annotation_input(label, sound=sound_id, key=key)))
    if not inputs:
        return 0
    try:
        await remote.create_annotations(client, [i for _, i in inputs])
    except UserErrors as error:
        first = error.errors[0]
        index = first.get("index")
        where = inputs[index][0].where if isinstance(index, int) else ""
        more = f" (and {len(error.errors) - 1} more problems)" if len(error.errors) > 1 else ""
        field = f", {first.get('field')}" if first.get("field") else ""
        raise ImportRefused(
            f"{path}: {where}{field}: {first.get('message')} [{first.get('code')}]{more}; "
            "nothing was written"
        ) from None
    after = sum([await remote.count_mine(client, s, me) for s in by_sound])
    return after - before


async def import_labels(
    client: ApiClient, path: Path, data: bytes, fmt: Format, sound_id: str
) -> Imported:
    """`cochlea import labels`: the file's labels onto one sound."""
    try:
        sound = await remote.get_sound(client, sound_id)
    except remote.NotFound as error:
        raise ImportRefused(f"--sound: {error}") from None
    me = (await remote.viewer(client))["id"]
    try:
        if fmt.name == "labelstudio":
            labels = labelstudio.read(data, sound_seconds=sound.duration_seconds)
        else:
            labels = fmt.read(data)
        check_batch(path, len(labels))
        check_fits(labels, sound)
    except LabelFileError as error:
        raise ImportRefused(f"{path}: {error}") from None
    created = await _write(client, path, [(sound, x) for x in labels], me)
    return Imported(sounds=[sound], labels=len(labels), created=created)


async def import_labelstudio(
    client: ApiClient, path: Path, data: bytes, *, license: str | None, settings: Settings
) -> Imported:
    """`cochlea import labelstudio`: tasks become sounds (or name ones, by `data.sound`) and
    their regions annotations. Everything is checked before the sounds are created."""
    me = (await remote.viewer(client))["id"]
    try:
        tasks = labelstudio.read_tasks(data)
    except LabelFileError as error:
        raise ImportRefused(f"{path}: {error}") from None
    check_batch(path, sum(len(t.labels) for t in tasks))
    sounds: dict[int, SoundInfo] = {}
    new: dict[str, dict[str, Any]] = {}  # audio URL -> SoundInput
    for index, task in enumerate(tasks):
        named = task.data.get("sound")
        if isinstance(named, str) and named:
            try:
                sounds[index] = await remote.get_sound(client, named)
            except remote.NotFound as error:
                raise ImportRefused(f"{path}: {task.where}, data.sound: {error}") from None
        elif not isinstance(task.audio_url, str):
            raise ImportRefused(f"{path}: {task.where}, data.audio: must be the audio's URL")
        elif task.audio_url not in new:
            new[task.audio_url] = await _sound_input(path, task, license, settings)
    if len(new) > MAX_SOUNDS:
        raise ImportRefused(
            f"{path}: {len(new):,} new sounds; split it into files of at most {MAX_SOUNDS:,} tasks"
        )
    pending = [
        (i, t, new[t.audio_url]["durationSeconds"]) for i, t in enumerate(tasks) if i not in sounds
    ]
    try:
        for index, task in enumerate(tasks):
            if index in sounds:
                check_fits(task.labels, sounds[index])
        for _, task, seconds in pending:
            check_fits(task.labels, SoundInfo("", "", "", float(seconds)))
    except LabelFileError as error:
        raise ImportRefused(f"{path}: {error}") from None
    made_before = await remote.count_my_sounds(client) if new else 0
    if new:
        try:
            made = await remote.create_sounds(client, list(new.values()))
        except UserErrors as error:
            first = error.errors[0]
            url = list(new)[first["index"]] if isinstance(first.get("index"), int) else ""
            raise ImportRefused(
                f"{path}: the sound {url}: {first.get('message')} [{first.get('code')}]; "
                "nothing was written"
            ) from None
        by_url = {s.audio_url: s for s in made}
        for index, task, _ in pending:
            sounds[index] = by_url[task.audio_url]
    plan = [(sounds[i], label) for i, task in enumerate(tasks) for label in task.labels]
    created = await _write(client, path, plan, me) if plan else 0
    made_now = await remote.count_my_sounds(client) - made_before if new else 0
    unique = list({s.id: s for s in sounds.values()}.values())
    return Imported(sounds=unique, labels=len(plan), created=created, new_sounds=made_now)


async def _sound_input(
    path: Path, task: labelstudio.Task, license: str | None, settings: Settings
) -> dict[str, Any]:
    url = task.audio_url
    where = f"{path}: {task.where}"
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImportRefused(
            f"{where}, data.audio: {url!r} is not an absolute http(s) URL (audio uploaded to "
            "Label Studio is not reachable: host it, or name a Cochlea sound in data.sound)"
        )
    code = _license(task.data.get("license")) or _license(license)
    if code is None:
        raise ImportRefused(
            f"{where}, data.license: no licence: add one to the task or pass --license "
            f"({'|'.join(LICENSES)})"
        )
    duration = labelstudio.task_seconds(task.data) or task.original_length
    if duration is None:
        duration = await _measure(where, url, settings)
    title = task.data.get("title") or unquote(posixpath.basename(parts.path)) or url
    digest = hashlib.sha256(url.encode()).hexdigest()[:40]
    return {
        "key": f"labelstudio:{digest}",
        "title": str(title)[:512],
        "audioUrl": url,
        "license": code,
        "durationSeconds": float(duration),
    }


def _license(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().upper().replace("-", "_").replace(" ", "_").removesuffix("_4.0")
    return code if code in LICENSES else None


async def _measure(where: str, url: str, settings: Settings) -> float:
    """The sound's duration from its audio, fetched with the featurebots' SSRF guard."""
    from workers.audio import duration_seconds, fetch_audio
    from workers.errors import FetchError
    from workers.ssrf import parse_allow_networks

    try:
        body = await fetch_audio(
            url,
            allow_networks=parse_allow_networks(settings.fetch_allow_networks),
            max_bytes=settings.fetch_max_bytes,
        )
        return await asyncio.to_thread(duration_seconds, body)
    except (FetchError, ValueError) as error:
        raise ImportRefused(
            f"{where}, data.audio: cannot measure the sound's duration ({error}); "
            "add data.duration (seconds) to the task"
        ) from None
