"""The explorer in a real Chromium against a real API: loading, paging, a sound page that
plays, the feature layer's ranged reads and pixels, tagging, live annotations."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, expect

from api.settings import Settings
from tests.factories import make_annotations
from tests.server import GraphQLClient
from tests.web.conftest import Watched
from tests.web.support import HostServer
from tests.web.world import FEATURE_BINS, FEATURE_RATE, World, build_world, synthetic_feature

pytestmark = pytest.mark.browser

REGIONS = "(n) => document.querySelector('[data-testid=waveform]').dataset.regions === n"
AUDIO_TIME = "() => { const a = document.querySelector('audio'); return a ? a.currentTime : -1; }"


@pytest.fixture(scope="module")
async def world(api_url: str, settings: Settings, host: HostServer) -> AsyncIterator[World]:
    yield await build_world(api_url, settings, host)


async def test_home_loads_without_errors_or_outside_requests(
    watched: Watched, world: World
) -> None:
    page = watched.page
    await page.goto(world.api + "/")
    # The first page of the list: 20 cards (the list may render twice as aggregators are found).
    await expect(page.get_by_test_id("sound-card")).to_have_count(20)
    await page.wait_for_load_state("networkidle")
    assert watched.console_errors == []
    assert watched.page_errors == []
    assert watched.blocked == []


async def test_paging_through_sounds_as_the_list_scrolls(watched: Watched, world: World) -> None:
    page = watched.page
    await page.goto(f"{world.api}/sounds?createdBy={world.dataset.id}")  # the dataset filter
    cards = page.get_by_test_id("sound-card")
    await cards.nth(19).wait_for()
    await page.get_by_test_id("more").scroll_into_view_if_needed()
    await cards.nth(30).wait_for()  # 31 sounds: the second page came by scrolling
    titles = await cards.locator(".title").all_inner_texts()
    assert len(titles) == 31 and len(set(titles)) == 31
    assert titles[0] == "Tone for the browser"
    await page.get_by_test_id("tag-filter").fill("a4")
    await page.get_by_test_id("tag-filter").press("Enter")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=sound-card]').length === 1"
    )
    assert await cards.locator(".title").all_inner_texts() == ["Tone for the browser"]
    assert watched.console_errors == [] and watched.blocked == []


async def test_a_sound_page_gets_ready_shows_regions_and_plays(
    watched: Watched, world: World
) -> None:
    page = watched.page
    await page.goto(f"{world.api}/sounds/{world.tone_id}")
    await page.locator("[data-testid=waveform][data-phase=ready]").wait_for()
    assert await page.get_by_test_id("sound-title").inner_text() == "Tone for the browser"
    await page.wait_for_function(REGIONS, arg="2")
    labels = await page.evaluate(
        """() => [...document.querySelector('[data-testid=waveform] div').shadowRoot
                 .querySelectorAll('[part~=region-content]')].map(e => e.textContent)"""
    )
    assert sorted(labels) == ["fade", "note a4"]
    # toggling the creator hides its regions
    await page.locator(".creator-toggle input").first.uncheck()
    await page.wait_for_function(REGIONS, arg="0")
    await page.locator(".creator-toggle input").first.check()
    await page.wait_for_function(REGIONS, arg="2")
    await page.get_by_test_id("play").click()
    await page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a && a.currentTime > 0.3; }"
    )
    await page.get_by_test_id("play").click()  # pause
    # a click on a region plays just that region (1.8 s to 2.4 s), then stops
    await page.locator("[part~=region-content]", has_text="fade").click()
    await page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return !a.paused && a.currentTime > 1.9; }"
    )
    await page.wait_for_function("() => document.querySelector('audio').paused", timeout=5000)
    assert 2.3 < await page.evaluate("() => document.querySelector('audio').currentTime") < 2.6
    assert watched.console_errors == [] and watched.page_errors == [] and watched.blocked == []


VIRIDIS_STOPS = [
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
]


def colour(value: float) -> tuple[int, int, int]:
    """The explorer's colour map (web/app/components/colormap.js) at a value in [0, 1]."""
    x = round(value * 255) / 255
    for (x0, c0), (x1, c1) in itertools.pairwise(VIRIDIS_STOPS):
        if x <= x1:
            f = (x - x0) / (x1 - x0)
            return tuple(round(a + f * (b - a)) for a, b in zip(c0, c1, strict=True))  # type: ignore[return-value]
    raise AssertionError(value)


