"""The demo collection `cochlea up` imports once the API answers: 100 NSynth-format notes and
a MusicNet-format piece, synthesized under the data directory and brought in through the
importers (as any dataset would be), so explorer, bots and aggregators have real data.
Idempotent: files are written once and the imports' keys make a restart create nothing."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from workers.datasets import musicnet, nsynth, synthetic
from workers.datasets.run import Options, run_import


@dataclass(frozen=True)
class Seeded:
    sounds: int
    annotations: int
    created: int
    failed: str | None = None


def seed(*, data_dir: Path, api_url: str) -> Seeded:
    """Generate (once) and import the demo collection; never raises for a failed import."""
    root = data_dir / "datasets-demo"
    synthetic.write_nsynth(root / "nsynth-demo", notes=100)
    synthetic.write_musicnet(root / "musicnet-demo")
    quiet = Console(file=io.StringIO(), width=200)
    sounds = annotations = created = 0
    for source, user in (
        (nsynth.source(root / "nsynth-demo", license=None), "nsynth-demo"),
        (musicnet.source(root / "musicnet-demo", license=None), "musicnet-demo"),
    ):
        options = Options(api_url=api_url, user=user, tags=["demo"])
        code, tally = asyncio.run(run_import(source, options, quiet))
        if code:
            lines = quiet.file.getvalue().strip().splitlines()  # type: ignore[attr-defined]
            return Seeded(sounds, annotations, created, failed=lines[-1] if lines else "failed")
        sounds += tally.sounds_created + tally.sounds_present
        annotations += tally.annotations_created + tally.annotations_present
        created += tally.sounds_created + tally.annotations_created
    return Seeded(sounds, annotations, created)


def seed_line(*, data_dir: Path, api_url: str) -> str:
    """`seed`'s outcome as the one line `cochlea up` prints."""
    try:
        seeded = seed(data_dir=data_dir, api_url=api_url)
    except Exception as exc:  # the demo collection is a bonus: never stop `up` for it
        seeded = Seeded(0, 0, 0, failed=f"{type(exc).__name__}: {exc}")
    if seeded.failed:
        return f"[yellow]demo collection not imported: {escape(seeded.failed)}[/]"
    what = f"{seeded.sounds} sounds, {seeded.annotations} annotations"
    fresh = f"created {seeded.created} resources" if seeded.created else "already there"
    return f"{what} ({fresh})"
