"""The search aggregator: follow sounds and tagged annotations into tantivy, answer `search`.

`run(settings, host=..., port=...)` is what `cochlea aggregator search` and `cochlea up` call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import strawberry
import tantivy

from api.settings import Settings
from workers.aggregators.runtime import (
    Context,
    Feed,
    Progress,
    progress_from_json,
    progress_to_json,
    serve,
)
from workers.aggregators.search import schema as gql
from workers.aggregators.search.follower import FEEDS, annotation_doc, sound_doc
from workers.aggregators.search.index import Doc, SearchIndex, decode_payload
from workers.aggregators.search.query import highlight, text_query
from workers.sdk.batches import Edge

__all__ = ["SearchAggregator", "run"]

log = logging.getLogger(__name__)

ABOUT = (
    "Full-text search over Cochlea: sound titles, tags and metadata, annotation tags and "
    "creators' names; typo-tolerant and prefix matching, tag completion. infoUrl is its "
    "GraphQL endpoint (search, suggest, status)."
)
HIGHLIGHTED = ("title", "tags", "metadata", "creator")
BUILDERS = {"soundCreated": sound_doc, "annotationCreated": annotation_doc}


class SearchAggregator:
    name = "search"
    about = ABOUT
    feeds: Sequence[Feed] = FEEDS

    def __init__(self) -> None:
        self._index: SearchIndex | None = None
        self._ctx: Context | None = None

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            raise RuntimeError("the search index is not open")
        return self._index

    def schema(self) -> strawberry.Schema:
        return gql.build_schema()

    def open(self, ctx: Context) -> None:
        self._ctx = ctx
        self._index = SearchIndex(ctx.state_dir / "index")

    def progress(self) -> Progress:
        return progress_from_json(self.index.progress.get("streams"))

    def indexed(self) -> int:
        return self.index.counts["sound"] + self.index.counts["annotation"]

    async def apply(self, feed: Feed, edges: list[Edge], progress: Progress) -> None:
        await asyncio.to_thread(self._apply, feed, edges, progress)

    def _apply(self, feed: Feed, edges: list[Edge], progress: Progress) -> None:
        assert self._ctx is not None
        build = BUILDERS[feed.field]
        docs: list[Doc] = []
        for edge in edges:
            try:
                docs.append(build(edge.node))
            except (KeyError, TypeError, ValueError) as exc:
                item = str(edge.node.get("id", edge.cursor))
                self._ctx.skips.record(
                    stream=feed.field, item=item, code="unreadable_item", message=repr(exc)
                )
        self.index.commit(docs, {"streams": progress_to_json(progress)})

    def close(self) -> None:
        if self._index is not None:
            self._index.close()

    # -- queries (in a worker thread) ---------------------------------------------------
    def search(
        self, terms: list[str], kinds: list[str], filters: dict[str, str], first: int, offset: int
    ) -> gql.SearchConnection:
        index = self.index
        searcher = index.searcher
        clauses = [
            tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, index.term("kind", k)) for k in kinds]
            )
        ]
        clauses += [index.term(name, value) for name, value in filters.items()]
        query = text_query(index.schema, terms, tags=kinds == ["tag"], filters=clauses)
        result = searcher.search(query, limit=max(first, 1), count=True, offset=offset)
        total = int(getattr(result, "count", 0) or 0)
        edges = []
        for position, (score, address) in enumerate(result.hits[:first]):
            payload = searcher.doc(address).get_first("payload")
            hit = _hit(decode_payload(payload), float(score), terms, index)
            edges.append(gql.SearchEdge(cursor=gql.encode_offset(offset + position + 1), node=hit))
        more = offset + len(edges) < total
        end = edges[-1].cursor if edges else None
        return gql.SearchConnection(
            edges=edges,
            page_info=gql.SearchPageInfo(end_cursor=end, has_next_page=more),
            total_count=total,
        )

    def suggest(self, prefix: str, first: int) -> list[gql.TagSuggestion]:
        index = self.index
        found = index.searcher.terms_with_prefix("tag_lower", prefix, limit=first)
        return [gql.TagSuggestion(tag=index.tags.get(t, t), count=int(n)) for t, n in found]


def _hit(
    payload: dict[str, Any], score: float, terms: list[str], index: SearchIndex
) -> gql.SearchHit:
    if "creator" not in payload:  # a tag
        spans = highlight(payload["tag"], terms)
        return gql.SearchHit(
            kind=gql.SearchKind.TAG,
            id=strawberry.ID(payload["tag"]),
            score=score,
            title=None,
            tags=[payload["tag"]],
            sound=None,
            created_by=None,
            start_seconds=None,
            end_seconds=None,
            count=index.tag_count(payload["tag"].lower()),
            highlights=[_highlight("tag", payload["tag"], spans)] if spans else [],
        )
    creator = payload["creator"]
    is_sound = "startSeconds" not in payload
    highlights = []
    texts = {
        "title": [payload["title"]] if is_sound and payload.get("title") else [],
        "tags": payload["tags"],
        "metadata": [payload["metadata"]] if payload.get("metadata") else [],
        "creator": [creator["name"]] if creator.get("name") else [],
    }
    for name in HIGHLIGHTED:
        for text in texts[name]:
            spans = highlight(text, terms)
            if spans:
                highlights.append(_highlight(name, text, spans))
    return gql.SearchHit(
        kind=gql.SearchKind.SOUND if is_sound else gql.SearchKind.ANNOTATION,
        id=strawberry.ID(payload["id"]),
        score=score,
        title=payload.get("title"),
        tags=list(payload["tags"]),
        sound=strawberry.ID(payload["sound"]["id"]),
        created_by=gql.Creator(
            id=strawberry.ID(creator["id"]),
            name=creator["name"],
            type=gql.UserType(creator["type"]),
        )
        if creator.get("id")
        else None,
        start_seconds=payload.get("startSeconds"),
        end_seconds=payload.get("endSeconds"),
        count=None,
        highlights=highlights,
    )


def _highlight(field: str, text: str, spans: list[Any]) -> gql.Highlight:
    ranges = [gql.HighlightRange(start=s.start, end=s.end) for s in spans]
    return gql.Highlight(field=field, text=text, ranges=ranges)


def run(settings: Settings, *, host: str, port: int) -> int:
    """Serve the search aggregator on host:port until SIGTERM; its exit status."""
    return serve(SearchAggregator(), settings, host=host, port=port)
