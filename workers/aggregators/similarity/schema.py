"""The similarity aggregator's GraphQL: nearest segments by sound and time or by vector, the map,
and (from the shared runtime) `status` and `skipped`.

Hits are shaped like annotations (`sound`, `startSeconds`, `durationSeconds`, `endSeconds`)
plus `score` (cosine similarity, 1 = the same direction) and `point` (where the segment sits
on the map). Malformed arguments get `BAD_USER_INPUT` naming the field; a sound the index does
not hold gets `NOT_FOUND`.
"""

from __future__ import annotations

import math
import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
import strawberry
from strawberry.types import Info

from workers.aggregators.graphql_base import BadUserInput, CodedSchema, RuntimeQuery, page_size
from workers.aggregators.similarity.embedding import FEATURES
from workers.aggregators.similarity.index import Hits
from workers.aggregators.similarity.state import DIMS, ONSET, Collection

if TYPE_CHECKING:
    from workers.aggregators.similarity.service import SimilarityAggregator

__all__ = ["build_schema"]

MAX_MAP_POINTS = 2000


@strawberry.enum(description="How a segment was cut: a fixed 1 s window, or an onsets segment.")
class SegmentKind(Enum):
    WINDOW = "WINDOW"
    ONSET = "ONSET"


@strawberry.type(description="A point on the unit sphere (x² + y² + z² = 1).")
class Point:
    x: float
    y: float
    z: float


@strawberry.input(description="A direction in 3-D; it is scaled to length 1.")
class PointInput:
    x: float
    y: float
    z: float


@strawberry.input(description="Which sounds' segments may be returned (all conditions hold).")
class SimilarityFilter:
    tags: list[str] | None = strawberry.field(default=None, description="The sound has every tag.")
    created_by: strawberry.ID | None = strawberry.field(
        default=None, description="The sound was created by this user."
    )


@strawberry.type(description="A stretch of a sound, shaped like an annotation.")
class Segment:
    sound: strawberry.ID
    start_seconds: float
    duration_seconds: float
    end_seconds: float
    kind: SegmentKind
    score: float = strawberry.field(description="Cosine similarity to the query (1 = same).")
    point: Point = strawberry.field(description="Where the segment is on the map.")
    row: strawberry.Private[int]

    @strawberry.field(description=f"The segment's unit feature vector ({DIMS} values).")
    def vector(self, info: Info[Any, Any]) -> list[float]:
        return [float(v) for v in _collection(info).index.vectors[self.row]]


@strawberry.type(description="What the vectors are: their layout and whether the fit is frozen.")
class Embedding:
    dimensions: int
    features: list[str] = strawberry.field(description="What each raw value is, in order.")
    frozen: bool = strawberry.field(description="Statistics and map are fixed until a refit.")
    fitted_on: int = strawberry.field(description="Segments the statistics and map were fitted on.")


def _collection(info: Info[Any, Any]) -> Collection:
    aggregator: SimilarityAggregator = info.context["aggregator"]
    return aggregator.collection


def _segments(collection: Collection, hits: Hits) -> list[Segment]:
    rows, scores = hits
    index, points = collection.index, collection.points
    found = []
    for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
        start, end = float(index.start[row]), float(index.end[row])
        x, y, z = (float(v) for v in points[row])
        found.append(
            Segment(
                sound=strawberry.ID(collection.sounds[int(index.sound[row])].id),
                start_seconds=start,
                duration_seconds=end - start,
                end_seconds=end,
                kind=SegmentKind.ONSET if index.kind[row] == ONSET else SegmentKind.WINDOW,
                score=round(min(1.0, max(-1.0, score)), 6),
                point=Point(x=x, y=y, z=z),
                row=row,
            )
        )
    return found


