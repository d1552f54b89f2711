"""How the API serves the explorer: its views (history fallback) with a strict CSP, its own
modules and the vendored npm files, GraphiQL for a browser's GET of /graphql; GraphQL itself
untouched."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from api.settings import Settings
from api.web import VIEW_PATHS, installed
from workers.sdk.local_arrays import LocalArrayStore
from workers.sdk.s3_arrays import S3ArrayStore


@pytest.mark.skipif(not installed(), reason="the explorer's npm files are not installed")
async def test_views_modules_and_vendor_files_are_served(
    http: httpx.AsyncClient, api_url: str
) -> None:
    for path in ["/", "/sounds", "/sounds/abc", "/users", "/users/abc", "/map", "/sign-in"]:
        page = await http.get(api_url + path)
        assert page.status_code == 200, path
        assert '<script type="importmap">' in page.text
        policy = page.headers["content-security-policy"]
        assert (
            "script-src 'self' 'sha256-" in policy
            and "unsafe-inline" not in policy.split("style-src")[0]
        )
    assert len(VIEW_PATHS) == 7
    module = await http.get(api_url + "/app/main.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    vendor = await http.get(api_url + "/vendor/wavesurfer/wavesurfer.esm.js")
    assert vendor.status_code == 200 and len(vendor.content) > 10_000
    assert (await http.get(api_url + "/vendor/nothing.js")).status_code == 404
    assert (await http.get(api_url + "/app/../../api/web.py")).status_code == 404
    assert (await http.get(api_url + "/no-such-view")).status_code == 404


@pytest.mark.skipif(not installed(), reason="the explorer's npm files are not installed")
async def test_a_browser_get_of_graphql_gets_the_local_graphiql(
    http: httpx.AsyncClient, api_url: str
) -> None:
    page = await http.get(api_url + "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "/vendor/graphiql/graphiql.min.js" in page.text
    assert "unpkg" not in page.text and "jsdelivr" not in page.text
    answer = await http.post(api_url + "/graphql", json={"query": "{ __typename }"})
    assert answer.json() == {"data": {"__typename": "Query"}}


async def test_array_stores_expose_content_range_to_other_origins(
    http: httpx.AsyncClient, api_url: str, settings: Settings, s3_endpoint: str
) -> None:
    """The feature layer reads arrays cross-origin by Range: it must see Content-Range."""
    local = LocalArrayStore(
        root=Path(settings.data_dir) / "files", public_base_url=api_url + "/files"
    )
    s3 = S3ArrayStore(endpoint=s3_endpoint, access_key="testing", secret_key="testing")
    for store in (local, s3):
        await store.ensure_bucket("cochlea-webtest")
        url = await store.put(
            bucket="cochlea-webtest", key=f"{uuid.uuid4()}.npy", data=bytes(range(200))
        )
        answer = await http.get(
            url, headers={"Origin": "http://example.org", "Range": "bytes=10-19"}
        )
        assert answer.status_code == 206 and answer.content == bytes(range(10, 20)), url
        assert answer.headers["content-range"] == "bytes 10-19/200"
        assert answer.headers["access-control-allow-origin"] in ("*", "http://example.org"), url
        exposed = answer.headers.get("access-control-expose-headers", "").lower()
        assert "content-range" in exposed, (url, dict(answer.headers))
