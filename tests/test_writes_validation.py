"""The validation shortcuts the batch paths take are exact: each agrees with the slow,
obviously right form it replaces, on generated values (edges included)."""

from __future__ import annotations

import json
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.services import validation

_numbers = st.one_of(
    st.integers(),
    st.floats(),
    st.sampled_from([1e-5, 9.5e-5, 1e-4, 1e15, 1e16, 12345678901234567.0, 2**64, -(2**63) - 1]),
)
_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        _numbers,
        st.text(),
        st.sampled_from(["\x7f", "\x00", "0e1", "null", "é", "\U0001f600"]),
    ),
    lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)),
    max_leaves=20,
)


def _outcome(encode: Any, value: Any) -> Any:
    try:
        return encode(value)
    except (TypeError, ValueError, RecursionError) as error:
        return type(error)


@hypothesis_settings(max_examples=3000, deadline=None)
@given(_json)
def test_metadata_text_is_json_dumps_text(value: Any) -> None:
    """orjson is used only where its bytes are provably `json.dumps`' (the stored text and the
    16 KiB limit both depend on them); integers beyond 64 bits are refused, as no response
    could carry them back."""
    slow = _outcome(lambda v: json.dumps(v, allow_nan=False, separators=(",", ":")), value)
    if _beyond_64_bits(value):
        slow = ValueError
    assert _outcome(validation._plain_json, value) == slow


def _beyond_64_bits(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_beyond_64_bits(v) for v in value.values())
    if isinstance(value, list):
        return any(_beyond_64_bits(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64


@given(st.text())
def test_control_characters_are_unicodes_cc(text: str) -> None:
    assert validation.has_control(text) == any(unicodedata.category(c) == "Cc" for c in text)


_url_parts = st.sampled_from(
    [*"aZ09.-:/@[]?#% \t\x00\x7fé~!\\", "http://", "https://", "HTTP://", "//", "::"]
)


def _accepted_by_urlsplit(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return not validation.has_control(value) and " " not in value


@hypothesis_settings(max_examples=3000)
@given(
    st.sampled_from(["http://", "https://", "", "http:/", "https://a"]),
    st.lists(_url_parts, max_size=12).map("".join),
)
def test_urls_taken_by_the_shortcut_pass_the_full_check(prefix: str, rest: str) -> None:
    value = prefix + rest
    if validation._PLAIN_URL.fullmatch(value):
        assert _accepted_by_urlsplit(value), value
    if len(value) <= validation.MAX_URL_LENGTH:
        assert (validation.url(0, "u", value) is None) == _accepted_by_urlsplit(value), value
