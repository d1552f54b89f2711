"""End to end: sounds on a local HTTP server get every bot's output, computed by a real worker
process against the real API, PostgreSQL, Redis and array store (S3 server, or the API's files).

The S3 run kills the worker with SIGKILL while a job is in flight and starts it again: arq runs
the interrupted job once its lease expires, and every (bot, source) still has one annotation.
Arrays are fetched back over HTTP and compared with librosa run directly on the same audio.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import librosa
import numpy as np
import pytest
import soundfile as sf
from arq.connections import ArqRedis, RedisSettings, create_pool

from api.settings import Settings
from tests.factories import make_annotations, make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient
from tests.workers.audio_server import AudioServer, encode
from workers.bots import BOTS, Namespace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 3.0
JOB_TIMEOUT = 8  # s; arq's lease on a killed job's id is this plus 15 s
ARRAY_BOTS = ("stft", "mel", "chroma", "mfcc", "loudness")
PEAKS = ("peaks",)  # its own frame rate; its values are checked in test_peaks.py
ByBot = dict[str, list[dict[str, Any]]]  # a sound's annotations by their bot's name
ANNOTATIONS = """query($id: ID!) { node(id: $id) { ... on Sound { annotations(first: 500) {
  edges { node { id startSeconds durationSeconds tags dataUrl metadata createdBy { name } } } } } } }"""


def notes(sr: int = 44_100) -> np.ndarray:
    """Five decaying tones, one every half second: five onsets. Stereo (samples, 2)."""
    t = np.arange(int(SECONDS * sr)) / sr
    y = np.zeros_like(t)
    for i, pitch in enumerate((220, 330, 440, 550, 660)):
        start = int((0.25 + 0.5 * i) * sr)
        since = t[: len(t) - start]
        y[start:] += 0.4 * np.sin(2 * np.pi * pitch * since) * np.exp(-6 * since)
    return np.stack([y, 0.5 * y], axis=1).astype(np.float32)


def bursts(sr: int = 48_000) -> np.ndarray:
    """Near full-scale bursts (mono, -3 dB RMS), for the `loud` tag and resampling from 48 kHz."""
    t = np.arange(int(SECONDS * sr)) / sr
    y = 0.99 * np.sin(2 * np.pi * 150 * t)
    y[(np.arange(len(y)) // (sr // 4)) % 2 == 1] = 0.0
    return y.astype(np.float32)


AUDIO = {
    "/notes.wav": encode(notes(), sr=44_100, format="WAV", subtype="PCM_16"),
    "/bursts.flac": encode(bursts(), sr=48_000, format="FLAC", subtype="PCM_16"),
    "/silence.wav": encode(np.zeros(int(SECONDS * 22_050), np.float32), sr=22_050, format="WAV"),
}


def reference(data: bytes) -> dict[str, Any]:
    """What a user gets from librosa directly: mono, 22,050 Hz, default parameters."""
    samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    y = librosa.to_mono(samples.T)
    y = librosa.resample(y, orig_sr=sr, target_sr=22_050) if sr != 22_050 else y
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Trying to estimate tuning", UserWarning)  # silence
        return {
            "stft": np.abs(librosa.stft(y)).T,
            "mel": librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22_050)).T,
            "chroma": librosa.feature.chroma_stft(y=y, sr=22_050, tuning=0.0).T,
            "mfcc": librosa.feature.mfcc(y=y, sr=22_050, n_mfcc=20).T,
            "loudness": librosa.amplitude_to_db(
                librosa.feature.rms(y=y)[0], ref=1.0, amin=1e-5, top_db=None
            ),
            "onsets": librosa.onset.onset_detect(y=y, sr=22_050, backtrack=True, units="time"),
        }


async def wait_for(
    condition: Callable[[], Awaitable[Any]], *, within: float, what: str, log: Path
) -> Any:
    """Poll `condition` until truthy; fail after `within` s, showing the worker's log."""
    deadline = asyncio.get_running_loop().time() + within
    while not (result := await condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {within} s; worker log:\n{tail(log)}")
        await asyncio.sleep(0.05)
    return result


@contextmanager
def worker_process(env: dict[str, str], ns: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m workers.main` in its own session (its pool processes too); SIGTERM on exit,
    SIGKILL to the whole group if it does not stop."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "workers.main", "--namespace", ns),
                *("--processes", "2", "--job-timeout", str(JOB_TIMEOUT)),
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


async def stopped_cleanly(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM stops the worker with status 0, its pool processes with it."""
    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 30) == 0, tail(log)

    async def group_gone() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    await wait_for(group_gone, within=30, what="the pool processes' exit", log=log)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    yield pool
    await pool.aclose()


def worker_env(settings: Settings, api_url: str, **extra: str) -> dict[str, str]:
    """The worker's configuration: only COCHLEA_* variables, pointing at the test services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCHLEA_")}
    return env | {
        "PYTHONPATH": str(ROOT),
        "COCHLEA_REDIS_URL": settings.redis_url or "",
        "COCHLEA_PUBLIC_URL": api_url,
        "COCHLEA_DATA_DIR": str(settings.data_dir),
        "COCHLEA_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
        **extra,
    }


async def annotations_by_bot(gql: GraphQLClient, sound_id: str) -> ByBot:
    edges = (await gql(ANNOTATIONS, {"id": sound_id}))["node"]["annotations"]["edges"]
    found: ByBot = {}
    for edge in edges:
        found.setdefault(edge["node"]["createdBy"]["name"], []).append(edge["node"])
    return found


async def run_scenario(
    *, gql: GraphQLClient, redis: ArqRedis, env: dict[str, str], log: Path, kill: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, ByBot]]:
    """Start a worker, add the sounds, (kill and restart it mid-job,) wait until every bot is
    done. Returns the sounds by path and their annotations by bot."""
    namespace = unique("e2e")
    names = Namespace(namespace)
    dataset = await make_user(gql)
    # Every stream has an item, so each listener stores its starting point at once.
    [first] = await make_sounds(gql, dataset, [sound_input()])
    note = {"sound": first["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["x"]}
    await make_annotations(gql, dataset, [note])
    expected = {path: len(reference(body)["onsets"]) for path, body in AUDIO.items()}
    sounds: dict[str, dict[str, Any]] = {}

    async def done() -> dict[str, ByBot] | None:
        found = {p: await annotations_by_bot(gql, s["id"]) for p, s in sounds.items()}
        for path, by_bot in found.items():
            if any(len(by_bot.get(bot, [])) < 1 for bot in (*ARRAY_BOTS, *PEAKS)):
                return None
            if len(by_bot.get("onsets", [])) < expected[path]:
                return None
        return found

    with AudioServer() as server:
        for path, body in AUDIO.items():  # one slow download: a job surely in flight
            server.add(path, body=body, delay=2.0 if path == "/notes.wav" else 0.0)
        with worker_process(env, namespace, log) as process:

            async def ready() -> bool:
                assert process.poll() is None, tail(log)
                return all([await redis.exists(names.checkpoint(bot)) for bot in BOTS])

            await wait_for(ready, within=60, what="the worker's listeners", log=log)
            inputs = [
                sound_input(title=path, audioUrl=server.url(path), durationSeconds=SECONDS)
                for path in AUDIO
            ]
            sounds.update(zip(AUDIO, await make_sounds(gql, dataset, inputs), strict=True))
            if not kill:
                found = await wait_for(done, within=60, what="all bots' output", log=log)
                await stopped_cleanly(process, log)
            else:

                async def in_flight() -> bool:
                    keys = await redis.keys("arq:in-progress:*")
                    return any(sounds["/notes.wav"]["id"] in key.decode() for key in keys)

                await wait_for(in_flight, within=30, what="a job in flight", log=log)
                os.killpg(process.pid, signal.SIGKILL)  # a crash: worker and pool die mid-job
                process.wait()
        if kill:
            with worker_process(env, namespace, log):
                found = await wait_for(done, within=75, what="all bots' output", log=log)
    assert await redis.hgetall(names.failures) == {}  # type: ignore[misc]
    # Nothing more appears once the worker is gone, and nothing appeared twice.
    again = {p: await annotations_by_bot(gql, s["id"]) for p, s in sounds.items()}
    assert again == found
    for path, by_bot in found.items():
        assert {b: len(v) for b, v in by_bot.items()} == {
            **{bot: 1 for bot in (*ARRAY_BOTS, *PEAKS)},
            **({"onsets": expected[path]} if expected[path] else {}),
        }
    return sounds, found


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


async def check_outputs(
    sounds: dict[str, dict[str, Any]],
    found: dict[str, ByBot],
    *,
    url_prefix: str,
) -> None:
    """Every array equals librosa's; metadata is complete; Range requests return frames."""
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        for path, sound in sounds.items():
            want = reference(AUDIO[path])
            by_bot = {bot: made[0] for bot, made in found[path].items() if bot in ARRAY_BOTS}
            for bot, note in by_bot.items():
                assert note["dataUrl"] == f"{url_prefix}/cochlea-{bot}/{sound['id']}.npy"
                assert (note["startSeconds"], note["durationSeconds"]) == (0.0, SECONDS)
                meta = note["metadata"]
                source = by_bot["stft"]["id"] if BOTS[bot].follows == "stft" else sound["id"]
                assert meta["source"] == source
                assert meta["dtype"] == "<f4" and meta["sampleRate"] == 22_050
                assert meta["frameRate"] == pytest.approx(22_050 / 512)
                assert set(meta) >= {"axes", "params", "versions", "dataOffset", "shape"}
                response = await http.get(note["dataUrl"])
                assert response.status_code == 200
                array = np.load(io.BytesIO(response.content), allow_pickle=False)
                assert list(array.shape) == meta["shape"] == list(want[bot].shape)
                scale = max(float(np.max(np.abs(want[bot]))), 1.0)
                np.testing.assert_allclose(array, want[bot], rtol=1e-4, atol=1e-4 * scale)
            stft = by_bot["stft"]["metadata"]
            i, j, row = 10, 25, 4 * stft["shape"][1]  # frames [i, j) in one Range request
            first, last = stft["dataOffset"] + i * row, stft["dataOffset"] + j * row - 1
            ranged = await http.get(
                by_bot["stft"]["dataUrl"], headers={"Range": f"bytes={first}-{last}"}
            )
            assert ranged.status_code == 206
            frames = np.frombuffer(ranged.content, dtype="<f4").reshape(j - i, stft["shape"][1])
            np.testing.assert_allclose(frames, want["stft"][i:j], rtol=1e-4, atol=1e-3)
            segments = found[path].get("onsets", [])
            assert all(n["tags"] == ["onset"] and n["dataUrl"] is None for n in segments)
            starts = sorted(n["startSeconds"] for n in segments)
            np.testing.assert_allclose(starts, want["onsets"], atol=1e-6)
        tags = {p: found[p]["loudness"][0]["tags"] for p in sounds}
        assert tags == {"/notes.wav": [], "/bursts.flac": ["loud"], "/silence.wav": ["silent"]}


@pytest.mark.parametrize("store", ["s3", "local"])
async def test_every_bot_once_per_source_equal_to_librosa(
    store: str, settings: Settings, api_url: str, gql: GraphQLClient, redis: ArqRedis,
    tmp_path: Path, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """The S3 run also survives its worker being killed mid-job and started again."""
    if store == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        s3 = {"endpoint": endpoint, "access_key": "testing", "secret_key": "testing"}
        env = worker_env(settings, api_url, **{f"COCHLEA_S3_{k.upper()}": v for k, v in s3.items()})
        prefix = f"http://{endpoint}"
    else:
        env, prefix = worker_env(settings, api_url), f"{api_url}/files/arrays"
    log = tmp_path / "worker.log"
    sounds, found = await run_scenario(gql=gql, redis=redis, env=env, log=log, kill=store == "s3")
    await check_outputs(sounds, found, url_prefix=prefix)
