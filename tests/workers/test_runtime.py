"""The bot runtime against the real API, PostgreSQL and Redis: identity, listener, failures.

Each test keeps its runtime state under its own Redis namespace; bot users are global on the
API (as in production), so the `stft` bot registered by one test is reused by the next.
"""

from __future__ import annotations

import asyncio

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.jobs import Job
from redis.exceptions import ConnectionError as RedisConnectionError

from api.settings import Settings
from tests.factories import make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient
from tests.services import free_port
from tests.workers.audio_server import AudioServer
from tests.workers.support import failures_by_source, running, tone_wav, wait_for
from workers.arq_settings import WorkerOptions
from workers.bots import Namespace, job_id
from workers.failures import Failure, RetryPolicy
from workers.listener import listen
from workers.main import retry_failure, serve
from workers.sdk.client import ApiClient
from workers.sdk.registry import IdentityLost, bot_key, ensure_bot

USER = "query($n: String!) { users(filter: {name: $n}) { edges { node { id type aboutMe } } } }"
SOUND_NOTES = """query($id: ID!) { node(id: $id) { ... on Sound {
  annotations { edges { node { id createdBy { name } dataUrl metadata } } } } } }"""


async def test_registration_creates_the_bot_then_reuses_its_key(
    redis: ArqRedis, api: ApiClient, gql: GraphQLClient
) -> None:
    name = unique("bot")
    first = await ensure_bot(redis=redis, client=api, name=name, about="Publishes v1 arrays.")
    users = (await gql(USER, {"n": name}))["users"]["edges"]
    assert [u["node"] for u in users] == [
        {"id": first.user_id, "type": "FEATUREBOT", "aboutMe": "Publishes v1 arrays."}
    ]
    assert (await redis.get(bot_key(name))).decode() == first.token

    again = await ensure_bot(redis=redis, client=api, name=name, about="Publishes v1 arrays.")
    assert again == first
    changed = await ensure_bot(redis=redis, client=api, name=name, about="Publishes v2 arrays.")
    assert changed == first
    users = (await gql(USER, {"n": name}))["users"]["edges"]
    assert [u["node"]["aboutMe"] for u in users] == ["Publishes v2 arrays."]


async def test_concurrent_first_starts_register_once(redis: ArqRedis, api: ApiClient) -> None:
    name = unique("bot")
    identities = await asyncio.gather(
        *(ensure_bot(redis=redis, client=api, name=name, about="About.") for _ in range(3))
    )
    assert len(set(identities)) == 1


async def test_a_lost_key_is_a_clear_error(redis: ArqRedis, api: ApiClient) -> None:
    name = unique("bot")
    await ensure_bot(redis=redis, client=api, name=name, about="About.")
    await redis.delete(bot_key(name))
    with pytest.raises(IdentityLost) as lost:
        await ensure_bot(redis=redis, client=api, name=name, about="About.")
    message = str(lost.value)
    assert name in message and bot_key(name) in message and "redis-cli SET" in message

    await redis.set(bot_key(name), "ck_revoked_000000")  # a key the API does not know
    with pytest.raises(IdentityLost, match="refuses its stored key"):
        await ensure_bot(redis=redis, client=api, name=name, about="About.")


async def _sound_cursors(gql: GraphQLClient, count: int) -> list[str]:
    data = await gql(f"{{ sounds(last: {count}) {{ edges {{ cursor node {{ id }} }} }} }}")
    return [edge["cursor"] for edge in data["sounds"]["edges"]]


