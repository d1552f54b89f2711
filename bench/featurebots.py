"""How fast each featurebot turns audio into annotations, next to librosa doing the same maths.

    python -m bench.featurebots [--seconds 30] [--repeats 3]

For each bot: the real-time factor (audio seconds per wall second) of the bot's job end to end,
`workers.jobs.process`: fetch over local HTTP through the SSRF-guarded fetcher (the API serves
the file), decode, compute in the worker's process pool, store the .npy array, create the
annotation through the API. Beside it, librosa run directly in this process on the same file's
bytes in memory (decoded, mono, resampled to 22,050 Hz, the bot's parameters), in the same run.
Each figure is the median of `--repeats` runs after a warm-up. The spectral bots (mel, chroma,
mfcc) read the stft bot's array instead of audio, while librosa starts from the file (decoding,
resampling and STFT included), so they can beat 1. Queue latency (arq's poll delay) is left
out on purpose: it is a setting, not a cost per second of audio. Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
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
from workers.bots import BOTS, Namespace
from workers.bots.compute import AXES
from workers.features import SAMPLE_RATE
from workers.jobs import Runtime, process
from workers.main import pool_factory
from workers.sdk.arrays import LocalArrayStore, bucket_name
from workers.sdk.client import ApiClient
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
    mean of channels, soxr_hq), then the feature with the bot's parameters."""
    y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    y22 = librosa.resample(librosa.to_mono(y.T), orig_sr=sr, target_sr=SAMPLE_RATE)
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
    rms = librosa.feature.rms(y=y22)[0]
    return librosa.amplitude_to_db(rms, ref=1.0, amin=1e-5, top_db=None)


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


async def measure(base: str, data_dir: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per run for each bot end to end (`e2e:<bot>`) and for librosa (`bare:<bot>`)."""
    wav = io.BytesIO()
    sf.write(wav, music(args.seconds), SR, format="WAV", subtype="PCM_16")
    (data_dir / "files" / "audio").mkdir(parents=True, exist_ok=True)
    (data_dir / "files" / "audio" / "music.wav").write_bytes(wav.getvalue())
    url = base + "/files/audio/music.wav"
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
        )
        times: dict[str, list[float]] = {}
        try:
            for repeat in range(args.repeats + 1):  # the first run warms up and is not counted
                sound_input = {
                    "title": "bench", "audioUrl": f"{url}?run={repeat}", "license": "CC0",
                    "durationSeconds": args.seconds,
                }  # fmt: skip
                data = await clients["sounds"].mutate(
                    CREATE_SOUND, {"input": [sound_input]}, field="createSounds"
                )
                sound = data["sounds"][0]
                stft_note: dict[str, Any] = {}
                for bot in BOTS:
                    node = sound if BOTS[bot].follows == "sound" else stft_note
                    start = time.perf_counter()
                    result = await process(runtime=runtime, bot=bot, node=node)
                    seconds = time.perf_counter() - start
                    if bot == "stft":
                        stft_note.update(
                            id=result["first"], durationSeconds=args.seconds, sound=sound
                        )
                    if repeat:
                        times.setdefault(f"e2e:{bot}", []).append(seconds)
                for bot in BOTS:  # interleaved, so both sides see the same machine
                    start = time.perf_counter()
                    bare(bot, wav.getvalue())
                    if repeat:
                        times.setdefault(f"bare:{bot}", []).append(time.perf_counter() - start)
        finally:
            await asyncio.to_thread(runtime.shutdown)
            for client in clients.values():
                await client.aclose()
    return times


def report(times: dict[str, list[float]], args: argparse.Namespace, embedded: bool) -> None:
    table = Table(
        title=f"Featurebots on {args.seconds:g} s of 44.1 kHz stereo WAV (real-time factor)"
    )
    columns = ("bot", "end to end (s)", "end to end RTF", "librosa (s)", "librosa RTF", "ratio")
    for name in columns:
        table.add_column(name, justify="left" if name == "bot" else "right")
    for bot in BOTS:
        e2e = statistics.median(times[f"e2e:{bot}"])
        lib = statistics.median(times[f"bare:{bot}"])
        rtf, lib_rtf = args.seconds / e2e, args.seconds / lib
        figures = (f"{e2e:.3f}", f"{rtf:,.0f}", f"{lib:.3f}", f"{lib_rtf:,.0f}")
        table.add_row(bot, *figures, f"{rtf / lib_rtf:.2f}")
    console = Console()
    console.print(table)
    where = "embedded PostgreSQL" if embedded else "COCHLEA_DATABASE_URL"
    console.print(
        f"Medians of {args.repeats} runs after a warm-up; pool of {args.processes} process(es); "
        f"API on loopback with {where}; {os.cpu_count()} CPUs. ratio = end-to-end RTF / librosa "
        "RTF (1 = no overhead; mel, chroma and mfcc start from the stored STFT)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the test audio")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure")
    parser.add_argument("--processes", type=int, default=1, help="worker process pool size")
    args = parser.parse_args()
    if args.seconds <= 0 or args.repeats < 1 or args.processes < 1:
        parser.error("need --seconds > 0, --repeats >= 1 and --processes >= 1")
    with (
        database() as (database_url, embedded),
        tempfile.TemporaryDirectory(prefix="cochlea-bench-bots-") as tmp,
        api(database_url, Path(tmp)) as base,
    ):
        times = asyncio.run(measure(base, Path(tmp), args))
    report(times, args, embedded)


if __name__ == "__main__":
    main()
