"""What users wrote is text, never markup; and every failure the explorer meets (audio that
cannot load, arrays served without ranges, missing or malformed, an aggregator that is down, a
refused key) is said in place, with the page still usable and nothing thrown uncaught."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from tests.factories import make_annotations, make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient
from tests.services import free_port
from tests.web.conftest import Watched
from tests.web.support import HostServer, feature_metadata, npy, tone_wav

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
TAG = '<img src=x onerror="window.__xss=3">'  # tags are at most 64 characters
OK = unique("ok")


@dataclass
class Bad:
    xss_sound: str
    xss_user: str
    broken_sound: str
    bots: dict[str, str]  # case -> bot user name


@pytest.fixture(scope="module")
async def bad(api_url: str, host: HostServer) -> AsyncIterator[Bad]:
    array = np.random.default_rng(3).random((40, 6)).astype(np.float32)
    data, offset = npy(array)
    urls = {
        "norange": host.add("/norange.npy", data, ranges=False),
        "missing": host.url("/missing.npy"),
        "malformed": host.add("/malformed.npy", b"\x93NUMPX" + data[6:]),
    }
    tone = host.add("/tone.wav", tone_wav(seconds=1.0))
    async with httpx.AsyncClient(timeout=30) as http:
        gql = GraphQLClient(http, api_url + "/graphql")
        dataset = await make_user(gql, "DATASET")
        evil = await make_user(gql, "HUMAN")
        await gql(
            "mutation($i: UpdateViewerInput!) { updateViewer(input: $i) { userErrors { message } } }",
            {"i": {"aboutMe": XSS}},
            token=evil.token,
        )
        xss, broken = await make_sounds(
            gql,
            dataset,
            [
                sound_input(title=XSS, audioUrl=tone, durationSeconds=1.0, tags=[TAG, OK]),
                sound_input(
                    title="Nowhere to be heard",
                    audioUrl=f"http://127.0.0.1:{free_port()}/gone.wav",
                    durationSeconds=1.0,
                ),
            ],
        )
        await make_annotations(
            gql,
            evil,
            [
                {
                    "sound": xss["id"],
                    "startSeconds": 0.1,
                    "durationSeconds": 0.3,
                    "tags": [TAG, "<script>x</script>"],
                }
            ],
        )
        bots = {}
        for case, url in urls.items():
            bot = await make_user(gql, "FEATUREBOT", name=unique(case))
            bots[case] = bot.name
            meta = feature_metadata(array, offset, frame_rate=40.0, axes=["time", "pitchClass"])
            await make_annotations(
                gql,
                bot,
                [
                    {
                        "sound": xss["id"],
                        "startSeconds": 0,
                        "durationSeconds": 1.0,
                        "dataUrl": url,
                        "metadata": meta,
                    }
                ],
            )
        # an aggregator that is registered but not running
        await gql(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { userErrors { message } } }",
            {
                "i": {
                    "name": unique("search"),
                    "type": "AGGREGATOR",
                    "aboutMe": "a search index that is down",
                    "infoUrl": f"http://127.0.0.1:{free_port()}/graphql",
                }
            },
        )
    yield Bad(xss_sound=xss["id"], xss_user=evil.id, broken_sound=broken["id"], bots=bots)


async def no_script_ran(watched: Watched) -> None:
    page = watched.page
    assert await page.evaluate("() => window.__xss") is None
    assert await page.locator("main img").count() == 0
    assert await page.locator("main script").count() == 0
    assert watched.dialogs == [] and watched.page_errors == []


async def test_user_text_is_shown_as_text_everywhere(
    watched: Watched, api_url: str, bad: Bad
) -> None:
    page = watched.page
    await page.goto(f"{api_url}/sounds?tags={OK}")
    await page.get_by_text(XSS).first.wait_for()
    await page.get_by_text(TAG).first.wait_for()
    await no_script_ran(watched)
    await page.goto(f"{api_url}/sounds/{bad.xss_sound}")
    await page.locator("[data-testid=waveform][data-phase=ready]").wait_for()
    assert await page.get_by_test_id("sound-title").inner_text() == XSS
    await page.get_by_test_id("annotations").get_by_text(TAG).wait_for()
    labels = await page.evaluate(
        "() => [...document.querySelector('[data-testid=waveform] div').shadowRoot.querySelectorAll('[part~=region-content]')].map(e => [e.textContent, e.children.length])"
    )
    assert labels == [[f"{TAG} <script>x</script>", 0]]
    await no_script_ran(watched)
    await page.goto(f"{api_url}/users/{bad.xss_user}")
    assert await page.get_by_test_id("about").inner_text() == XSS
    await no_script_ran(watched)
    assert watched.console_errors == []


async def test_array_failures_are_said_in_place(watched: Watched, api_url: str, bad: Bad) -> None:
    page = watched.page
    await page.goto(f"{api_url}/sounds/{bad.xss_sound}")
    await page.locator("[data-testid=waveform][data-phase=ready]").wait_for()
    expected = {
        "norange": "answered 200 without honouring the Range request",
        "missing": "answered HTTP 404",
        "malformed": "is not an .npy file",
    }
    for case, words in expected.items():
        await page.get_by_test_id("feature").select_option(label=bad.bots[case])
        status = page.locator("[data-testid=feature-status].problem")
        await status.filter(has_text=words).wait_for()
    # still usable: it plays
    await page.get_by_test_id("play").click()
    await page.wait_for_function("() => document.querySelector('audio').currentTime > 0.2")
    assert watched.console_errors == [] and watched.page_errors == []


async def test_unreachable_audio_and_a_down_aggregator(
    watched: Watched, api_url: str, bad: Bad
) -> None:
    page = watched.page
    await page.goto(f"{api_url}/sounds/{bad.broken_sound}")
    await page.get_by_test_id("audio-problem").filter(has_text="could not be loaded").wait_for()
    assert await page.get_by_test_id("sound-title").inner_text() == "Nowhere to be heard"
    await page.get_by_role("link", name="Sounds").click()  # the app still works
    await (
        page.get_by_test_id("aggregator-problem")
        .filter(has_text="is not answering")
        .first.wait_for()
    )
    await page.get_by_test_id("search-mode").filter(has_text="exact tags").wait_for()
    await page.get_by_test_id("search").fill(OK)
    await page.get_by_test_id("search").press("Enter")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=sound-card]').length === 1"
    )
    await page.goto(f"{api_url}/map")
    await page.get_by_test_id("map-absent").wait_for()
    assert watched.console_errors == [] and watched.page_errors == []


async def test_a_refused_key_is_said_and_browsing_goes_on(
    watched: Watched, api_url: str, bad: Bad
) -> None:
    page = watched.page
    await page.goto(f"{api_url}/sign-in")
    await page.evaluate(
        "() => { sessionStorage.setItem('cochlea.apiKey', 'ck_000000000000_expired'); sessionStorage.setItem('cochlea.viewer', 'someone'); }"
    )
    await page.goto(f"{api_url}/sounds")
    await page.get_by_test_id("auth-problem").wait_for()
    await page.get_by_test_id("sound-card").first.wait_for()  # carried on anonymously
    assert await page.evaluate("() => sessionStorage.getItem('cochlea.apiKey')") is None
    assert watched.console_errors == [] and watched.page_errors == []
