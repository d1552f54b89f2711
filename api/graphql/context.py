"""What every resolver gets in `info.context`: services' handles, the viewer, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from api.db.read_pool import ReadPool
from api.db.request_engine import RequestEngine
from api.errors import Unauthenticated
from api.events import EventHub
from api.graphql.dataloaders import Loaders
from api.services import auth
from api.services.ratelimit import Budget, Limiter
from api.services.records import UserRecord
from api.settings import Settings

if TYPE_CHECKING:
    from api.graphql.compiled.executor import Plan
    from api.graphql.limits.cost import Cost

_UNSET: Any = object()


@dataclass
class Context:
    engine: AsyncEngine
    settings: Settings
    authorization: str | None
    events: EventHub
    loaders: Loaders
    connection_params: dict[str, Any] | None = None  # set by graphql-transport-ws connection_init
    limiter: Limiter | None = None
    client_address: str | None = None
    http_response: Response | None = None  # status and headers of an HTTP answer (not websockets)
    rate_limit: Budget | None = None  # what this request paid, once it has (`api.graphql.limits`)
    live_subscriptions: int = 0  # on this websocket
    reads: ReadPool | None = None  # compiled reads' pool (None: they read through `engine`)
    # Filled in as the request runs, for `api.graphql.compiled.prepared`: what it costs, what
    # it paid (when billed before execution), and the statement of each compiled root field.
    cost: Cost | None = None
    prepaid: Budget | None = None
    compiled_roots: dict[str, Plan] = field(default_factory=dict)
    _viewer: Any = _UNSET

    async def viewer(self) -> UserRecord | None:
        """The authenticated user, or None for an anonymous request (authenticated once)."""
        if self._viewer is _UNSET:
            authorization = self.authorization
            if self.connection_params is not None:
                value = self.connection_params.get("authorization")
                authorization = value if isinstance(value, str) else None
            self._viewer = await auth.authenticate(
                engine=self.engine, authorization=authorization, reads=self.reads
            )
        return self._viewer

    def set_viewer(self, viewer: UserRecord) -> None:
        """The viewer as changed by this request's mutation, for the fields resolved after it."""
        self._viewer = viewer

    def abandon(self) -> None:
        """Stop what this request still has running after it timed out: the tasks holding or
        awaiting its connections, and whatever awaits a dataloader batch they would answer."""
        if isinstance(self.engine, RequestEngine):
            self.engine.cancel()
        for loader in self.loaders.all():
            cache = getattr(loader, "cache_map", None)
            for future in getattr(cache, "cache_map", {}).values():
                if not future.done():
                    future.cancel()

    def renew_loaders(self) -> None:
        """Fresh dataloaders: a subscription's context lives as long as its socket, and its
        caches must not grow (or go stale) with every event."""
        self.loaders = Loaders.create(self.engine)

    async def notify(self, kind: str) -> None:
        """Wake the subscribers of `kind` (after a commit)."""
        await self.events.publish(kind)

    async def require_read(self) -> UserRecord | None:
        """Reads are open to anonymous clients only when COCHLEA_PUBLIC_READ is true."""
        viewer = await self.viewer()
        if viewer is None and not self.settings.public_read:
            raise Unauthenticated("reading needs an API key on this server (public read is off)")
        return viewer


def make_context(
    *,
    engine: AsyncEngine,
    settings: Settings,
    events: EventHub,
    authorization: str | None,
    limiter: Limiter | None = None,
    client_address: str | None = None,
    http_response: Response | None = None,
    reads: ReadPool | None = None,
) -> Context:
    """A request's context: shared handles, plus its own viewer cache and dataloaders, and its
    own share of the pool (at most COCHLEA_MAX_CONNECTIONS_PER_REQUEST connections at once)."""
    if settings.max_connections_per_request > 0:
        engine = RequestEngine(engine, limit=settings.max_connections_per_request)
    return Context(
        engine=engine,
        settings=settings,
        authorization=authorization,
        events=events,
        loaders=Loaders.create(engine),
        limiter=limiter,
        client_address=client_address,
        http_response=http_response,
        reads=reads,
    )
