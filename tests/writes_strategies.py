"""Hypothesis strategies for batch inputs: values of every JSON type on each rule's edges,
and inputs that are valid but for a few replaced, dropped or added fields."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000"  # a well-formed UUIDv7 no resource has


# Values of every JSON type, chosen to sit on each rule's edges.
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, 0.0, -0.0, 1, 2.5, 9.99, 10.05, 2**53 + 1, 10**30, 10**400, 1e308]),
)
_text = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "Zs", "Cc", "So"]), max_size=12
)
strings = st.one_of(
    _text,
    st.sampled_from(["", " ", "  x  ", "nul\x00", "bell\x07", "two\nlines", "x" * 65, "y" * 300]),
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://example.org/a.npy",
            "HTTP://Example.org/a",
            "ftp://example.org/a",
            "example.org/a",
            "http://exa mple.org/a",
            "http://[::1/a",
            "https://example.org/" + "a" * 2029,
            "https://example.org/\x00",
        ]
    ),
    strings,
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, strings),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(strings, inner, max_size=3)
    ),
    max_leaves=8,
)
anything = st.one_of(st.none(), st.booleans(), numbers, strings, st.lists(strings, max_size=2))


def deep(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


metadata = st.one_of(
    st.dictionaries(strings, json_values, max_size=4),
    json_values,
    st.sampled_from([deep(30), deep(70), deep(200), {"big": "x" * 17000}, {"é": "ü" * 3000}]),
)
tags = st.one_of(
    st.lists(strings, max_size=4),
    st.lists(st.sampled_from(["Bird", "bird", " song "]), max_size=4),
    st.sampled_from([[f"t{i}" for i in range(65)], [None], [1, 2]]),
    strings,  # one string where a list is expected: GraphQL makes it a list of one
    st.none(),
)
keys = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "", " ", "k" * 257]), strings)


finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    st.sampled_from([0, -0.0, 0.5, 9.99, 10.05, 10.1, 179.9, 180.95]),
)
# What a well-typed client sends (the lane takes it; the service may still refuse values).
TYPED = {
    "startSeconds": finite,
    "durationSeconds": finite,
    "key": st.one_of(st.none(), keys),
    "tags": st.one_of(st.none(), st.lists(strings, max_size=4)),
    "dataUrl": st.one_of(st.none(), urls),
    "metadata": st.one_of(st.none(), st.dictionaries(strings, json_values, max_size=4)),
    "title": strings,
    "audioUrl": urls,
    "lowQualityAudioUrl": st.one_of(st.none(), urls),
    "infoUrl": st.one_of(st.none(), urls),
    "license": st.sampled_from(["CC_BY", "CC0", "CC_BY_NC_SA"]),
}


@st.composite
def item(
    draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]], good: dict[str, Any], typed: bool
) -> Any:
    """Usually a valid input with a few fields replaced, dropped or added; when `typed`, only
    with values of the right JSON types."""
    if typed:
        item = dict(good)
        for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True)):
            item[name] = draw(TYPED[name] if name in TYPED else fields[name].filter(_is_str))
        return item
    if draw(st.integers(0, 30)) == 0:
        return draw(anything)  # not an object at all
    item = dict(good)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        how = draw(st.integers(0, 5))
        if how == 0:
            item.pop(name, None)
        elif how == 1:
            item[name] = None
        elif how == 2:
            item[name] = draw(anything)
        else:
            item[name] = draw(fields[name])
    if draw(st.integers(0, 25)) == 0:
        item[draw(st.sampled_from(["extra", "start_seconds", "Sound"]))] = 1
    return item


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def annotation_fields(sounds: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    """Each AnnotationInput field's values, on sounds `sounds` (the first is 10 s long)."""
    ids = [*sounds, UNKNOWN_ID, "x", sounds[0].upper(), sounds[0][:-1]]
    return {
        "sound": st.one_of(st.sampled_from(ids), st.sampled_from([123, 1.0, True])),
        "startSeconds": numbers,
        "durationSeconds": numbers,
        "key": keys,
        "tags": tags,
        "dataUrl": urls,
        "metadata": metadata,
    }


def sound_fields() -> dict[str, st.SearchStrategy[Any]]:
    licenses = ["CC_BY", "CC0", "CC_BY_NC_SA", "cc_by", "GPL", ""]
    return {
        "title": strings,
        "audioUrl": st.one_of(
            urls, st.sampled_from([f"https://example.org/{i}.wav" for i in range(4)])
        ),
        "lowQualityAudioUrl": urls,
        "infoUrl": urls,
        "license": st.one_of(st.sampled_from(licenses), strings),
        "durationSeconds": numbers,
        "key": keys,
        "tags": tags,
        "metadata": metadata,
    }
