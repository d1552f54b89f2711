"""Import throughput of a synthetic NSynth-format split, next to the API's own
`createAnnotations` ceiling measured in the same run, against the same API process.

    python -m bench.datasets [--notes 10000]

The split is NSynth's exact layout (examples.json keyed by note_str, audio/<note_str>.wav of
4 s at 16 kHz): one synthesized WAV, hard-linked under every note's name (10,000 distinct
files cost 1.3 GB for no extra information). `cochlea import nsynth` runs in-process with
`--audio-base-url` (no copying: the figure is reading, header parsing, checking and the API):
each note is one sound and one annotation. The ceiling: the same number of annotations of the
same shape, pre-built, sent with `createAnnotations` in batches of 5,000, four in flight (as
the importer does), by a client doing nothing else. Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import soundfile
from rich.console import Console

from bench.data import scratch_database
from bench.services import api_process, redis
from workers.datasets import nsynth, synthetic
from workers.datasets.run import Options, run_import
from workers.sdk.client import ApiClient

IN_FLIGHT = 4
CREATE_USER = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { apiKey userErrors { code message } } }"""
CREATE_SOUNDS = """mutation($input: [SoundInput!]!) {
  createSounds(input: $input) { sounds { id } userErrors { code message } } }"""
CREATE_ANNOTATIONS = """mutation($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) { annotations { id } userErrors { code message } } }"""


def write_split(directory: Path, notes: int) -> None:
    """An NSynth-format split of `notes` notes sharing one synthesized 4 s WAV (hard links)."""
    examples = synthetic.nsynth_examples(notes)
    (directory / "audio").mkdir(parents=True)
    first = directory / "audio" / "note.wav"
    soundfile.write(first, synthetic.note_audio(60, 100, "brass", 4.0, 16_000), 16_000)
    for note_str in examples:
        os.link(first, directory / "audio" / f"{note_str}.wav")
    first.unlink()
    (directory / "examples.json").write_text(json.dumps(examples))


async def import_seconds(api_url: str, directory: Path) -> tuple[float, int]:
    """Seconds for `cochlea import nsynth` of the split, and the resources it created."""
    source = nsynth.source(directory, license=None)
    user = f"bench-nsynth-{uuid.uuid4().hex[:6]}"
    options = Options(api_url=api_url, user=user, audio_base_url="https://audio.example.org/")
    started = time.perf_counter()
    code, tally = await run_import(source, options, Console(file=io.StringIO()))
    seconds = time.perf_counter() - started
    if code:
        raise RuntimeError(f"the import failed: {tally.stopped or tally.skipped[:3]}")
    return seconds, tally.sounds_created + tally.annotations_created


async def ceiling_seconds(api_url: str, count: int) -> float:
    """Seconds for a bare client to create `count` NSynth-like annotations, 4 batches in flight."""
    async with ApiClient(url=api_url) as anonymous:
        new = {"name": f"bench-ceiling-{uuid.uuid4().hex[:6]}", "type": "DATASET",
               "aboutMe": "createAnnotations ceiling"}  # fmt: skip
        key = (await anonymous.mutate(CREATE_USER, {"input": new}, field="createUser"))["apiKey"]
        async with anonymous.with_token(key) as client:
            sounds = [
                {"title": f"n{i}", "audioUrl": f"https://audio.example.org/{i}.wav",
                 "license": "CC_BY", "durationSeconds": 4.0} for i in range(100)
            ]  # fmt: skip
            made = await client.mutate(CREATE_SOUNDS, {"input": sounds}, field="createSounds")
            ids = [s["id"] for s in made["sounds"]]
            batches = [
                [_annotation(ids, i) for i in range(start, min(start + 5000, count))]
                for start in range(0, count, 5000)
            ]
            slots = asyncio.Semaphore(IN_FLIGHT)

            async def send(batch: list[dict[str, Any]]) -> None:
                async with slots:
                    await client.mutate(
                        CREATE_ANNOTATIONS, {"input": batch}, field="createAnnotations"
                    )

            started = time.perf_counter()
            await asyncio.gather(*(send(b) for b in batches))
            return time.perf_counter() - started


def _annotation(sounds: list[str], i: int) -> dict[str, Any]:
    """The shape of an NSynth note's annotation: the whole 4 s, six tags, a key."""
    return {
        "key": f"ceiling:{i}", "sound": sounds[i % len(sounds)], "startSeconds": 0.0,
        "durationSeconds": 4.0,
        "tags": ["brass", "synthetic", "bright", "reverb", f"C{i % 8}", f"velocity:{i % 127}"],
    }  # fmt: skip


def measure(database_url: str, notes: int) -> dict[str, float]:
    """Both figures against one API process: notes/s imported, annotations/s at the ceiling."""
    with (
        tempfile.TemporaryDirectory(prefix="cochlea-bench-nsynth-") as tmp,
        redis() as redis_url,
        api_process(database_url, redis_url=redis_url, pool_size=IN_FLIGHT + 2) as api_url,
    ):
        write_split(Path(tmp) / "nsynth-bench", notes)
        previous = os.environ.get("COCHLEA_REDIS_URL")
        os.environ["COCHLEA_REDIS_URL"] = redis_url  # where the dataset user's key is kept
        try:
            seconds, created = asyncio.run(import_seconds(api_url, Path(tmp) / "nsynth-bench"))
        finally:
            if previous is None:
                os.environ.pop("COCHLEA_REDIS_URL", None)
            else:
                os.environ["COCHLEA_REDIS_URL"] = previous
        ceiling = asyncio.run(ceiling_seconds(api_url, notes))
    return {
        "notes": notes,
        "import_seconds": seconds,
        "notes_per_second": notes / seconds,
        "resources_per_second": created / seconds,
        "ceiling_per_second": notes / ceiling,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=10_000)
    args = parser.parse_args()
    with scratch_database() as (url, _):
        found = measure(url, args.notes)
    print(
        f"import nsynth, {found['notes']:,} notes: {found['import_seconds']:.1f} s, "
        f"{found['notes_per_second']:,.0f} notes/s ({found['resources_per_second']:,.0f} "
        f"sounds+annotations/s); createAnnotations ceiling {found['ceiling_per_second']:,.0f}/s"
    )


if __name__ == "__main__":
    main()
