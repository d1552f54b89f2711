"""How fast each featurebot turns audio into annotations, next to librosa doing the same maths.

    python -m bench.featurebots [--seconds 10 300] [--repeats 3] [--in-flight 8]

For each sound length and each bot: the real-time factor (audio seconds per wall second) of the
bot's pipeline end to end on a batch of sounds, `workers.jobs.process` (what the arq job runs)
with `--in-flight` jobs at once (a worker's `max_jobs`, default `WorkerOptions.max_jobs`) on a
pool of `--processes` computing processes, exactly as a worker runs them: the event loop
fetches the sound over local HTTP through the SSRF-guarded fetcher (the API serves the file)
into a spool file; the pool decodes it, computes and writes the .npy array; the event loop
commits the array (fsync, rename) and creates the annotations through the API. Beside it,
librosa run directly in this process on the same file's bytes in memory, once per sound of
the batch, one after the other: `librosa.load(sr=22050)` (soundfile, mean of the channels,
soxr_hq), then the feature with the bot's parameters (for stft the same magnitudes, in
librosa's (bins, frames) layout, which the bot computes frames first at no extra cost). With
`--processes 1` both sides compute in one process (librosa's side may use BLAS threads, the
pool's processes use one each); the event loop's fetches, array commits and annotation round
trips overlap the pool's computing, as in a worker. "pool busy" is the CPU time of the
computing processes over the end-to-end time: below 100 % they waited (for the fetch, the
API or the event loop, which share the remaining cores with the API).
Each figure is the median of `--repeats` runs after a warm-up. The spectral bots (mel, chroma,
mfcc) read the stft bot's array instead of audio, while librosa starts from the file (decoding,
resampling and STFT included), so they can beat 1. Queue latency (arq's poll delay) is left
out on purpose: it is a setting, not a cost per second of audio. Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import librosa
import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

from bench.services import database, free_port
from workers.arq_settings import WorkerOptions
from workers.bots import BOTS, Namespace
from workers.bots.compute import AXES
from workers.features import SAMPLE_RATE
from workers.jobs import Runtime, process
from workers.main import pool_factory
from workers.sdk.arrays import bucket_name
from workers.sdk.client import ApiClient
from workers.sdk.local_arrays import LocalArrayStore
from workers.ssrf import parse_allow_networks

SR = 44_100
CREATE_USER = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id } apiKey userErrors { code message } } }"""
CREATE_SOUND = """mutation($input: [SoundInput!]!) {
  createSounds(input: $input) { sounds { id audioUrl durationSeconds } userErrors { message } } }"""


def music(seconds: float) -> np.ndarray:
    """Stereo test music: a decaying note every 250 ms over quiet noise. (samples, 2) float32."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.01 * rng.standard_normal(len(t))
    for k, start in enumerate(np.arange(0.1, seconds, 0.25)):
        i = int(start * SR)
        tail = t[: len(t) - i]
        pitch = 110 * 2 ** (rng.integers(0, 36) / 12)
        y[i:] += 0.3 * np.sin(2 * np.pi * pitch * tail) * np.exp(-(4 + k % 5) * tail)
    return np.stack([y, 0.8 * y], axis=1).astype(np.float32)


def bare(bot: str, data: bytes) -> object:
    """What a user's script does with the file's bytes: librosa.load(sr=22050) (soundfile,
    mean of channels, soxr_hq, float32), then the feature with the bot's parameters."""
    y22, _ = librosa.load(io.BytesIO(data), sr=SAMPLE_RATE)
    if bot == "stft":
        return np.abs(librosa.stft(y22))
    if bot == "mel":
        return librosa.power_to_db(librosa.feature.melspectrogram(y=y22, sr=SAMPLE_RATE))
    if bot == "chroma":
        return librosa.feature.chroma_stft(y=y22, sr=SAMPLE_RATE, tuning=0.0)
    if bot == "mfcc":
        return librosa.feature.mfcc(y=y22, sr=SAMPLE_RATE, n_mfcc=20)
    if bot == "onsets":
        return librosa.onset.onset_detect(y=y22, sr=SAMPLE_RATE, backtrack=True)
    if bot == "peaks":  # no librosa function: min and max of each 256-sample block
        blocks = librosa.util.frame(
            np.pad(y22, (0, -len(y22) % 256), mode="edge"), frame_length=256, hop_length=256
        )
        return np.stack([blocks.min(axis=0), blocks.max(axis=0)], axis=1)
    rms = librosa.feature.rms(y=y22)[0]
    return librosa.amplitude_to_db(rms, ref=1.0, amin=1e-5, top_db=None)


