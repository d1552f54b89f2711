"""The README tells the truth: its configuration table lists every setting with its default,
and its tour runs as written against a real server with the demo seeded.

The tour's ```graphql blocks run in order, each with the ```json blocks that follow it
(a JSON object with `Authorization` is the Headers pane, any other the Variables pane). The
placeholders stand for what a reader copies from earlier answers: the token `cochlea up`
printed, a cursor, the bot's key from its sign-up, and the id of a demo sound.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

from api import demo
from api.settings import Settings
from workers.sdk.graphql_ws import subscribe

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


@dataclass
class Step:
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def tour() -> list[Step]:
    steps: list[Step] = []
    for language, body in FENCE.findall(README):
        if language == "graphql":
            steps.append(Step(body))
        elif language == "json" and steps:
            pane = json.loads(body)
            (steps[-1].headers if "Authorization" in pane else steps[-1].variables).update(pane)
    return steps


def _shown(default: object) -> str:
    """How the table shows a default."""
    if default is None:
        return "unset"
    if default == "":
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def test_configuration_table_lists_every_setting_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(COCHLEA_\w+)` \| ([^|]+) \|", README, re.M))
    fields = Settings.model_fields
    assert set(rows) == {f"COCHLEA_{name.upper()}" for name in fields}
    for name, info in fields.items():
        assert rows[f"COCHLEA_{name.upper()}"].strip().startswith(_shown(info.default)), name


def test_readme_names_the_commands() -> None:
    for command in ("make run", "make test", "make bench", "cochlea serve", "cochlea worker"):
        assert command in README
    assert "cochlea migrate" in README and "docker compose up" in README


def _find(data: Any, key: str) -> list[Any]:
    """Every value of `key` anywhere in a JSON answer."""
    if isinstance(data, dict):
        found = [data[key]] if key in data else []
        return found + [v for value in data.values() for v in _find(value, key)]
    if isinstance(data, list):
        return [v for item in data for v in _find(item, key)]
    return []


async def _run(http: httpx.AsyncClient, url: str, step: Step) -> Any:
    if step.query.lstrip().startswith("subscription"):
        token = step.headers.get("Authorization", "").removeprefix("Bearer ") or None
        events = cast(
            AsyncGenerator[Any, None], subscribe(url, step.query, step.variables, token=token)
        )
        async with aclosing(events), asyncio.timeout(15):
            return await anext(events)  # replayed from the cursor: no wait for new commits
    answer = await http.post(url, json={"query": step.query, "variables": step.variables},
                             headers=step.headers)  # fmt: skip
    body = answer.json()
    assert not body.get("errors"), (step.query, body["errors"])
    return body["data"]


async def test_the_tour_runs_as_written(
    settings: Settings, api_url: str, http: httpx.AsyncClient
) -> None:
    seeded = await demo.seed(settings.model_copy(update={"public_url": api_url}))
    assert seeded.token
    url = api_url + "/graphql"
    melodies = await _run(
        http, url, Step('{ sounds(first: 50, filter: {tags: ["melody"]}) { edges { node { id title } } } }')
    )  # fmt: skip
    [twinkle] = [
        e["node"]["id"]
        for e in melodies["sounds"]["edges"]
        if e["node"]["title"] == "Twinkle, Twinkle, Little Star"
    ]
    copied = {"THE_TOKEN_COCHLEA_UP_PRINTED": seeded.token, "THE_TWINKLE_SOUND_ID": twinkle}

    steps = tour()
    assert len(steps) >= 7
    for step in steps:
        panes = json.dumps([step.variables, step.headers])
        for placeholder, value in copied.items():
            panes = panes.replace(placeholder, value)
        assert not re.search(r"\b(THE|A)_[A-Z_]+", panes), f"nothing earlier gives {panes}"
        step.variables, step.headers = json.loads(panes)
        data = await _run(http, url, step)
        assert data and all(errors == [] for errors in _find(data, "userErrors")), data
        keys = [k for k in _find(data, "apiKey") if k]
        if keys:
            copied["THE_BOT_API_KEY"] = keys[0]
        if cursors := _find(data, "cursor"):
            copied.setdefault("A_CURSOR_FROM_THE_PAGE_ABOVE", cursors[0])
        if "after" in step.variables and _find(data, "hasNextPage") == [True]:
            [cursor] = _find(data, "endCursor")
            await _run(http, url, Step(step.query, {**step.variables, "after": cursor}))
            copied["PAGED"] = "yes"
    assert "THE_BOT_API_KEY" in copied and "PAGED" in copied
