"""With COCHLEA_PUBLIC_READ=false the explorer asks to sign in first, then shows everything."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.settings import Settings
from tests.factories import make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient, running_api
from tests.web.conftest import Watched

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def private_api(settings: Settings) -> Iterator[str]:
    with running_api(settings.model_copy(update={"public_read": False})) as url:
        yield url


async def test_it_asks_to_sign_in_first(watched: Watched, private_api: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        gql = GraphQLClient(http, private_api + "/graphql")
        human = await make_user(gql, "HUMAN")
        tag = unique("private")
        await make_sounds(gql, human, [sound_input(title="Behind the sign-in", tags=[tag])])
    page = watched.page
    await page.goto(private_api + "/")
    await page.get_by_test_id("auth-problem").filter(has_text="public read is off").wait_for()
    assert await page.get_by_test_id("sound-card").count() == 0
    await page.get_by_test_id("auth-problem").get_by_role("link", name="Sign in").click()
    await page.get_by_test_id("signin-needed").wait_for()
    await page.locator("input[name=name]").fill(human.name)
    await page.locator("input[name=password]").fill("correct horse battery")
    await page.locator("[data-testid=signin-form] button[type=submit]").click()
    await page.get_by_test_id("viewer").wait_for()
    await page.goto(f"{private_api}/sounds?tags={tag}")
    await page.get_by_text("Behind the sign-in").first.wait_for()
    assert await page.get_by_test_id("auth-problem").count() == 0
    assert watched.console_errors == [] and watched.page_errors == [] and watched.blocked == []
