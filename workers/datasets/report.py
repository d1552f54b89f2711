"""What an import shows: a rich progress bar on a terminal (plain periodic lines otherwise)
and a summary at the end: created, already present, skipped (with reasons)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

SHOWN_SKIPS = 20


@dataclass
class Tally:
    """Counts of one import run."""

    sounds_created: int = 0
    sounds_present: int = 0
    annotations_created: int = 0
    annotations_present: int = 0
    would_sounds: int = 0  # dry run
    would_annotations: int = 0
    skipped: list[str] = field(default_factory=list)
    stopped: str | None = None


class ImportProgress:
    """`with ImportProgress(console, total) as p: p.advance(n)`; bar or lines every `every` s."""

    def __init__(self, console: Console, *, total: int | None, label: str, every: float = 5.0):
        self.console = console
        self.total = total
        self.label = label
        self.every = every
        self.done = 0
        self.started = time.monotonic()
        self.last_line = self.started
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.task = self.bar.add_task(label, total=total, rate="")

    def __enter__(self) -> ImportProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-9)

    def advance(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(self.task, advance=count, rate=f"{self.rate():,.0f} items/s")
            return
        now = time.monotonic()
        if now - self.last_line >= self.every:
            self.last_line = now
            of = f"/{self.total:,}" if self.total is not None else ""
            self.console.print(f"{self.label}: {self.done:,}{of} items ({self.rate():,.0f}/s)")


def count(n: int, what: str) -> str:
    """`1 sound`, `2 sounds`."""
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def print_summary(console: Console, name: str, tally: Tally, *, dry_run: bool) -> None:
    """The closing lines: what was created, what was already there, what was skipped."""
    t = tally
    if dry_run:
        console.print(
            f"{name}: dry run, nothing written: would create up to {count(t.would_sounds, 'sound')}"
            f" and {count(t.would_annotations, 'annotation')} (those already present excepted)"
        )
    elif t.sounds_created or t.annotations_created:
        console.print(
            f"{name}: created {count(t.sounds_created, 'sound')} and "
            f"{count(t.annotations_created, 'annotation')}; already present: "
            f"{count(t.sounds_present, 'sound')}, {count(t.annotations_present, 'annotation')}"
        )
    else:
        console.print(
            f"{name}: nothing new to create: {count(t.sounds_present, 'sound')} and "
            f"{count(t.annotations_present, 'annotation')} were already present"
        )
    if tally.skipped:
        console.print(f"[yellow]{name}: skipped {len(tally.skipped):,}:[/]")
        for reason in tally.skipped[:SHOWN_SKIPS]:
            console.print(f"  {escape(reason)}", soft_wrap=True)
        if len(tally.skipped) > SHOWN_SKIPS:
            console.print(f"  ... and {len(tally.skipped) - SHOWN_SKIPS:,} more")
    if tally.stopped:
        console.print(f"[red]{name}: stopped at bad input[/] (--on-error skip goes on past it):")
        console.print(f"  {escape(tally.stopped)}", soft_wrap=True)
