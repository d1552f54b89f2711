"""Typed decoding of a batch mutation's body with msgspec, accepting only what graphql-core
and Strawberry would accept, with the very values they would hand the resolver.

Every rule here narrows: a body it refuses goes to the normal path, which gives graphql-core's
canonical error (or coerces what this module does not try to, such as a single object where a
list is expected, an `ID` sent as a number, or a `Float` that loses precision).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from api.graphql.types.enums import License
from api.services import ids
from api.services.annotations import AnnotationInput
from api.services.sounds import SoundInput

# Deeper JSON than this in a free-form value (metadata, extensions) goes to the normal path:
# `json.loads` there refuses deep nesting at a depth that depends on the stack, so only
# shallow values are known to be read alike by both paths.
MAX_FREE_DEPTH = 64

_NULL = msgspec.Raw(b"null")
_LICENSES = {member.name: member.value for member in License}


class Refused(Exception):
    """The body is not one the fast lane takes; the normal path will answer it."""


class Body(msgspec.Struct, forbid_unknown_fields=True, rename={"operation_name": "operationName"}):
    """The HTTP body, with what depends on the document left undecoded."""

    query: str
    variables: msgspec.Raw = _NULL
    operation_name: str | None = None
    extensions: msgspec.Raw = _NULL


# gc=False: decoded values cannot form cycles, and a batch makes thousands (each one the
# collector would otherwise track and walk).
class _Annotation(msgspec.Struct, forbid_unknown_fields=True, rename="camel", gc=False):
    sound: str
    start_seconds: float | int
    duration_seconds: float | int
    key: str | None = None
    tags: list[str] | None = None
    data_url: str | None = None
    metadata: msgspec.Raw = _NULL


class _Sound(msgspec.Struct, forbid_unknown_fields=True, rename="camel", gc=False):
    title: str
    audio_url: str
    license: str
    duration_seconds: float | int
    key: str | None = None
    low_quality_audio_url: str | None = None
    info_url: str | None = None
    tags: list[str] | None = None
    metadata: msgspec.Raw = _NULL


_BODY = msgspec.json.Decoder(Body)
_ANNOTATIONS = msgspec.json.Decoder(dict[str, list[_Annotation]])
_SOUNDS = msgspec.json.Decoder(dict[str, list[_Sound]])
_ANY = msgspec.json.Decoder()


def body(data: bytes) -> Body:
    try:
        return _BODY.decode(data)
    except (msgspec.DecodeError, RecursionError):
        raise Refused from None


def free(raw: msgspec.Raw) -> Any:
    """A JSON scalar's value (metadata, extensions), if shallow enough to be sure of."""
    if raw == _NULL:
        return None
    data = bytes(raw)
    if data.count(b"[") + data.count(b"{") > MAX_FREE_DEPTH and _depth(data) > MAX_FREE_DEPTH:
        raise Refused
    try:
        return _ANY.decode(data)
    except (msgspec.DecodeError, RecursionError):
        raise Refused from None


def _depth(data: bytes) -> int:
    """Greatest nesting of arrays and objects (brackets in strings count: an upper bound)."""
    depth = deepest = 0
    for byte in data:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _float(value: float | int) -> float:
    """graphql-core's Float from a JSON number: an int only if it converts exactly."""
    if type(value) is float:
        return value
    try:
        converted = float(value)
    except OverflowError:
        raise Refused from None
    if int(converted) != value:
        raise Refused
    return converted


class _Ids(dict[str, uuid.UUID | None]):
    """`ids.parse` once per distinct string: a batch names few sounds, thousands of times."""

    def __missing__(self, value: str) -> uuid.UUID | None:
        self[value] = found = ids.parse(value)
        return found


def _variables(decoder: msgspec.json.Decoder[Any], raw: msgspec.Raw, name: str) -> list[Any]:
    try:
        variables = decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise Refused from None
    if len(variables) != 1 or name not in variables:
        raise Refused
    items: list[Any] = variables[name]
    return items


def free_all(raws: list[msgspec.Raw]) -> list[Any]:
    """`free` of each of `raws`, decoded in one call: a batch holds thousands."""
    present = [i for i, raw in enumerate(raws) if raw != _NULL]
    values: list[Any] = [None] * len(raws)
    if not present:
        return values
    chosen = [raws[i] for i in present]
    joined = b",".join(chosen)
    if joined.count(b"[") + joined.count(b"{") > MAX_FREE_DEPTH:
        for raw in chosen:
            data = bytes(raw)
            if (
                data.count(b"[") + data.count(b"{") > MAX_FREE_DEPTH
                and _depth(data) > MAX_FREE_DEPTH
            ):
                raise Refused
    try:
        decoded = _ANY.decode(b"[" + joined + b"]")
    except (msgspec.DecodeError, RecursionError):
        raise Refused from None
    for i, value in zip(present, decoded, strict=True):
        values[i] = value
    return values


def annotation_inputs(raw: msgspec.Raw, name: str) -> list[AnnotationInput]:
    """The service inputs `createAnnotations` would build from variable `name`."""
    items: list[_Annotation] = _variables(_ANNOTATIONS, raw, name)
    sounds = _Ids()
    return [
        AnnotationInput(
            sounds[a.sound],
            a.start_seconds if type(a.start_seconds) is float else _float(a.start_seconds),
            a.duration_seconds if type(a.duration_seconds) is float else _float(a.duration_seconds),
            a.key,
            a.tags or [],
            a.data_url,
            metadata,
        )
        for a, metadata in zip(items, free_all([a.metadata for a in items]), strict=True)
    ]


def sound_inputs(raw: msgspec.Raw, name: str) -> list[SoundInput]:
    """The service inputs `createSounds` would build from variable `name`."""
    made = []
    for s in _variables(_SOUNDS, raw, name):
        license = _LICENSES.get(s.license)
        if license is None:
            raise Refused
        made.append(
            SoundInput(
                key=s.key,
                title=s.title,
                audio_url=s.audio_url,
                low_quality_audio_url=s.low_quality_audio_url,
                info_url=s.info_url,
                license=license,
                duration_seconds=_float(s.duration_seconds),
                tags=s.tags or [],
                metadata=free(s.metadata),
            )
        )
    return made
