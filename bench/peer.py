"""PostGraphile v4, the peer a user might pick instead: installed with npm into a scratch
directory, run on the same database, reached on a loopback port.

v4 runs on Node 20 (v5 needs Node 22); `postgraphile-plugin-connection-filter@2` is the line
that supports v4 (its 4.x line peers on PostGraphile 5). If npm, Node or the package cannot be
had, `PeerUnavailable` says why, and the benchmark reports that instead of a figure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from api.db.engine import libpq_url
from bench.services import free_port

SCRATCH = Path(__file__).resolve().parent / ".peer"
PACKAGES = ["postgraphile@4", "postgraphile-plugin-connection-filter@2"]
OPTIONS = [
    "--cluster-workers",
    "2",
    "--dynamic-json",
    "--disable-query-log",
    "--disable-graphiql",
    "--append-plugins",
    "postgraphile-plugin-connection-filter",
]


class PeerUnavailable(RuntimeError):
    """PostGraphile could not be installed or started; the message says why."""


def cursor(id_: str) -> str:
    """PostGraphile v4's cursor for a row in primary-key order (base64 JSON)."""
    raw = json.dumps(["primary_key_asc", [id_]], separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def install(scratch: Path = SCRATCH) -> Path:
    """The `postgraphile` executable, installed into `scratch` on first use."""
    binary = scratch / "node_modules" / ".bin" / "postgraphile"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PeerUnavailable("npm or node is not installed")
    scratch.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(scratch), "--no-audit", "--no-fund", *PACKAGES]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable("npm install did not finish within 10 minutes") from None
    if done.returncode != 0 or not binary.exists():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PeerUnavailable(f"npm install failed: {last[0][:160]}")
    return binary


@contextmanager
def peer_process(database_url: str, scratch: Path = SCRATCH) -> Iterator[str]:
    """PostGraphile on a free loopback port with two cluster workers; yields its GraphQL URL."""
    binary = install(scratch)
    port = free_port()
    command = [str(binary), "-c", libpq_url(database_url), "-s", "public"]
    command += ["--host", "127.0.0.1", "--port", str(port), *OPTIONS]
    log = (scratch / "postgraphile.log").open("wb")
    # Its own process group: the cluster workers stop with the master we started.
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        _wait_ready(url, process, scratch)
        yield url
    finally:
        _stop(process)
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], scratch: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (scratch / "postgraphile.log").read_text(errors="replace")[-300:]
            raise PeerUnavailable(f"PostGraphile exited ({process.returncode}): {tail.strip()}")
        try:
            if httpx.post(url, json={"query": "{ __typename }"}, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise PeerUnavailable("PostGraphile did not answer within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGTERM)  # any cluster worker left behind
    except ProcessLookupError:
        pass
