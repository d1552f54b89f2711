"""The search index: tantivy on disk, with the followed streams' progress inside it.

One document per sound, per tagged annotation and per distinct tag (its name as first seen,
for fuzzy tag search), plus one `progress` document holding each stream's cursor and count. A
batch's documents, its new tags and the new progress go into ONE tantivy commit, which is
atomic: after a crash the index holds exactly the batches whose cursor it also holds, so a
restart neither repeats nor loses anything. Items are only ever added, never deleted, so how
many carry a tag is the document frequency of its term in `tag_lower`, exact and free to keep.
One writer (this process) at a time; searches run on a fresh searcher after every commit.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tantivy

__all__ = ["Doc", "SearchIndex", "build_schema", "decode_payload", "hit_count"]

PROGRESS_ID = "__progress__"
TEXT_FIELDS = ("title", "tags", "metadata", "creator", "tag")


def hit_count(searcher: tantivy.Searcher, query: tantivy.Query) -> int:
    """How many documents match (tantivy's stubs omit `SearchResult.count`)."""
    count: int | None = getattr(searcher.search(query, limit=1, count=True), "count", None)
    return int(count or 0)


def decode_payload(value: Any) -> dict[str, Any]:
    """A hit's stored payload (what it shows), as a dict."""
    loaded: dict[str, Any] = orjson.loads(bytes(value)) if value is not None else {}
    return loaded


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for raw in ("doc_id", "kind", "created_by", "creator_type", "sound", "tag_lower", "tag_key"):
        builder.add_text_field(raw, stored=False, tokenizer_name="raw", index_option="basic")
    for text in TEXT_FIELDS:
        builder.add_text_field(text, stored=False)
    builder.add_unsigned_field("seq", stored=False, indexed=False, fast=True)
    builder.add_bytes_field("payload", stored=True, indexed=False)
    return builder.build()


@dataclass
class Doc:
    """One searchable item. `payload` is what a hit shows (stored, not indexed)."""

    id: str
    kind: str  # sound | annotation | tag
    text: dict[str, list[str]]  # field -> values, of TEXT_FIELDS
    created_by: str | None = None
    creator_type: str | None = None
    sound: str | None = None
    tags: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)


class SearchIndex:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.schema = build_schema()
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self.writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        self._lock = threading.Lock()
        self.index.reload()
        self.searcher = self.index.searcher()
        self.progress: dict[str, Any] = self._load_progress()
        self.tags: dict[str, str] = self._load_tags()  # lowercased -> as first seen
        self.seq = int(self.progress.get("seq", 0))
        self.counts = self._count()

    # -- reading ------------------------------------------------------------------------
    def term(self, name: str, value: str) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, name, value)

    def payloads(self, query: tantivy.Query, limit: int) -> list[dict[str, Any]]:
        found = self.searcher.search(query, limit=limit, count=False).hits
        return [self._payload(address) for _, address in found]

    def _payload(self, address: tantivy.DocAddress) -> dict[str, Any]:
        return decode_payload(self.searcher.doc(address).get_first("payload"))

    def _load_progress(self) -> dict[str, Any]:
        found = self.payloads(self.term("doc_id", PROGRESS_ID), 1)
        return found[0] if found else {}

    def _load_tags(self) -> dict[str, str]:
        total = hit_count(self.searcher, self.term("kind", "tag"))
        tags = self.payloads(self.term("kind", "tag"), max(total, 1)) if total else []
        return {t["tag"].lower(): t["tag"] for t in tags}

    def tag_count(self, lower: str) -> int:
        """How many sounds and annotations carry the tag."""
        return int(self.searcher.doc_freq("tag_lower", lower))

    def _count(self) -> dict[str, int]:
        counts = {}
        for kind in ("sound", "annotation", "tag"):
            counts[kind] = hit_count(self.searcher, self.term("kind", kind))
        return counts

    # -- writing ------------------------------------------------------------------------
    def commit(self, docs: Iterable[Doc], progress: dict[str, Any]) -> None:
        """Add `docs` and their new tags and store `progress`, atomically."""
        with self._lock:
            docs = list(docs)
            new: dict[str, str] = {}
            try:
                for doc in docs:
                    self.seq += 1
                    self.writer.add_document(self._document(doc, self.seq))
                    for tag in doc.tags:
                        if tag.lower() not in self.tags:
                            new.setdefault(tag.lower(), tag)
                for name in new.values():
                    self.seq += 1
                    self.writer.add_document(self._document(_tag_doc(name), self.seq))
                stored = {**progress, "seq": self.seq}
                self.writer.delete_documents_by_term("doc_id", PROGRESS_ID)
                self.writer.add_document(self._progress_document(stored))
                self.writer.commit()
            except BaseException:
                self.writer.rollback()
                self.seq = int(self.progress.get("seq", 0))
                raise
            # Searchable first, then reported (`status` never claims what a search cannot find);
            # but once committed, always reported, or the follower would index it again.
            try:
                self.index.reload()
                self.searcher = self.index.searcher()
            finally:
                self.tags = {**self.tags, **new}
                added = Counter(doc.kind for doc in docs)  # items are only ever added
                self.counts = {
                    "sound": self.counts["sound"] + added["sound"],
                    "annotation": self.counts["annotation"] + added["annotation"],
                    "tag": len(self.tags),
                }
                self.progress = stored

    def _document(self, doc: Doc, seq: int) -> tantivy.Document:
        out = tantivy.Document()
        out.add_text("doc_id", doc.id)
        out.add_text("kind", doc.kind)
        for name, values in doc.text.items():
            for value in values:
                out.add_text(name, value)
        raw = {"created_by": doc.created_by, "creator_type": doc.creator_type, "sound": doc.sound}
        for name, given in raw.items():
            if given is not None:
                out.add_text(name, given)
        for lower in dict.fromkeys(tag.lower() for tag in doc.tags) if doc.kind != "tag" else ():
            out.add_text("tag_lower", lower)
        if doc.kind == "tag":
            out.add_text("tag_key", doc.id.removeprefix("tag:"))
        out.add_unsigned("seq", seq)
        out.add_bytes("payload", orjson.dumps(doc.payload))
        return out

    def _progress_document(self, progress: dict[str, Any]) -> tantivy.Document:
        out = tantivy.Document()
        out.add_text("doc_id", PROGRESS_ID)
        out.add_text("kind", "progress")
        out.add_bytes("payload", orjson.dumps(progress))
        return out

    def close(self) -> None:
        with self._lock:
            self.writer.wait_merging_threads()


def _tag_doc(tag: str) -> Doc:
    return Doc(id=f"tag:{tag.lower()}", kind="tag", text={"tag": [tag]}, payload={"tag": tag})
