"""The web explorer and the local GraphiQL page, served by the API itself (same origin as
/graphql, so no CORS and no CDN).

`web/app/` holds the hand-written ES modules, `web/vendor/` the npm packages' dist files that
`make install` copies there (git-ignored). Without them (no Node on the machine) the pages say
how to install them, and /graphql still works. The explorer's views are routed in the browser
(History API), so each of their paths answers with `index.html`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
APP_DIR = WEB_DIR / "app"
VENDOR_DIR = WEB_DIR / "vendor"

VIEW_PATHS = ("/", "/sounds", "/sounds/{id}", "/users", "/users/{id}", "/map", "/sign-in")
"""Paths the explorer routes in the browser: each serves index.html (history fallback)."""

NOT_INSTALLED = """<!doctype html><meta charset="utf-8"><title>Cochlea</title>
<h1>Cochlea</h1><p>The web explorer's files are not installed: it needs Node 20+ and npm.
Install them and run <code>make install</code>. The GraphQL API answers at
<a href="/graphql">/graphql</a> (POST).</p>"""

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)


def installed() -> bool:
    """Whether `make install` copied the npm dist files (web/vendor/.installed)."""
    return (VENDOR_DIR / ".installed").is_file()


@lru_cache(maxsize=4)
def _page(name: str) -> tuple[str, str]:
    """A page's HTML and its Content-Security-Policy: scripts only from this origin, plus the
    page's own inline scripts (the import map) by hash; user text can never become code."""
    html = (WEB_DIR / name).read_text(encoding="utf-8")
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    policy = "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "media-src * blob: data:",
            "connect-src * ws: wss:",
            "font-src 'self' data:",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html, policy


def page_response(name: str) -> Response:
    """`web/<name>` with its CSP, or the not-installed notice."""
    if not installed():
        return HTMLResponse(NOT_INSTALLED, status_code=503)
    html, policy = _page(name)
    return HTMLResponse(
        html,
        headers={
            "content-security-policy": policy,
            "x-content-type-options": "nosniff",
            "cache-control": "no-cache",
        },
    )


def graphiql_response() -> Response:
    """The local GraphiQL IDE (also what a browser's GET of /graphql shows)."""
    return page_response("graphiql.html")


async def explorer(request: Request) -> Response:
    return page_response("index.html")


async def graphiql(request: Request) -> Response:
    return graphiql_response()


class _Vendor(StaticFiles):
    """web/vendor/, created by `make install`; checked per request, not at start-up."""

    def __init__(self) -> None:
        super().__init__(directory=VENDOR_DIR, check_dir=False)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not installed():
            return Response("the explorer's npm files are not installed", status_code=404)
        return await super().get_response(path, scope)


def web_routes() -> list[BaseRoute]:
    """Routes of the explorer: its views, its modules (/app), npm files (/vendor), /graphiql."""
    return [
        *(Route(path, explorer, methods=["GET", "HEAD"]) for path in VIEW_PATHS),
        Route("/graphiql", graphiql, methods=["GET", "HEAD"]),
        Mount("/app", StaticFiles(directory=APP_DIR, check_dir=False), name="web-app"),
        Mount("/vendor", _Vendor(), name="web-vendor"),
    ]
