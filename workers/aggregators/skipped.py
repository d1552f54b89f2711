"""Inputs an aggregator could not use, recorded so that they are listable, never silent.

A SQLite file in the aggregator's state directory: one row per (stream, item id), so an item
seen again after a restart updates its row instead of adding one. Listing is by insertion
order with an opaque cursor, like every list of the API.
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["SkipLog", "SkippedItem"]

SCHEMA = """CREATE TABLE IF NOT EXISTS skipped (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL, item TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,
  at TEXT NOT NULL, UNIQUE (stream, item))"""


@dataclass(frozen=True, slots=True)
class SkippedItem:
    """One input left out: which item of which stream, a stable code and a sentence."""

    seq: int
    stream: str
    item: str
    code: str
    message: str
    at: str

    @property
    def cursor(self) -> str:
        return encode_cursor(self.seq)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"skipped:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position in `cursor`; ValueError when it is not a cursor of this list."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "skipped":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a cursor of the skipped list: {cursor!r}") from exc


class SkipLog:
    """Thread-safe (one connection behind a lock): writers are the follower's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def record(self, *, stream: str, item: str, code: str, message: str) -> None:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._db.execute(
                "INSERT INTO skipped (stream, item, code, message, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (stream, item) DO UPDATE SET code = excluded.code, "
                "message = excluded.message, at = excluded.at",
                (stream, item, code, message[:2000], at),
            )

    def forget(self, *, stream: str, item: str) -> None:
        """An item that now worked is no longer skipped."""
        with self._lock:
            self._db.execute("DELETE FROM skipped WHERE stream = ? AND item = ?", (stream, item))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM skipped").fetchone()[0])

    def page(self, *, first: int, after: str | None = None) -> tuple[list[SkippedItem], bool]:
        """Up to `first` items after the cursor, and whether more follow."""
        start = decode_cursor(after) if after else 0
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, stream, item, code, message, at FROM skipped WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (start, first + 1),
            ).fetchall()
        items = [SkippedItem(*row) for row in rows[:first]]
        return items, len(rows) > first

    def close(self) -> None:
        with self._lock:
            self._db.close()
