"""A small GraphQL-over-HTTP client for bots: one endpoint, one key, errors as exceptions.

Bots use the public API like any third-party client. Every GraphQL error carries
`extensions.code`, so callers branch on codes, not messages: `GraphQLError.codes`. A batch
mutation's `userErrors` become `UserErrors` (nothing was written). When the API cannot be
reached or answers 5xx, `ApiUnavailable` says so: that is worth retrying, a GraphQL error is not
(except the few codes in `TRANSIENT_CODES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

__all__ = ["ApiClient", "ApiError", "ApiUnavailable", "GraphQLError", "UserErrors"]

TRANSIENT_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "RATE_LIMITED"})


class ApiError(Exception):
    """Base class: a request to the API did not do what was asked."""

    retryable: bool = False

    @property
    def code(self) -> str:
        return "api_error"


class ApiUnavailable(ApiError):
    """The API could not be reached, timed out, or answered with a server error."""

    retryable = True

    @property
    def code(self) -> str:
        return "api_unavailable"


class GraphQLError(ApiError):
    """The response carried `errors`; `codes` lists their `extensions.code` in order."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.codes = [str((e.get("extensions") or {}).get("code") or "UNKNOWN") for e in errors]
        self.retryable = bool(TRANSIENT_CODES.intersection(self.codes))
        messages = (f"{c}: {e.get('message')}" for c, e in zip(self.codes, errors, strict=True))
        super().__init__("; ".join(messages))

    @property
    def code(self) -> str:
        return self.codes[0] if self.codes else "UNKNOWN"


class UserErrors(ApiError):
    """A mutation answered with `userErrors` (each has `code`, `message`, maybe `index`)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.codes = [str(e.get("code")) for e in errors]
        shown = "; ".join(f"{e.get('code')} ({e.get('field')}): {e.get('message')}" for e in errors)
        super().__init__(shown)

    @property
    def code(self) -> str:
        return self.codes[0] if self.codes else "UNKNOWN"


class ApiClient:
    """POSTs GraphQL documents to `url` with `Authorization: Bearer <token>` when a token is set.

    Proxy variables are ignored (`trust_env=False`): bots talk to their own API directly.
    """

    def __init__(self, *, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url
        self.token = token
        self._http = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def with_token(self, token: str | None) -> ApiClient:
        """Another client for the same endpoint, acting as the holder of `token`."""
        return ApiClient(url=self.url, token=token, timeout=self._http.timeout.read or 60.0)

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """The `data` of a request; raises `GraphQLError` or `ApiUnavailable`."""
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        body = {"query": query, "variables": dict(variables or {})}
        try:
            response = await self._http.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ApiUnavailable(f"{self.url} answered HTTP {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            raise ApiUnavailable(
                f"{self.url} answered HTTP {response.status_code} without JSON"
            ) from None
        if payload.get("errors"):
            raise GraphQLError(payload["errors"])
        if "data" not in payload:
            raise ApiUnavailable(f"{self.url} answered HTTP {response.status_code} without data")
        return payload["data"]

    async def mutate(
        self, query: str, variables: Mapping[str, Any] | None = None, *, field: str
    ) -> dict[str, Any]:
        """The payload `data[field]` of a mutation; raises `UserErrors` if it has any."""
        payload: dict[str, Any] = (await self.execute(query, variables))[field]
        if payload.get("userErrors"):
            raise UserErrors(payload["userErrors"])
        return payload
