"""JAMS files, read, written and validated with the `jams` library's schemas.

Writing: one JAMS annotation per Cochlea creator and namespace: tags spanning the whole sound
as `tag_open`, timed segments as `segment_open` (one observation per tag in both), annotations
tagged just `onset` as `onset`, and tag-less ones (features) as `blob`. An annotation's
`dataUrl` and `metadata` ride in the JAMS annotation's `sandbox.cochlea`, a list of
`{observations: [indexes into data], dataUrl, metadata}`, one per Cochlea annotation, which is
also how several tags come back as one annotation. `file_metadata` carries the sound's title,
duration and identifiers (the Cochlea sound id and audio URL).

Reading any JAMS file: string values become tags (longer than a tag can be: `metadata.text`),
a null value is tagged with the namespace (`onset`, `beat`), other values go to
`metadata.value` and confidences to `metadata.confidence`. Without Cochlea's sandbox,
observations of one JAMS annotation with the same time and duration and nothing but tags are
one Cochlea annotation. Unknown namespaces and dense ones (time series such as
`pitch_contour`) are refused.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import jsonschema

from workers.interchange.model import (
    MAX_TAG_LENGTH,
    Label,
    LabelFileError,
    SoundInfo,
    check_tags,
    decode_text,
    micro,
)

EXTENSION = "jams"
MEDIA_TYPE = "application/json"
GZIP_MAGIC = b"\x1f\x8b"
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
WHOLE_SOUND_SLACK = 1e-6  # s: a segment this close to [0, duration] spans the whole sound


@functools.cache
def _jams() -> Any:
    """The `jams` library, imported when first needed: it takes seconds to import (it loads
    mir_eval and scipy), which the API and the other commands should not pay at start-up."""
    import jams
    import jams.schema

    return jams


def read(data: bytes, *, max_bytes: int | None = None) -> list[Label]:
    """The labels of a `.jams` (or gzipped `.jamz`) file, validated against jams' schemas."""
    document = load(data, max_bytes=max_bytes)
    labels: list[Label] = []
    for index, annotation in enumerate(document["annotations"]):
        labels.extend(_annotation_labels(annotation, f"annotations[{index}]"))
    return labels