async def test_listener_enqueues_deterministic_jobs_and_checkpoints_after_enqueue(
    redis: ArqRedis, api: ApiClient, api_url: str, gql: GraphQLClient, namespace: str
) -> None:
    names = Namespace(namespace)
    dataset = await make_user(gql)
    await make_sounds(gql, dataset, [sound_input()])  # a stream that is not empty
    url = api_url + "/graphql"

    async def run_listener(queue: ArqRedis) -> tuple[asyncio.Task[None], asyncio.Event]:
        ready = asyncio.Event()
        task = asyncio.create_task(
            listen(
                bot="stft",
                graphql_url=url,
                client=api,
                redis=redis,
                queue=queue,
                namespace=names,
                on_ready=ready.set,
            )
        )
        await asyncio.wait_for(ready.wait(), 30)
        return task, ready

    # A queue that cannot take the job: the listener fails and its checkpoint stays put.
    dead_queue = ArqRedis(host="127.0.0.1", port=free_port())
    task, _ = await run_listener(dead_queue)
    start = await redis.get(names.checkpoint("stft"))
    assert start is not None and start.decode() == (await _sound_cursors(gql, 1))[0]
    sounds = await make_sounds(gql, dataset, [sound_input(), sound_input()])
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(task, 30)
    await dead_queue.aclose()
    assert await redis.get(names.checkpoint("stft")) == start
    expected = [job_id(bot="stft", source_id=s["id"]) for s in sounds]
    assert all(e == f"stft:{s['id']}:v1" for e, s in zip(expected, sounds, strict=True))
    assert not await redis.exists(*(job_key_prefix + e for e in expected))

    # The same items again, with a working queue: both jobs, then the checkpoint moves.
    task, _ = await run_listener(redis)
    last = (await _sound_cursors(gql, 1))[0]

    async def caught_up() -> bool:
        return (await redis.get(names.checkpoint("stft"))) == last.encode()

    await wait_for(caught_up)
    queued = await redis.zrange(names.queue("stft"), 0, -1)
    assert sorted(q.decode() for q in queued) == sorted(expected)
    info = await Job(expected[0], redis, _queue_name=names.queue("stft")).info()
    assert info is not None and info.function == "featurebot" and info.args[0] == "stft"
    node = info.args[1]
    assert node == {k: sounds[0][k] for k in ("id", "audioUrl", "durationSeconds")}

    # A replay from the old checkpoint enqueues nothing twice.
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await redis.set(names.checkpoint("stft"), start)
    task, _ = await run_listener(redis)
    await wait_for(caught_up)
    assert await redis.zcard(names.queue("stft")) == 2
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_failures_are_recorded_with_their_reason_and_can_be_retried(
    worker_settings: Settings, gql: GraphQLClient, namespace: str
) -> None:
    dataset = await make_user(gql)
    await make_sounds(gql, dataset, [sound_input()])
    policy = RetryPolicy(max_tries=3, backoff_seconds=0.1, job_timeout=60)
    options = WorkerOptions(namespace=namespace, processes=1, poll_delay=0.05, policy=policy)
    wav = tone_wav()
    with AudioServer() as server:
        server.add("/page.html", body=b"<!doctype html><html><body>hi</body></html>")
        server.add("/busy.wav", status=503, body=b"try later")
        server.add("/short.wav", body=wav[: len(wav) // 2])
        server.add("/empty.wav", body=b"")
        server.add("/good.wav", body=wav)
        paths = ["/missing.wav", "/page.html", "/busy.wav", "/short.wav", "/empty.wav", "/good.wav"]
        async with running(worker_settings, options):
            inputs = [sound_input(audioUrl=server.url(p), durationSeconds=1.0) for p in paths]
            sounds = dict(zip(paths, await make_sounds(gql, dataset, inputs), strict=True))

            async def all_failed() -> dict[str, Failure] | None:
                found = await failures_by_source(worker_settings, namespace)
                return found if len(found) >= 5 else None

            found = await wait_for(all_failed)
            assert sounds["/good.wav"]["id"] not in found
            bad = {path: found[s["id"]] for path, s in sounds.items() if path != "/good.wav"}
            codes = {path: (failure.code, failure.tries) for path, failure in bad.items()}
            assert codes == {
                "/missing.wav": ("http_status", 1),
                "/page.html": ("not_audio", 1),
                "/busy.wav": ("http_status", 3),
                "/short.wav": ("decode_error", 1),
                "/empty.wav": ("decode_error", 1),
            }
            busy = found[sounds["/busy.wav"]["id"]]
            assert "503" in busy.reason and busy.url == server.url("/busy.wav")
            assert busy.id == job_id(bot="stft", source_id=busy.source)
            assert server.paths().count("/busy.wav") == 3
            good = (await gql(SOUND_NOTES, {"id": sounds["/good.wav"]["id"]}))["node"]
            assert [e["node"]["createdBy"]["name"] for e in good["annotations"]["edges"]] == [
                "stft"
            ]

            # The host recovers; an operator re-queues the job, which now succeeds.
            server.add("/busy.wav", body=wav)
            requeued = await asyncio.to_thread(
                retry_failure, settings=worker_settings, failure_id=busy.id, namespace=namespace
            )
            assert requeued.id == busy.id

            async def annotated() -> bool:
                node = (await gql(SOUND_NOTES, {"id": busy.source}))["node"]
                return bool(node["annotations"]["edges"])

            await wait_for(annotated)
            remaining = await failures_by_source(worker_settings, namespace)
            assert busy.source not in remaining and len(remaining) == 4
        with pytest.raises(KeyError):
            await asyncio.to_thread(
                retry_failure, settings=worker_settings, failure_id="stft:0:v1", namespace=namespace
            )


async def test_a_refused_address_fails_at_once_without_any_request(
    worker_settings: Settings, gql: GraphQLClient, namespace: str
) -> None:
    guarded = worker_settings.model_copy(update={"fetch_allow_networks": ""})
    dataset = await make_user(gql)
    await make_sounds(gql, dataset, [sound_input()])
    options = WorkerOptions(namespace=namespace, processes=1, poll_delay=0.05)
    with AudioServer() as server:
        server.add("/a.wav", body=tone_wav())
        async with running(guarded, options):
            [sound] = await make_sounds(
                gql, dataset, [sound_input(audioUrl=server.url("/a.wav"), durationSeconds=1.0)]
            )

            async def failed() -> dict[str, Failure]:
                return await failures_by_source(guarded, namespace)

            found = (await wait_for(failed))[sound["id"]]
        assert (found.code, found.tries) == ("blocked_address", 1)
        assert "loopback" in found.reason
        assert server.request_count == 0


async def test_unknown_bots_are_refused(worker_settings: Settings) -> None:
    with pytest.raises(ValueError, match="no featurebot called nope"):
        await serve(settings=worker_settings, bots=["nope"], stop=asyncio.Event())
