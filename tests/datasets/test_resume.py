"""Killed at any point and started again, an import converges to every item exactly once; a
re-run of a finished import creates nothing and says so."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.datasets.conftest import Importer
from tests.datasets.formats import example, nsynth

TOTALS = """query($name: String!) { users(filter: {name: $name}, first: 1) { edges { node {
  sounds(first: 1) { totalCount } annotations(first: 1) { totalCount } } } } }"""
NOTES = 300


def totals(api_url: str, user: str) -> tuple[int, int]:
    body = {"query": TOTALS, "variables": {"name": user}}
    edges = httpx.post(api_url + "/graphql", json=body, timeout=30).json()["data"]["users"]
    if not edges["edges"]:
        return 0, 0
    node = edges["edges"][0]["node"]
    return node["sounds"]["totalCount"], node["annotations"]["totalCount"]


def test_sigkill_then_resume_imports_each_note_exactly_once(
    importer: Importer, user: str, tmp_path: Path
) -> None:
    notes = [example("organ", n // 80, 21 + n % 80, 100) for n in range(NOTES)]
    split = nsynth(tmp_path / "split", notes, seconds=0.05)
    child = importer.child("nsynth", str(split), "--user", user, "--batch-size", "5")
    deadline = time.monotonic() + 60
    while totals(importer.api_url, user)[0] == 0 and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[0]
        time.sleep(0.01)
    assert child.poll() is None, "the import finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    at_kill = totals(importer.api_url, user)
    assert 0 < at_kill[0] < NOTES, at_kill

    code, out = importer("nsynth", str(split), "--user", user)
    assert code == 0, out
    assert totals(importer.api_url, user) == (NOTES, NOTES)
    assert "already present" in out

    code, out = importer("nsynth", str(split), "--user", user)
    assert code == 0, out
    assert f"nothing new to create: {NOTES} sounds and {NOTES} annotations" in out
    assert totals(importer.api_url, user) == (NOTES, NOTES)
