"""Batch creation of sounds and annotations (atomic, idempotent with `key`).

A body the fast lane decoded (`api.graphql.fastlane`) arrives with an empty `input`: the
resolver takes the inputs the lane set aside instead, built exactly as below.
"""

from __future__ import annotations

from typing import TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from api.graphql import fastlane
from api.graphql.compiled.records import Records
from api.graphql.types.annotation import Annotation
from api.graphql.types.enums import License
from api.graphql.types.payloads import CreateAnnotationsPayload, CreateSoundsPayload, user_errors
from api.graphql.types.sound import Sound
from api.services import annotations as annotation_service
from api.services import ids
from api.services import sounds as sound_service

T = TypeVar("T")


def _listed(records: Records[T]) -> list[T]:
    """The payload's list, kept as records (`api.graphql.compiled.records.Records`): the
    executor writes the usual selection from them; anything else makes the objects."""
    return cast(list[T], records)


@strawberry.input
class SoundInput:
    key: str | None = strawberry.field(
        default=None, description="Idempotency key, unique per creator."
    )
    title: str
    audio_url: str
    low_quality_audio_url: str | None = None
    info_url: str | None = None
    license: License
    duration_seconds: float
    tags: list[str] | None = None
    metadata: JSON | None = strawberry.field(
        default=None, description="The source's structured fields, as a small JSON object."
    )


@strawberry.input
class AnnotationInput:
    key: str | None = strawberry.field(
        default=None, description="Idempotency key, unique per creator."
    )
    sound: strawberry.ID
    start_seconds: float
    duration_seconds: float
    tags: list[str] | None = None
    data_url: str | None = None
    metadata: JSON | None = None


@strawberry.mutation(description="Create up to 1,000 sounds at once: all of them, or none.")
async def create_sounds(info: strawberry.Info, input: list[SoundInput]) -> CreateSoundsPayload:
    context = info.context
    inputs = fastlane.take("sounds")
    if inputs is None:
        inputs = [
            sound_service.SoundInput(
                key=s.key,
                title=s.title,
                audio_url=s.audio_url,
                low_quality_audio_url=s.low_quality_audio_url,
                info_url=s.info_url,
                license=s.license.value,
                duration_seconds=s.duration_seconds,
                tags=s.tags or [],
                metadata=s.metadata,
            )
            for s in input
        ]
    result = await sound_service.create_sounds(
        engine=context.engine, viewer=await context.viewer(), inputs=inputs
    )
    if result.created:
        await context.notify("sound")
    return CreateSoundsPayload(
        sounds=_listed(Records(result.items, Sound.from_record)),
        created=result.created,
        user_errors=user_errors(result.problems),
    )


@strawberry.mutation(description="Create up to 5,000 annotations at once: all of them, or none.")
async def create_annotations(
    info: strawberry.Info, input: list[AnnotationInput]
) -> CreateAnnotationsPayload:
    context = info.context
    inputs = fastlane.take("annotations")
    if inputs is None:
        inputs = [
            annotation_service.AnnotationInput(
                key=a.key,
                sound=ids.parse(a.sound),
                start_seconds=a.start_seconds,
                duration_seconds=a.duration_seconds,
                tags=a.tags or [],
                data_url=a.data_url,
                metadata=a.metadata,
            )
            for a in input
        ]
    result = await annotation_service.create_annotations(
        engine=context.engine, viewer=await context.viewer(), inputs=inputs
    )
    if result.created:
        await context.notify("annotation")
    return CreateAnnotationsPayload(
        annotations=_listed(Records(result.items, Annotation.from_record)),
        created=result.created,
        user_errors=user_errors(result.problems),
    )
