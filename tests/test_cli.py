"""The `cochlea` command as users run it: real subprocesses, real services, real signals.

`cochlea up` runs here with no COCHLEA_* variable at all, so it starts its own embedded
PostgreSQL and Redis in a temporary data directory, exactly as `make run` does on a fresh
machine; the test then stops it with SIGINT and starts it again on the same data.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from api.embedded import alive
from tests.services import free_port, wait_http

COCHLEA = shutil.which("cochlea", path=str(Path(sys.executable).parent))
COMMAND = [COCHLEA] if COCHLEA else [sys.executable, "-m", "api.cli"]
# The demo (api/demo.py) plus its synthetic collection imported by the dataset importers:
# 2 users, 100 NSynth notes (1 annotation each), 1 MusicNet piece (1 + 15 annotations).
DEMO_TOTALS = {"users": 5 + 2, "sounds": 7 + 101, "annotations": 40 + 116}
QUERY = """{
  stats { users sounds annotations }
  sounds(first: 50, filter: {creatorType: DATASET}) {
    edges { node { id title audioUrl annotations(first: 1) { totalCount } } }
  }
}"""


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any COCHLEA_* setting (no services, no URLs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCHLEA_")}
    return env | extra


@contextmanager
def running_up(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`cochlea up` on `port`, healthy; killed with everything it started if a test fails."""
    flags = [] if importlib.util.find_spec("workers.main") else ["--no-worker"]
    argv = [*COMMAND, "up", "--port", str(port), "--data-dir", str(data_dir), *flags]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=_clean_env(), cwd=data_dir.parent
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # The banner comes right after the API is healthy.
        while "Cochlea is running" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:  # the test failed: stop it all, by force if need be
            started = _everything_started_by(process, data_dir)
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            for pid in started:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            process.wait()


def _everything_started_by(process: subprocess.Popen[bytes], data_dir: Path) -> list[int]:
    """Pids of `up`'s children and of its daemons (PostgreSQL, Redis), which are not children:
    each daemonizes, so only its pid file knows it."""
    pids = [process.pid]
    with contextlib.suppress(psutil.Error):
        pids += [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
    with contextlib.suppress(OSError, ValueError, IndexError):
        pids.append(int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0]))
    with contextlib.suppress(OSError, ValueError, KeyError):
        registry = json.loads((data_dir / "redis" / "redis.db.settings").read_text())
        pids.append(int(Path(registry["pidfile"]).read_text()))
    return pids


def _stop(process: subprocess.Popen[bytes], data_dir: Path, log: Path) -> None:
    """SIGINT, as Ctrl-C would; a clean exit within 20 s, and nothing left running."""
    started = _everything_started_by(process, data_dir)
    assert len(started) >= 4, started  # up, the API, PostgreSQL, Redis (and the worker)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0, log.read_text()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in started if alive(pid)] == [], log.read_text()


def _graphql(port: int, query: str, token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{port}/graphql"
    body = httpx.post(url, json={"query": query}, headers=headers, timeout=30).json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory outside pytest's basetemp: as root, pgserver runs PostgreSQL as another
    user, who must traverse the path, and pytest resets its basetemp to mode 0700."""
    with tempfile.TemporaryDirectory(prefix="cochlea-up-") as tmp:
        yield Path(tmp)


@pytest.mark.slow
def test_up_runs_the_demo_stops_cleanly_and_keeps_its_data(scratch: Path) -> None:
    data_dir, port = scratch / "data", free_port()
    log = scratch / "up.log"

    with running_up(data_dir, port, log) as process:
        first = _graphql(port, QUERY)
        assert first["stats"] == DEMO_TOTALS
        sounds = {e["node"]["title"]: e["node"] for e in first["sounds"]["edges"]}
        assert "Twinkle, Twinkle, Little Star" in sounds
        assert sounds["Twinkle, Twinkle, Little Star"]["annotations"]["totalCount"] == 16

        # The demo audio is served by the API itself, with byte ranges and CORS.
        audio = httpx.get(
            sounds["A4 sine tone (440 Hz)"]["audioUrl"],
            headers={"Range": "bytes=0-99", "Origin": "http://example.org"},
        )
        assert audio.status_code == 206
        assert audio.headers["content-range"].startswith("bytes 0-99/")
        assert audio.content[:4] == b"RIFF" and len(audio.content) == 100
        assert audio.headers["access-control-allow-origin"] in ("*", "http://example.org")

        # The banner shows GraphiQL and a working token of the demo human.
        output = log.read_text()
        assert "datasets    101 sounds, 116 annotations (created 217 resources)" in output
        assert f"http://127.0.0.1:{port}/graphql" in output
        token = re.search(r"API token \(a fresh key of ada\): (\S+)", output)
        assert token, output
        assert _graphql(port, "{ viewer { name type } }", token[1])["viewer"] == {
            "name": "ada",
            "type": "HUMAN",
        }
        _stop(process, data_dir, log)
    assert "stopped" in log.read_text()

    # Same data directory: everything is still there, and nothing was seeded twice.
    with running_up(data_dir, port, log) as process:
        again = _graphql(port, QUERY)
        assert again == first
        assert "already there" in log.read_text()
        _stop(process, data_dir, log)


def test_migrate_applies_migrations_to_the_configured_database(database_url: str) -> None:
    done = subprocess.run(
        [*COMMAND, "migrate"],
        env=_clean_env(COCHLEA_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "migrations applied" in done.stdout


def test_migrate_without_a_database_says_so() -> None:
    done = subprocess.run(
        [*COMMAND, "migrate"], env=_clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "COCHLEA_DATABASE_URL is not set" in done.stdout


def test_serve_answers_and_stops_on_sigterm(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = _clean_env(
        COCHLEA_DATABASE_URL=database_url,
        COCHLEA_REDIS_URL=redis_url,
        COCHLEA_DATA_DIR=str(tmp_path),
    )
    process = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port), "--log-level", "warning"], env=env
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        assert _graphql(port, "{ stats { users } }")["stats"]["users"] >= 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
