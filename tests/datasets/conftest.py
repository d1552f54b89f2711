"""Fixtures for the importer tests: `cochlea import ...` in-process or as a child process,
against the session's real API, Redis and data directory, and GraphQL reads of the result."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.cli import main
from api.settings import Settings
from tests.factories import unique

USER_SOUNDS = """query($name: String!) {
  users(filter: {name: $name}, first: 1) { edges { node { id type aboutMe
    sounds(first: 200) { totalCount edges { node {
      id title audioUrl durationSeconds license tags infoUrl metadata
      annotations(first: 100) { totalCount edges { node {
        startSeconds endSeconds durationSeconds tags metadata } } } } } } } } } }"""


@dataclass
class Importer:
    api_url: str
    env: dict[str, str]
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str) -> tuple[int, str]:
        """Run `cochlea import argv...` in this process: (exit status, what it printed)."""
        self.capsys.readouterr()
        code = main(["import", *argv, "--api", self.api_url + "/graphql"])
        out, err = self.capsys.readouterr()
        return code, out + err

    def child(self, *argv: str) -> subprocess.Popen[str]:
        """The same command as a child process (stdout and stderr piped together)."""
        command = [sys.executable, "-m", "api.cli", "import", *argv]
        return subprocess.Popen(
            [*command, "--api", self.api_url + "/graphql"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def sounds(self, user: str) -> list[dict[str, Any]]:
        """Every sound of `user` (with annotations), through GraphQL; [] without the user."""
        body = {"query": USER_SOUNDS, "variables": {"name": user}}
        data = httpx.post(self.api_url + "/graphql", json=body, timeout=30).json()
        assert not data.get("errors"), data
        users = data["data"]["users"]["edges"]
        if not users:
            return []
        assert users[0]["node"]["type"] == "DATASET"
        return [e["node"] for e in users[0]["node"]["sounds"]["edges"]]

    def counts(self, user: str) -> tuple[int, int]:
        sounds = self.sounds(user)
        return len(sounds), sum(s["annotations"]["totalCount"] for s in sounds)


@pytest.fixture
def importer(
    api_url: str,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Importer:
    """`importer("nsynth", DIR, "--user", name)`; the environment names the test services."""
    for name in os.environ:
        if name.startswith("COCHLEA_") and not name.startswith("COCHLEA_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COCHLEA_REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("COCHLEA_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COCHLEA_PUBLIC_URL", api_url)
    return Importer(api_url=api_url, env=dict(os.environ), capsys=capsys)


@pytest.fixture
def user() -> str:
    return unique("ds")