async def test_the_feature_layer_reads_ranges_and_draws_the_array(
    watched: Watched, world: World, host: HostServer
) -> None:
    page = watched.page
    statuses: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            r.url == world.feature_url
            and statuses.append((r.status, r.request.headers.get("range")))
        ),
    )
    await page.goto(f"{world.api}/sounds/{world.tone_id}")
    await page.locator("[data-testid=waveform][data-phase=ready]").wait_for()
    await page.get_by_test_id("feature").select_option(label=world.bot.name)
    canvas = page.get_by_test_id("feature-canvas")
    await page.locator("[data-testid=feature-canvas][data-state=drawn]").wait_for()
    assert statuses and all(
        status == 206 and rng and rng.startswith("bytes=") for status, rng in statuses
    )
    served = host.paths["/feature.npy"]
    assert served.requests and all(r and r.startswith("bytes=") for r in served.requests)
    assert served.bytes_sent < len(served.body) + 400  # header and frames, each once, never more

    info = await canvas.evaluate(
        """c => ({w: c.width, h: c.height, start: +c.dataset.start, end: +c.dataset.end,
                 pixels: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)})"""
    )
    width, height, start, end = info["w"], info["h"], info["start"], info["end"]
    feature = synthetic_feature()
    checked = 0
    for frame in (5, 30, 55, 65, 90, 115):
        for bin_ in (0, 3, 6, 11):
            x = int(((frame / FEATURE_RATE) - start) / (end - start) * width)
            y = int(((FEATURE_BINS - 1 - bin_) + 0.5) / FEATURE_BINS * height)
            offset = 4 * (y * width + x)
            got = tuple(info["pixels"][offset : offset + 3])
            want = colour(float(feature[frame, bin_]))
            assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 2, (
                frame,
                bin_,
                got,
                want,
            )
            checked += 1
    assert checked == 24

    # zoomed in and scrolled, the layer follows the waveform's visible span
    await page.get_by_test_id("zoom").fill("500")  # px per second: 1500 px for 3 s
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=waveform] div').shadowRoot.querySelector('.wrapper').scrollWidth >= 1490"
    )
    await page.evaluate(
        "() => { document.querySelector('[data-testid=waveform] div').shadowRoot.querySelector('.scroll').scrollLeft = 300; }"
    )
    await page.wait_for_function(
        "() => Math.abs(+document.querySelector('[data-testid=feature-canvas]').dataset.start - 0.6) < 0.02"
    )
    span = await canvas.evaluate("c => [+c.dataset.start, +c.dataset.end, c.width]")
    assert span[1] - span[0] == pytest.approx(span[2] / 500, abs=0.02)
    assert watched.console_errors == [] and watched.blocked == []


async def sign_in(page: Page, world: World) -> None:
    await page.goto(world.api + "/sign-in")
    await page.locator("input[name=name]").fill(world.human.name)
    await page.locator("input[name=password]").fill(world.password)
    await page.locator("[data-testid=signin-form] button[type=submit]").click()
    await page.get_by_test_id("viewer").wait_for()


async def test_a_signed_in_human_tags_a_dragged_segment(watched: Watched, world: World) -> None:
    page = watched.page
    await sign_in(page, world)
    stored = await page.evaluate("() => Object.entries(sessionStorage)")
    assert any(k == "cochlea.apiKey" and v.startswith("ck_") for k, v in stored)
    assert not any(world.password in v for _, v in stored)
    await page.goto(f"{world.api}/sounds/{world.tone_id}")
    await page.locator("[data-testid=waveform][data-phase=ready]").wait_for()
    box = await page.get_by_test_id("waveform").bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    await page.mouse.move(box["x"] + box["width"] * 0.84, y)  # 2.52 s: after every region
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.90, y, steps=8)
    await page.mouse.move(box["x"] + box["width"] * 0.96, y, steps=8)
    await page.mouse.up()
    await page.get_by_test_id("tagger").wait_for()
    await page.get_by_test_id("tag-input").fill("bird")
    await page.get_by_test_id("tag-input").press("Space")
    await page.get_by_test_id("tag-input").type("no")
    await page.get_by_test_id("suggestions").get_by_text("note").click()  # completion
    assert await page.get_by_test_id("tag-input").input_value() == "bird note "
    await page.get_by_test_id("save-tags").click()
    await page.get_by_test_id("tagger").wait_for(state="detached")
    await page.wait_for_function(REGIONS, arg="3")

    async with httpx.AsyncClient() as http:
        data = (
            await GraphQLClient(http, world.api + "/graphql")(
                'query($s: ID!) { annotations(filter: {sound: $s, tags: ["bird"]}) { edges { node { startSeconds endSeconds tags createdBy { name } } } } }',
                {"s": world.tone_id},
            )
        )["annotations"]["edges"]
    assert len(data) == 1
    node = data[0]["node"]
    assert node["tags"] == ["bird", "note"] and node["createdBy"]["name"] == world.human.name
    assert 2.4 < node["startSeconds"] < 2.6 and 2.8 < node["endSeconds"] < 3.0
    assert watched.console_errors == [] and watched.blocked == []


async def test_an_annotation_made_by_another_client_appears_live(
    watched: Watched, world: World
) -> None:
    page = watched.page
    await page.goto(f"{world.api}/sounds/{world.tone_id}")
    await page.locator("[data-testid=waveform][data-phase=ready]").wait_for()
    before = int(await page.get_by_test_id("waveform").get_attribute("data-regions") or 0)
    await page.get_by_text("● live").wait_for()
    async with httpx.AsyncClient() as http:
        await make_annotations(
            GraphQLClient(http, world.api + "/graphql"),
            world.dataset,
            [
                {
                    "sound": world.tone_id,
                    "startSeconds": 0.1,
                    "durationSeconds": 0.3,
                    "tags": ["live-one"],
                }
            ],
        )
    await page.wait_for_function(REGIONS, arg=str(before + 1))
    await page.get_by_test_id("annotations").get_by_text("live-one").wait_for()
    assert watched.console_errors == [] and watched.blocked == []


async def test_download_buttons_fetch_the_export_endpoint(watched: Watched, world: World) -> None:
    page = watched.page
    await page.goto(f"{world.api}/sounds/{world.tone_id}")
    links = page.get_by_test_id("downloads").locator("a")
    await links.first.wait_for()
    hrefs = [await a.get_attribute("href") for a in await links.all()]
    assert hrefs == [
        f"/export/sounds/{world.tone_id}.{ext}" for ext in ("jams", "txt", "json", "csv")
    ]
    async with page.expect_download() as download:
        await links.first.click()
    assert (await download.value).suggested_filename.endswith(".jams")
    async with httpx.AsyncClient() as http:
        for href in hrefs:
            answer = await http.get(world.api + str(href))
            assert answer.status_code == 200, (href, answer.text[:200])
    assert watched.console_errors == [] and watched.page_errors == []
