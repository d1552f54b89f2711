"""The sound map and the search box against the real aggregators: `cochlea aggregator
similarity|search` processes following the test API, found as AGGREGATOR users."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import Settings
from tests.aggregators.conftest import Aggregator, running_aggregator
from tests.aggregators.test_similarity_e2e import EVERYWHERE, MAP, array_note, bots, family, put
from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient
from tests.web.conftest import Watched
from tests.web.support import tone_wav
from workers.features import FRAME_RATE

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass
class Mapped:
    owner: str  # the DATASET user who made the sounds
    sounds: dict[str, str]  # id -> audio URL
    similarity: Aggregator
    search: Aggregator


@pytest.fixture(scope="module")
def aggregator_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tmp_path_factory.mktemp("similarity"), tmp_path_factory.mktemp("search")


@pytest.fixture(scope="module")
async def sound_world(
    api_url: str, settings: Settings, s3_endpoint: str
) -> tuple[str, dict[str, str]]:
    files = Path(settings.data_dir) / "files" / "map"
    files.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(timeout=30) as http:
        gql = GraphQLClient(http, api_url + "/graphql")
        b = await bots(gql, s3_endpoint, settings)
        owner = await make_user(gql, "DATASET")
        pairs = [family(1, 1), family(1, 2), family(2, 1)]
        inputs = []
        for i, (mfcc, _) in enumerate(pairs):
            seconds = len(mfcc) / FRAME_RATE
            (files / f"s{i}.wav").write_bytes(tone_wav(seconds=seconds, hz=220.0 * (i + 1)))
            title = ["Violin glissando", "Violin pizzicato", "Piano chord"][i]
            inputs.append(
                sound_input(
                    title=title,
                    audioUrl=f"{api_url}/files/map/s{i}.wav",
                    durationSeconds=seconds,
                    tags=[title.split()[0].lower()],
                )
            )
        sounds = await make_sounds(gql, owner, inputs)
        for index, account in ((0, b.mfcc), (1, b.chroma)):
            bot = "mfcc" if index == 0 else "chroma"
            notes = [
                array_note(s["id"], *await put(b, bot, pair[index]))
                for s, pair in zip(sounds, pairs, strict=True)
            ]
            await make_annotations(gql, account, notes)
    return owner.id, {s["id"]: s["audioUrl"] for s in sounds}


@pytest.fixture(scope="module")
async def mapped(
    sound_world: tuple[str, dict[str, str]],
    settings: Settings,
    api_url: str,
    aggregator_dirs: tuple[Path, Path],
) -> AsyncIterator[Mapped]:
    with (
        running_aggregator("similarity", settings, api_url, aggregator_dirs[0]) as similarity,
        running_aggregator("search", settings, api_url, aggregator_dirs[1]) as search,
    ):
        await similarity.wait_caught_up()
        await search.wait_caught_up()
        owner, sounds = sound_world
        yield Mapped(owner=owner, sounds=sounds, similarity=similarity, search=search)


def pixel(point: dict[str, float], width: float, height: float) -> tuple[float, float]:
    """Where the explorer's default map view (web/app/views/map.js) draws a point."""
    lon = math.atan2(point["y"], point["x"])
    lat = math.asin(
        max(
            -1.0,
            min(1.0, point["z"] / math.sqrt(point["x"] ** 2 + point["y"] ** 2 + point["z"] ** 2)),
        )
    )
    return width / 2 + lon / (2 * math.pi) * width, height / 2 - lat / math.pi * height


def isolated(
    points: list[dict[str, Any]], ours: Container[str], width: float, height: float
) -> dict[str, Any]:
    """A segment of ours (the map also shows other tests' sounds, whose audio may not play)
    whose dot has no other dot within 12 px (so a click picks it)."""
    at = [pixel(p["point"], width, height) for p in points]
    for i, (x, y) in enumerate(at):
        if points[i]["sound"] not in ours:
            continue
        if all(i == j or math.hypot(x - u, y - v) > 12 for j, (u, v) in enumerate(at)):
            if 10 < x < width - 10 and 10 < y < height - 10:
                return points[i] | {"x": x, "y": y}
    raise AssertionError("every point of the map has a close neighbour")


async def test_a_map_click_plays_that_segment(
    watched: Watched, api_url: str, mapped: Mapped
) -> None:
    page = watched.page
    # Other tests' sounds share the database: the map of this test's dataset alone.
    await page.goto(f"{api_url}/map?createdBy={mapped.owner}")
    canvas = page.get_by_test_id("map-canvas")
    await canvas.wait_for()
    ours = EVERYWHERE | {"filter": {"createdBy": mapped.owner}}
    points = (await mapped.similarity(MAP, ours))["map"]
    await page.wait_for_function(
        "(n) => document.querySelector('[data-testid=map-canvas]').dataset.points === String(n)",
        arg=len(points),
    )
    box = await canvas.bounding_box()
    assert box
    target = isolated(points, mapped.sounds, box["width"], box["height"])
    await page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    audio = page.get_by_test_id("map-audio")
    await page.wait_for_function(
        "(start) => { const a = document.querySelector('[data-testid=map-audio]'); return a.dataset.start === String(start) && a.currentTime > start + 0.1; }",
        arg=target["startSeconds"],
    )
    assert await audio.get_attribute("data-sound") == target["sound"]
    assert await audio.evaluate("a => a.currentSrc") == mapped.sounds[target["sound"]]
    await page.get_by_test_id("similar").click()
    await page.get_by_test_id("similar-list").locator("li").first.wait_for()
    assert watched.console_errors == [] and watched.page_errors == [] and watched.blocked == []


async def test_the_search_box_uses_the_search_aggregator(
    watched: Watched, api_url: str, mapped: Mapped
) -> None:
    page = watched.page
    await page.goto(api_url + "/sounds")
    await page.get_by_test_id("search-mode").filter(has_text="search: ").wait_for()
    await page.get_by_test_id("search").press_sequentially("vio")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=completions] option')].some(o => o.value === 'violin')"
    )  # tag completion from `suggest`
    await page.get_by_test_id("search").fill("vilon")  # a typo: exact tags would find nothing
    await page.get_by_test_id("search").press("Enter")
    await page.get_by_test_id("search-mode").filter(has_text="search by").wait_for()
    titles = await page.get_by_test_id("sound-card").locator(".title").all_inner_texts()
    # Other tests' violins share the database; ours are found, and nothing but violins.
    assert {"Violin glissando", "Violin pizzicato"} <= set(titles)
    assert all("violin" in title.lower() for title in titles), titles
    assert watched.console_errors == [] and watched.page_errors == [] and watched.blocked == []