def pool_cpu_seconds(runtime: Runtime) -> float:
    """CPU seconds the pool's processes have used so far (Linux /proc; 0 elsewhere): how busy
    the computing process was while the bots ran, beside the wall time."""
    pool = runtime._pool
    total = 0.0
    for pid in getattr(pool, "_processes", None) or {}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def batch_size(seconds: float) -> int:
    """Sounds per timed batch: at least 4, and about two minutes of audio."""
    return max(4, math.ceil(120 / seconds))


@contextmanager
def api(database_url: str, data_dir: Path) -> Iterator[str]:
    """The API in its own process on a free loopback port, serving `data_dir`; its base URL."""
    port = free_port()
    env = {**os.environ, "COCHLEA_DATABASE_URL": database_url, "COCHLEA_DATA_DIR": str(data_dir)}
    env.pop("COCHLEA_REDIS_URL", None)
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API did not start") from None
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


async def measure(
    base: str, data_dir: Path, args: argparse.Namespace
) -> dict[float, dict[str, list[float]]]:
    """For each length in `args.seconds`: seconds per batch of `batch_size(length)` sounds for
    each bot end to end (`e2e:<bot>`) and for librosa (`bare:<bot>`)."""
    clients: dict[str, ApiClient] = {}
    async with ApiClient(url=base + "/graphql") as anonymous:
        for name, kind in [*((bot, "FEATUREBOT") for bot in BOTS), ("sounds", "DATASET")]:
            user = {"name": f"bench-{name}-{os.getpid()}", "type": kind, "aboutMe": name}
            made = await anonymous.mutate(CREATE_USER, {"input": user}, field="createUser")
            clients[name] = anonymous.with_token(made["apiKey"])
        arrays = data_dir / "files" / "arrays"
        store = LocalArrayStore(root=arrays, public_base_url=base + "/files/arrays")
        for bot in AXES:
            await store.ensure_bucket(bucket_name(bot=bot))
        runtime = Runtime(
            namespace=Namespace("bench"),
            store=store,
            clients=clients,
            make_pool=pool_factory(processes=args.processes),
            allow_networks=parse_allow_networks("127.0.0.0/8"),
            max_bytes=1 << 31,
            spool_slots=args.processes + 2,
        )
        try:
            return {
                seconds: await _measure_length(base, data_dir, runtime, clients, seconds, args)
                for seconds in args.seconds
            }
        finally:
            await runtime.aclose()
            for client in clients.values():
                await client.aclose()


async def _measure_length(
    base: str,
    data_dir: Path,
    runtime: Runtime,
    clients: dict[str, ApiClient],
    seconds: float,
    args: argparse.Namespace,
) -> dict[str, list[float]]:
    wav = io.BytesIO()
    sf.write(wav, music(seconds), SR, format="WAV", subtype="PCM_16")
    name = f"music-{seconds:g}.wav"
    (data_dir / "files" / "audio").mkdir(parents=True, exist_ok=True)
    (data_dir / "files" / "audio" / name).write_bytes(wav.getvalue())
    url, count = f"{base}/files/audio/{name}", batch_size(seconds)
    in_flight = asyncio.Semaphore(args.in_flight)

    async def job(bot: str, node: dict[str, Any]) -> dict[str, Any]:
        async with in_flight:
            return await process(runtime=runtime, bot=bot, node=node)

    times: dict[str, list[float]] = {}
    for repeat in range(args.repeats + 1):  # the first run warms up and is not counted
        sound_inputs = [
            {"title": "bench", "audioUrl": f"{url}?run={repeat}&sound={i}", "license": "CC0",
             "durationSeconds": seconds}
            for i in range(count)
        ]  # fmt: skip
        made = await clients["sounds"].mutate(
            CREATE_SOUND, {"input": sound_inputs}, field="createSounds"
        )
        sounds: list[dict[str, Any]] = made["sounds"]
        stft_notes: list[dict[str, Any]] = []
        for bot in BOTS:
            nodes = sounds if BOTS[bot].follows == "sound" else stft_notes
            start, cpu = time.perf_counter(), pool_cpu_seconds(runtime)
            results = await asyncio.gather(*(job(bot, node) for node in nodes))
            elapsed = time.perf_counter() - start
            if repeat:
                times.setdefault(f"pool:{bot}", []).append(pool_cpu_seconds(runtime) - cpu)
            if bot == "stft":
                stft_notes = [
                    {"id": result["first"], "durationSeconds": seconds, "sound": sound}
                    for result, sound in zip(results, sounds, strict=True)
                ]
            if repeat:
                times.setdefault(f"e2e:{bot}", []).append(elapsed)
        for bot in BOTS:  # interleaved, so both sides see the same machine
            start = time.perf_counter()
            for _ in range(count):
                bare(bot, wav.getvalue())
            if repeat:
                times.setdefault(f"bare:{bot}", []).append(time.perf_counter() - start)
    return times


