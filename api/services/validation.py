"""Checks of single input values. Each returns a `Problem` (or None), naming the input index
and the public field name, so a batch can report everything wrong with it at once."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

import orjson

from api.errors import Problem

MAX_URL_LENGTH = 2048
MAX_TAG_LENGTH = 64
MAX_TAGS = 64
MAX_METADATA_BYTES = 16 * 1024
MAX_TEXT_LENGTH = 4096


# Unicode's control characters (category Cc) are exactly these 65, and always will be
# (Unicode's stability policy): one regex scan instead of a category look-up per character.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


# URLs that the checks below surely accept: a lower-case http(s) scheme, a plain host name or
# address, an optional port and a path of visible ASCII. One match instead of urlsplit.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?:/[!-~]*)?")


def url(
    index: int | None, field: str, value: str | None, *, required: bool = False
) -> Problem | None:
    """An absolute http(s) URL of at most 2,048 characters."""
    if value is None:
        return Problem(index, field, "REQUIRED", f"{field} is required") if required else None
    if len(value) > MAX_URL_LENGTH:
        return Problem(index, field, "TOO_LONG", f"{field} is over {MAX_URL_LENGTH} characters")
    if _PLAIN_URL.fullmatch(value) is not None:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return Problem(index, field, "INVALID_URL", f"{field} must be an absolute http(s) URL")
    if _has_control(value) or " " in value:
        return Problem(
            index, field, "INVALID_URL", f"{field} contains spaces or control characters"
        )
    return None


def positive_seconds(index: int | None, field: str, value: float) -> Problem | None:
    if not math.isfinite(value) or value <= 0:
        return Problem(index, field, "OUT_OF_RANGE", f"{field} must be a finite number > 0")
    return None


def start_seconds(index: int | None, field: str, value: float) -> Problem | None:
    if not math.isfinite(value) or value < 0:
        return Problem(index, field, "OUT_OF_RANGE", f"{field} must be a finite number >= 0")
    return None


def text(
    index: int | None,
    field: str,
    value: str | None,
    *,
    required: bool = False,
    max_length: int = MAX_TEXT_LENGTH,
) -> Problem | None:
    if value is None or not value.strip():
        return Problem(index, field, "REQUIRED", f"{field} must not be empty") if required else None
    if len(value) > max_length:
        return Problem(index, field, "TOO_LONG", f"{field} is over {max_length} characters")
    if _has_control(value.replace("\n", "").replace("\t", "")):
        return Problem(index, field, "INVALID_TEXT", f"{field} contains control characters")
    return None


def tags(
    index: int | None, field: str, values: list[str] | None
) -> tuple[list[str], Problem | None]:
    """Tags trimmed and de-duplicated case-insensitively (first spelling kept)."""
    if not values:
        return [], None
    if len(values) > MAX_TAGS:
        return [], Problem(index, field, "TOO_MANY", f"at most {MAX_TAGS} tags per resource")
    kept: dict[str, str] = {}
    for position, raw in enumerate(values):
        tag = raw.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH:
            return [], Problem(
                index,
                f"{field}[{position}]",
                "INVALID_TAG",
                f"tags must be 1 to {MAX_TAG_LENGTH} characters",
            )
        if _CONTROL.search(tag) is not None:
            return [], Problem(
                index,
                f"{field}[{position}]",
                "INVALID_TAG",
                "tags must not contain control characters",
            )
        kept.setdefault(tag.lower(), tag)
    return list(kept.values()), None


# json.dumps(value, allow_nan=False, separators=(",", ":")), without building an encoder per
# call (json.dumps reuses one only for its default arguments).
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


# What orjson writes differently from json.dumps(ensure_ascii=True): exponents (1e+16 / 1e16,
# 1e-05 / 0.00001, long mantissas), DEL (escaped by json only), NaN and Infinity (null), and
# anything not ASCII. Text holding none of these (or strings merely looking so) is the same.
# Digits are folded to 0 (and E to e) so that plain substring tests find them.
_FOLD = bytes.maketrans(b"123456789E", b"000000000e")
_ORJSON_STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _plain_json(value: Any) -> str:
    """json.dumps(value, allow_nan=False, separators=(",", ":")), through orjson (15 times
    faster) whenever its bytes are provably the same, for values as JSON decoders build them."""
    try:
        fast = orjson.dumps(value, option=_ORJSON_STRICT)
    except TypeError as error:
        if "64-bit" in str(error):
            # Stored, it could not be sent back: responses are written by orjson (and most
            # clients' JSON numbers are 64-bit floats or integers anyway).
            raise ValueError("an integer beyond 64 bits") from None
        return _ENCODER.encode(value)  # non-str keys...: json.dumps decides
    folded = fast.translate(_FOLD)
    if (
        fast.isascii()
        and b"0e" not in folded
        and b"0000000000000000" not in folded
        and b"0.0000" not in fast
        and b"null" not in fast
        and b"\x7f" not in fast
    ):
        return fast.decode()
    return _ENCODER.encode(value)


def metadata(index: int | None, field: str, value: Any) -> Problem | None:
    """A JSON object of at most 16 KiB (serialized), with finite numbers only."""
    return metadata_json(index, field, value)[1]


def metadata_json(index: int | None, field: str, value: Any) -> tuple[str | None, Problem | None]:
    """`metadata`'s check, plus the JSON text it measured (None for no metadata or a
    problem): what the insert stores, so a batch serializes each value once."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        return None, Problem(index, field, "INVALID_METADATA", f"{field} must be a JSON object")
    try:
        serialized = _plain_json(value)
    except (TypeError, ValueError, RecursionError):
        return None, Problem(
            index,
            field,
            "INVALID_METADATA",
            f"{field} must be plain JSON (no NaN or Infinity, integers within 64 bits)",
        )
    # PostgreSQL's jsonb cannot hold NUL; json.dumps writes any NUL as \\u0000: look only then.
    if "\\u0000" in serialized and _holds_nul(value):
        return None, Problem(
            index, field, "INVALID_METADATA", f"{field} must not contain NUL characters"
        )
    # ASCII (json.dumps escapes the rest), so its length is its size in bytes.
    if len(serialized) > MAX_METADATA_BYTES:
        return None, Problem(
            index, field, "TOO_LARGE", f"{field} is over {MAX_METADATA_BYTES} bytes as JSON"
        )
    return serialized, None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


def user_name(field: str, value: str) -> Problem | None:
    if not NAME_PATTERN.match(value):
        return Problem(
            None,
            field,
            "INVALID_NAME",
            "names are 2-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return None


def key(index: int | None, field: str, value: str | None) -> Problem | None:
    """An idempotency key: absent, or 1 to 256 visible characters."""
    if value is not None and not value.strip():
        return Problem(index, field, "INVALID_KEY", f"{field} must not be blank (omit it instead)")
    return text(index, field, value, max_length=256)


def has_control(value: str) -> bool:
    """Whether `value` holds control characters (NUL included, which PostgreSQL refuses)."""
    return _has_control(value)
