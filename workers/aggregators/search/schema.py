"""The search aggregator's GraphQL schema: `search`, `suggest`, plus `status` and `skipped`.

Arguments are checked here and every malformed one is a `BAD_USER_INPUT` error whose
`extensions.field` names it; searching itself happens in `SearchAggregator` (off the event
loop: tantivy work runs in a thread).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from workers.aggregators.graphql_base import BadUserInput, CodedSchema, RuntimeQuery, page_size
from workers.aggregators.search.query import MAX_WORDS, words

if TYPE_CHECKING:
    from workers.aggregators.search.service import SearchAggregator

MAX_TEXT = 500
MAX_OFFSET = 10_000


@strawberry.enum(description="What a hit is.")
class SearchKind(Enum):
    SOUND = "sound"
    ANNOTATION = "annotation"
    TAG = "tag"


@strawberry.enum(description="Who a user is (as on the Cochlea API).")
class UserType(Enum):
    HUMAN = "HUMAN"
    DATASET = "DATASET"
    FEATUREBOT = "FEATUREBOT"
    AGGREGATOR = "AGGREGATOR"


@strawberry.input(description="Restrict SOUND and ANNOTATION hits (all given must hold).")
class SearchFilter:
    created_by: strawberry.ID | None = None
    creator_type: UserType | None = None
    sound: strawberry.ID | None = strawberry.field(
        default=None, description="Only this sound (SOUND) or its annotations (ANNOTATION)."
    )


@strawberry.type(description="[start, end) character offsets of a match in `text`.")
class HighlightRange:
    start: int
    end: int


@strawberry.type(description="A field of the hit where the query matched.")
class Highlight:
    field: str
    text: str
    ranges: list[HighlightRange]


@strawberry.type(description="The creator of a hit, as the API names it.")
class Creator:
    id: strawberry.ID
    name: str
    type: UserType


@strawberry.type(description="A ranked hit; `id` is the Cochlea id (for TAG: the tag itself).")
class SearchHit:
    kind: SearchKind
    id: strawberry.ID
    score: float
    title: str | None = strawberry.field(description="The sound's title (for annotations too).")
    tags: list[str]
    sound: strawberry.ID | None = strawberry.field(description="The sound (itself, or annotated).")
    created_by: Creator | None
    start_seconds: float | None
    end_seconds: float | None
    count: int | None = strawberry.field(description="TAG: how many sounds and annotations.")
    highlights: list[Highlight]


@strawberry.type
class SearchEdge:
    cursor: str
    node: SearchHit


@strawberry.type
class SearchPageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class SearchConnection:
    edges: list[SearchEdge]
    page_info: SearchPageInfo
    total_count: int = strawberry.field(description="How many hits match in all.")


@strawberry.type(description="A tag starting with the prefix, and how often it is used.")
class TagSuggestion:
    tag: str
    count: int


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"search:{offset}".encode()).decode().rstrip("=")


def decode_offset(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = -1
        kind = ""
    if kind != "search" or not 0 <= offset <= MAX_OFFSET:
        raise BadUserInput("`after` is not a cursor of search results", field="after")
    return offset


def _check_id(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadUserInput(f"`{field}` is not a Cochlea id", field=field) from None


def _aggregator(info: Info[Any, Any]) -> SearchAggregator:
    aggregator: SearchAggregator = info.context["aggregator"]
    return aggregator


@strawberry.type
class Query(RuntimeQuery):
    @strawberry.field(description="Ranked hits for `text`: typo-tolerant, prefix, multi-word.")
    async def search(
        self,
        info: Info[Any, Any],
        text: str,
        first: int = 20,
        after: str | None = None,
        kind: Annotated[
            SearchKind | None,
            strawberry.argument(description="Only this kind (default: SOUND and ANNOTATION)."),
        ] = None,
        filter: SearchFilter | None = None,
    ) -> SearchConnection:
        if len(text) > MAX_TEXT:
            raise BadUserInput(f"`text` is over {MAX_TEXT} characters", field="text")
        terms = words(text)
        if not terms:
            raise BadUserInput("`text` has no words to search for", field="text")
        if len(terms) > MAX_WORDS:
            raise BadUserInput(f"`text` has over {MAX_WORDS} words", field="text")
        size = page_size(first)
        offset = decode_offset(after) if after else 0
        filters: dict[str, str] = {}
        if filter is not None:
            for name, value in (
                ("created_by", _check_id(filter.created_by, "filter.createdBy")),
                ("creator_type", filter.creator_type.value if filter.creator_type else None),
                ("sound", _check_id(filter.sound, "filter.sound")),
            ):
                if value is not None:
                    filters[name] = value
        if filters and kind is SearchKind.TAG:
            raise BadUserInput("tags have no creator or sound to filter on", field="filter")
        kinds = [kind.value] if kind else ["sound", "annotation"]
        return await asyncio.to_thread(
            _aggregator(info).search, terms, kinds, filters, size, offset
        )

    @strawberry.field(description="Tags starting with `prefix` (any case), most used first.")
    async def suggest(
        self, info: Info[Any, Any], prefix: str, first: int = 10
    ) -> list[TagSuggestion]:
        if not prefix.strip() or len(prefix) > 100:
            raise BadUserInput("`prefix` must be 1 to 100 characters", field="prefix")
        size = page_size(first, largest=50)
        return await asyncio.to_thread(_aggregator(info).suggest, prefix.strip().lower(), size)


def build_schema() -> strawberry.Schema:
    return CodedSchema(query=Query)
