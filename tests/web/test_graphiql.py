"""GraphiQL from local files: renders with no CDN, runs a query, and carries the key of a
signed-in explorer user in its headers; a browser's GET of /graphql shows the same IDE."""

from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import Watched

pytestmark = pytest.mark.browser


async def test_graphiql_renders_offline_and_runs_a_query(watched: Watched, api_url: str) -> None:
    page = watched.page
    await page.goto(api_url + "/graphiql")
    await page.locator(".graphiql-container .CodeMirror").first.wait_for()
    await page.locator(".graphiql-execute-button").click()
    result = page.locator(".result-window")
    await result.filter(has_text='"stats"').wait_for()
    assert '"viewer": null' in await result.inner_text()
    assert watched.blocked == [] and watched.console_errors == [] and watched.page_errors == []


async def test_graphiql_has_the_signed_in_key_and_serves_graphql_get(
    watched: Watched, api_url: str
) -> None:
    page = watched.page
    await page.goto(api_url + "/graphiql")
    await page.evaluate("() => sessionStorage.setItem('cochlea.apiKey', 'ck_abcdefabcdef_secret')")
    await page.goto(api_url + "/graphql")  # what a browser gets for GET /graphql
    await page.locator(".graphiql-container .CodeMirror").first.wait_for()
    await page.get_by_role("button", name="Headers").click()
    await page.get_by_text("Bearer ck_abcdefabcdef_secret").wait_for()
    assert watched.blocked == [] and watched.page_errors == []
    async with httpx.AsyncClient() as http:
        page_html = (await http.get(api_url + "/graphql", headers={"accept": "text/html"})).text
        assert "/vendor/graphiql/graphiql.min.js" in page_html and "unpkg" not in page_html
        answer = await http.post(api_url + "/graphql", json={"query": "{ __typename }"})
        assert answer.json() == {"data": {"__typename": "Query"}}
