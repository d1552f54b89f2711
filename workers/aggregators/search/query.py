"""From a user's text to a tantivy query, and back to highlights.

Each word of the text must match (multi-word means AND) in some field, in one of three ways,
best first: the exact term, a prefix ("pian" finds "piano") or a term within a small edit
distance ("vilon" finds "violin": 2 edits for words of five letters or more, 1 for three or
four, none below). Fields weigh differently: a title match outranks a metadata one. Words are
cut the way tantivy's default tokenizer cuts them (runs of letters and digits, lowercased), so
query words and indexed terms compare like for like.

Highlights are recomputed on the hit's stored text with the same three rules (rapidfuzz's
optimal string alignment distance, the one tantivy uses with transpositions costing one), as
character ranges a client can wrap in <mark>.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tantivy
from rapidfuzz.distance import OSA

__all__ = ["MAX_WORDS", "Span", "highlight", "text_query", "words"]

WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16
ITEM_FIELDS = {"title": 3.0, "tags": 2.5, "creator": 1.5, "metadata": 1.0}
TAG_FIELDS = {"tag": 3.0}


def words(text: str) -> list[str]:
    """The words of `text` as tantivy's default tokenizer would index them."""
    return [w for w in WORD.findall(text.lower()) if len(w) <= 40]


def distance_for(word: str) -> int:
    return 0 if len(word) < 3 else 1 if len(word) < 5 else 2


def _word_query(schema: tantivy.Schema, word: str, fields: dict[str, float]) -> tantivy.Query:
    ways: list[tuple[tantivy.Occur, tantivy.Query]] = []
    distance = distance_for(word)
    for name, weight in fields.items():
        exact = tantivy.Query.term_query(schema, name, word)
        ways.append((tantivy.Occur.Should, tantivy.Query.boost_query(exact, 4.0 * weight)))
        prefix = tantivy.Query.fuzzy_term_query(schema, name, word, 0, True, True)
        ways.append((tantivy.Occur.Should, tantivy.Query.boost_query(prefix, 2.0 * weight)))
        if distance:
            fuzzy = tantivy.Query.fuzzy_term_query(schema, name, word, distance, True, False)
            ways.append((tantivy.Occur.Should, tantivy.Query.boost_query(fuzzy, weight)))
    return tantivy.Query.boolean_query(ways)


def text_query(
    schema: tantivy.Schema, terms: list[str], *, tags: bool, filters: list[tantivy.Query]
) -> tantivy.Query:
    """All of `terms` (in item fields, or in tag names when `tags`), and all of `filters`."""
    fields = TAG_FIELDS if tags else ITEM_FIELDS
    must = [(tantivy.Occur.Must, _word_query(schema, w, fields)) for w in terms]
    must += [(tantivy.Occur.Must, f) for f in filters]
    return tantivy.Query.boolean_query(must)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def matches(token: str, word: str) -> bool:
    if token == word or token.startswith(word):
        return True
    distance = distance_for(word)
    return distance > 0 and OSA.distance(token, word, score_cutoff=distance) <= distance


def highlight(text: str, terms: list[str]) -> list[Span]:
    """Where in `text` the query's words match, as [start, end) character ranges."""
    spans = []
    for found in WORD.finditer(text):
        token = found.group().lower()
        if any(matches(token, w) for w in terms):
            spans.append(Span(found.start(), found.end()))
    return spans
