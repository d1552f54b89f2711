"""`cochlea worker failures` and `cochlea worker retry ID`, run as an operator would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import asdict
from pathlib import Path

import redis as redis_sync

from workers.bots import Namespace
from workers.failures import Failure


def _cochlea(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("cochlea", path=str(Path(sys.executable).parent)) or "cochlea"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCHLEA_")}
    env["COCHLEA_REDIS_URL"] = redis_url
    return subprocess.run([executable, *args], env=env, capture_output=True, text=True, timeout=60)


def test_failures_are_listed_and_requeued(redis_url: str) -> None:
    names = Namespace()
    source = str(uuid.uuid4())
    failure = Failure(
        id=f"stft:{source}:v1",
        bot="stft",
        source=source,
        code="not_audio",
        reason="the body is an HTML page",
        tries=1,
        failed_at="2026-01-01T00:00:00+00:00",
        node={"id": source, "audioUrl": "http://127.0.0.1:9/page.html", "durationSeconds": 1.0},
    )
    client = redis_sync.Redis.from_url(redis_url)
    try:
        client.hset(names.failures, failure.id, json.dumps(asdict(failure)))
        listed = _cochlea(redis_url, "worker", "failures")
        assert listed.returncode == 0, listed.stderr
        assert "not_audio" in listed.stdout and source[:8] in listed.stdout

        retried = _cochlea(redis_url, "worker", "retry", failure.id)
        assert retried.returncode == 0, retried.stderr
        assert client.hget(names.failures, failure.id) is None
        queued = client.zrange(names.queue("stft"), 0, -1)
        assert failure.id.encode() in queued

        unknown = _cochlea(redis_url, "worker", "retry", "stft:nothing:v1")
        assert unknown.returncode == 1 and "no failed job" in unknown.stdout
    finally:
        client.zrem(names.queue("stft"), failure.id)
        client.delete(f"arq:job:{failure.id}")
        client.close()