def _uuid(value: str, *, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadUserInput(f"`{field}` is not a Cochlea id: {value!r}", field=field) from None


def _filter_args(filter: SimilarityFilter | None) -> dict[str, Any]:
    if filter is None:
        return {}
    created_by = None
    if filter.created_by is not None:
        created_by = _uuid(filter.created_by, field="filter.createdBy")
    return {"tags": filter.tags or None, "created_by": created_by}


def _finite(values: list[float], *, field: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or not np.any(array):
        raise BadUserInput(f"`{field}` must be finite and not all zero", field=field)
    return array.astype(np.float32)


def _row_at(collection: Collection, sound: str, time: float) -> int:
    sound_id = _uuid(sound, field="sound")
    if not math.isfinite(time) or time < 0:
        raise BadUserInput("`time` must be a finite number of seconds >= 0", field="time")
    span = collection.indexed_span(sound_id)
    if span is None:
        raise BadUserInput(
            f"sound {sound_id} is not indexed (yet)", field="sound", code="NOT_FOUND"
        )
    row = collection.segment_at(sound_id, time)
    if row is None:
        shown = f"{span[0]:g} to {span[1]:g} s"
        raise BadUserInput(
            f"sound {sound_id} has segments from {shown}, not at {time:g} s", field="time"
        )
    return row


@strawberry.type
class Query(RuntimeQuery):
    @strawberry.field(description="Segments most like the one of `sound` at `time` seconds.")
    def similar(
        self,
        info: Info[Any, Any],
        sound: strawberry.ID,
        time: float,
        first: int = 10,
        filter: SimilarityFilter | None = None,
        include_same_sound: bool = False,
    ) -> list[Segment]:
        collection = _collection(info)
        size = page_size(first)
        args = _filter_args(filter)
        row = _row_at(collection, sound, time)
        own = collection.sounds[int(collection.index.sound[row])].id
        allowed = collection.allowed(**args, exclude_sound=None if include_same_sound else own)
        vector = collection.index.vectors[row]
        return _segments(collection, collection.search(vector, size, allowed))

    @strawberry.field(description="The segment of `sound` that a query at `time` starts from.")
    def segment(self, info: Info[Any, Any], sound: strawberry.ID, time: float) -> Segment:
        collection = _collection(info)
        row = _row_at(collection, sound, time)
        rows, scores = np.array([row]), np.array([1.0], np.float32)
        return _segments(collection, (rows, scores))[0]

    @strawberry.field(description="Segments most like a vector of `embedding.dimensions` values.")
    def similar_to_vector(
        self,
        info: Info[Any, Any],
        vector: list[float],
        first: int = 10,
        filter: SimilarityFilter | None = None,
    ) -> list[Segment]:
        collection = _collection(info)
        size = page_size(first)
        if len(vector) != DIMS:
            raise BadUserInput(f"`vector` needs {DIMS} values, not {len(vector)}", field="vector")
        query = _finite(vector, field="vector")
        allowed = collection.allowed(**_filter_args(filter))
        return _segments(collection, collection.search(query, size, allowed))

    @strawberry.field(
        name="map",
        description="Points within `radius` radians of `center` on the map, nearest first.",
    )
    def map_(
        self,
        info: Info[Any, Any],
        center: PointInput,
        radius: float = 0.5,
        first: int = 100,
        filter: SimilarityFilter | None = None,
    ) -> list[Segment]:
        collection = _collection(info)
        size = page_size(first, largest=MAX_MAP_POINTS)
        direction = _finite([center.x, center.y, center.z], field="center")
        if not (math.isfinite(radius) and 0 < radius <= math.pi):
            raise BadUserInput(
                "`radius` must be an angle in radians, 0 < radius <= π", field="radius"
            )
        allowed = collection.allowed(**_filter_args(filter))
        return _segments(collection, collection.near_point(direction, radius, size, allowed))

    @strawberry.field(description="The layout of the vectors and the state of the fit.")
    def embedding(self, info: Info[Any, Any]) -> Embedding:
        collection = _collection(info)
        fitted = collection.projection.fitted_on if collection.projection else 0
        return Embedding(
            dimensions=DIMS, features=list(FEATURES), frozen=collection.frozen, fitted_on=fitted
        )


def build_schema() -> CodedSchema:
    return CodedSchema(query=Query)