def ratios(seconds: float, times: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """Per bot: (end-to-end RTF, librosa RTF) from one length's medians."""
    audio = seconds * batch_size(seconds)
    return {
        bot: (
            audio / statistics.median(times[f"e2e:{bot}"]),
            audio / statistics.median(times[f"bare:{bot}"]),
        )
        for bot in BOTS
    }


def report(
    found: dict[float, dict[str, list[float]]], args: argparse.Namespace, embedded: bool
) -> None:
    console = Console()
    for seconds, times in found.items():
        count = batch_size(seconds)
        table = Table(
            title=f"Featurebots on {count} x {seconds:g} s of 44.1 kHz stereo WAV "
            "(real-time factor)"
        )
        columns: tuple[str, ...] = ("bot", "end to end (s)", "pool busy", "end to end RTF")
        columns = (*columns, "librosa (s)", "librosa RTF")
        for name in (*columns, "ratio"):
            table.add_column(name, justify="left" if name == "bot" else "right")
        for bot, (rtf, lib_rtf) in ratios(seconds, times).items():
            e2e = statistics.median(times[f"e2e:{bot}"])
            lib = statistics.median(times[f"bare:{bot}"])
            busy = statistics.median(times[f"pool:{bot}"]) / e2e / args.processes
            figures = (f"{e2e:.3f}", f"{busy:.0%}", f"{rtf:,.0f}", f"{lib:.3f}", f"{lib_rtf:,.0f}")
            table.add_row(bot, *figures, f"{rtf / lib_rtf:.2f}")
        console.print(table)
    where = "embedded PostgreSQL" if embedded else "COCHLEA_DATABASE_URL"
    console.print(
        f"Medians of {args.repeats} runs after a warm-up; {args.in_flight} job(s) in flight on a "
        f"pool of {args.processes} process(es); API on loopback with {where}; "
        f"{os.cpu_count()} CPUs; 1-min load {os.getloadavg()[0]:.1f}. ratio = end-to-end RTF / "
        "librosa RTF (1 = no overhead; mel, chroma and mfcc start from the stored STFT); pool "
        "busy = CPU time of the computing processes / (end-to-end time x processes)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, nargs="+", default=[10.0, 300.0], help="sound lengths"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure")
    parser.add_argument("--processes", type=int, default=1, help="worker process pool size")
    parser.add_argument(
        "--in-flight", type=int, default=WorkerOptions().max_jobs, help="jobs at once (max_jobs)"
    )
    args = parser.parse_args()
    if min(args.seconds) <= 0 or min(args.repeats, args.processes, args.in_flight) < 1:
        parser.error("need --seconds > 0 and --repeats, --processes, --in-flight >= 1")
    with (
        database() as (database_url, embedded),
        tempfile.TemporaryDirectory(prefix="cochlea-bench-bots-") as tmp,
        api(database_url, Path(tmp)) as base,
    ):
        found = asyncio.run(measure(base, Path(tmp), args))
    report(found, args, embedded)


if __name__ == "__main__":
    main()