def load(data: bytes, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The JSON document of a JAMS file, checked against the JAMS schema and each
    annotation's namespace; errors name the element (`annotations[2].data[5].duration`)."""
    if data[:2] == GZIP_MAGIC:
        limit = MAX_UNPACKED_BYTES if max_bytes is None else max_bytes
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
                data = packed.read(limit + 1)  # a gzip bomb stops here
        except (OSError, EOFError) as error:
            raise LabelFileError("", f"not a readable .jamz (gzip) file: {error}") from None
        if len(data) > limit:
            raise LabelFileError("", f"the .jamz file unpacks to over {limit:,} bytes")
    try:
        document = json.loads(decode_text(data))
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise LabelFileError(where, f"invalid JSON: {error.msg}") from None
    except RecursionError:
        raise LabelFileError("", "the JSON nests too deeply") from None
    validate(document)
    return dict(document)


def validate(document: Any) -> None:
    """Raise `LabelFileError` unless `document` is valid JAMS (schema and namespaces)."""
    if not isinstance(document, dict) or not isinstance(document.get("annotations"), list):
        raise LabelFileError("", "not a JAMS file: expected an object with an `annotations` list")
    jams_schema = _jams().schema
    for index, annotation in enumerate(document["annotations"]):
        namespace = annotation.get("namespace") if isinstance(annotation, dict) else None
        where = f"annotations[{index}]"
        if isinstance(namespace, str) and namespace not in jams_schema.__NAMESPACE__:
            raise LabelFileError(where, f"unknown JAMS namespace {namespace!r}", field="namespace")
        if isinstance(namespace, str) and jams_schema.is_dense(namespace):
            raise LabelFileError(
                where,
                f"{namespace!r} is a dense time series, not labels: Cochlea does not import it",
                field="namespace",
            )
    # The JAMS schema without the observations (each namespace's schema checks those, and
    # checking them twice doubles the cost of a large file).
    skeleton = document | {
        "annotations": [
            a | {"data": []} if isinstance(a, dict) and isinstance(a.get("data"), list) else a
            for a in document["annotations"]
        ]
    }
    _raise_first(jams_schema.VALIDATOR.iter_errors(skeleton), "")
    for index, annotation in enumerate(document["annotations"]):
        validator = jams_schema.VALIDATOR.evolve(
            schema=jams_schema.namespace_array(annotation["namespace"])
        )
        _raise_first(validator.iter_errors(annotation["data"]), f"annotations[{index}].data")


def _raise_first(errors: Iterable[jsonschema.ValidationError], prefix: str) -> None:
    error = jsonschema.exceptions.best_match(errors)
    if error is None:
        return
    path = prefix
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    message = " ".join(error.message.split())
    raise LabelFileError(path, message if len(message) <= 200 else message[:197] + "...")


def _annotation_labels(annotation: dict[str, Any], where: str) -> list[Label]:
    namespace: str = annotation["namespace"]
    observations: list[dict[str, Any]] = annotation["data"]
    sandbox = annotation.get("sandbox") or {}
    entries = sandbox.get("cochlea") if isinstance(sandbox, dict) else None
    groups: list[tuple[list[int], dict[str, Any]]] = []
    claimed: set[int] = set()
    if isinstance(entries, list):
        for e_index, entry in enumerate(entries):
            e_where = f"{where}.sandbox.cochlea[{e_index}]"
            indexes = entry.get("observations") if isinstance(entry, dict) else None
            if (
                not isinstance(indexes, list)
                or not indexes
                or not all(isinstance(i, int) and 0 <= i < len(observations) for i in indexes)
                or claimed.intersection(indexes)
            ):
                raise LabelFileError(
                    e_where, "must list indexes of this annotation's data", field="observations"
                )
            claimed.update(indexes)
            groups.append((indexes, entry))
    by_span: dict[tuple[float, float], list[int]] = {}
    for index, observation in enumerate(observations):
        if index in claimed:
            continue
        if _observation(namespace, observation, f"{where}.data[{index}]")[1]:
            groups.append(([index], {}))  # carries metadata: an annotation of its own
        else:
            span = (float(observation["time"]), float(observation["duration"]))
            by_span.setdefault(span, []).append(index)
    groups.extend((indexes, {}) for indexes in by_span.values())
    groups.sort(key=lambda g: g[0][0])
    return [_label(namespace, observations, g, where) for g in groups]


def _label(
    namespace: str,
    observations: list[dict[str, Any]],
    group: tuple[list[int], dict[str, Any]],
    where: str,
) -> Label:
    indexes, entry = group
    first = observations[indexes[0]]
    o_where = f"{where}.data[{indexes[0]}]"
    start, duration = float(first["time"]), float(first["duration"])
    tags: list[str] = []
    metadata: dict[str, Any] = {}
    for index in indexes:
        observation = observations[index]
        if (float(observation["time"]), float(observation["duration"])) != (start, duration):
            raise LabelFileError(
                f"{where}.data[{index}]", "observations of one annotation must share their times"
            )
        found_tags, found_meta = _observation(namespace, observation, f"{where}.data[{index}]")
        tags.extend(found_tags)
        metadata |= found_meta
    if isinstance(entry.get("metadata"), dict):
        metadata |= entry["metadata"]
    data_url = entry.get("dataUrl") if isinstance(entry.get("dataUrl"), str) else None
    unique = tuple(dict.fromkeys(tags))
    check_tags(unique, where=o_where, field="value")
    if not unique and not metadata and data_url is None:
        raise LabelFileError(o_where, "the observation carries no tag or data", field="value")
    return Label(
        start=start,
        end=start + duration,
        tags=unique,
        data_url=data_url,
        metadata=metadata or None,
        point=duration == 0,
        where=o_where,
    )


def _observation(
    namespace: str, observation: dict[str, Any], where: str
) -> tuple[list[str], dict[str, Any]]:
    """(tags, metadata) of one observation, by the rules in the module docstring."""
    value = observation.get("value")
    metadata: dict[str, Any] = {}
    tags: list[str] = []
    if namespace == "blob":
        if value is not None:
            metadata["value"] = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise LabelFileError(where, "an empty string is not a tag", field="value")
        if len(text) <= MAX_TAG_LENGTH:
            tags.append(text)
        else:
            metadata["text"] = text
    elif value is None:
        tags.append(namespace)
    else:
        tags.append(namespace)
        metadata["value"] = value
    if observation.get("confidence") is not None:
        metadata["confidence"] = observation["confidence"]
    return tags, metadata


def _namespace(label: Label, sound_seconds: float) -> str:
    if list(label.tags) == ["onset"]:
        return "onset"
    if not label.tags:
        return "blob"
    whole = label.start <= WHOLE_SOUND_SLACK and abs(label.end - sound_seconds) <= WHOLE_SOUND_SLACK
    return "tag_open" if whole and not label.point else "segment_open"


def write(sound: SoundInfo, labels: Sequence[Label]) -> str:
    """A validated JAMS document of `sound` and `labels`, as indented JSON text."""
    jams = _jams()
    jam = jams.JAMS()
    jam.file_metadata.title = sound.title
    jam.file_metadata.duration = sound.duration_seconds
    jam.file_metadata.identifiers = jams.Sandbox(cochlea_sound=sound.id, audio_url=sound.audio_url)
    about: dict[str, Any] = {"id": sound.id, "audioUrl": sound.audio_url, "license": sound.license}
    about |= {"infoUrl": sound.info_url, "tags": list(sound.tags)}
    jam.sandbox.update(cochlea={"sound": about})
    grouped: dict[tuple[str, str], list[Label]] = {}
    for label in sorted(labels, key=lambda x: (x.start, x.end)):
        namespace = _namespace(label, sound.duration_seconds)
        grouped.setdefault((label.created_by or "", namespace), []).append(label)
    for (creator, namespace), group in grouped.items():
        jam.annotations.append(_jams_annotation(sound, creator, namespace, group))
    document: dict[str, Any] = jam.__json__
    validate(document)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _jams_annotation(sound: SoundInfo, creator: str, namespace: str, labels: list[Label]) -> Any:
    jams = _jams()
    annotation = jams.Annotation(namespace=namespace, time=0, duration=sound.duration_seconds)
    meta = annotation.annotation_metadata
    meta.annotator = jams.Sandbox(name=creator)
    meta.data_source = "cochlea"
    meta.annotation_tools = "Cochlea"
    entries: list[dict[str, Any]] = []
    count = 0
    for label in labels:
        start = micro(label.start)
        duration = 0.0 if label.point else micro(micro(label.end) - start)
        values: list[str | None] = list(label.tags) if namespace != "onset" else [None]
        if namespace == "blob":
            values = [None]
        for value in values:
            annotation.append(time=start, duration=duration, value=value, confidence=None)
        entry: dict[str, Any] = {"observations": list(range(count, count + len(values)))}
        entry |= {"dataUrl": label.data_url} if label.data_url else {}
        entry |= {"metadata": dict(label.metadata)} if label.metadata else {}
        entries.append(entry)
        count += len(values)
    annotation.sandbox.update(cochlea=entries)
    return annotation
