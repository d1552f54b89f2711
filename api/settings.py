"""All configuration in one pydantic-settings object, read from `COCHLEA_*` environment variables.

Every process (API, workers, CLI) reads the same names; `compose.yaml` and the README's
configuration table use them too, and a test checks that they agree.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Cochlea's settings. Unset service URLs mean "start an embedded one" under `cochlea up`."""

    model_config = SettingsConfigDict(env_prefix="COCHLEA_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL (postgresql://user:pass@host:port/db)."
    )
    redis_url: str | None = Field(default=None, description="Redis URL (redis://host:port/db).")
    s3_endpoint: str | None = Field(
        default=None, description="S3/MinIO endpoint host:port; unset stores arrays on disk."
    )
    s3_access_key: str | None = Field(default=None, description="S3 access key.")
    s3_secret_key: str | None = Field(default=None, description="S3 secret key.")
    s3_secure: bool = Field(default=False, description="Use https to reach the S3 endpoint.")
    s3_public_url: str | None = Field(
        default=None,
        description="Base URL clients use to read the buckets, if not the endpoint itself.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL at which clients reach this API (used in generated links).",
    )
    data_dir: Path = Field(
        default=Path(".cochlea"), description="Where embedded services and local arrays live."
    )
    public_read: bool = Field(default=True, description="Allow anonymous clients to read.")
    max_page_size: int = Field(default=500, description="Largest `first`/`last` accepted.")
    compiled_reads: bool = Field(
        default=True,
        description="Serve root lists whose selection SQL can build in one statement.",
    )
    fast_batches: bool = Field(
        default=True,
        description="Decode createSounds/createAnnotations bodies in one typed pass.",
    )
    ws_compression: bool = Field(
        default=False,
        description="Offer permessage-deflate to websocket clients.",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, description="Largest accepted HTTP request body."
    )
    fetch_allow_networks: str = Field(
        default="",
        description="Comma-separated CIDRs exempt from the fetchers' SSRF guard.",
    )
    fetch_max_bytes: int = Field(
        default=512 * 1024 * 1024, description="Largest audio file a featurebot downloads."
    )
    fetch_max_seconds: float = Field(
        default=2 * 3600,
        description="Longest sound a featurebot analyses (decoding and features need memory).",
    )
    bots_backfill: bool = Field(
        default=False,
        description="A featurebot's first start processes what its stream already holds.",
    )
    api_url: str | None = Field(
        default=None, description="GraphQL URL workers talk to; defaults to PUBLIC_URL/graphql."
    )
    db_pool_size: int = Field(default=10, description="Connections per API process.")
    search_port: int = Field(default=8001, description="Port of the `search` aggregator.")
    similarity_port: int = Field(default=8002, description="Port of the `similarity` aggregator.")
    aggregators_public_host: str | None = Field(
        default=None,
        description="Host name clients reach the aggregators at (their infoUrl); default: "
        "the address they listen on.",
    )
    max_query_cost: int = Field(
        default=500_000, description="Most nodes one document may return (0: no limit)."
    )
    max_query_depth: int = Field(default=20, description="Deepest field nesting (0: no limit).")
    max_aliases: int = Field(default=100, description="Most aliased fields (0: no limit).")
    max_root_fields: int = Field(
        default=20, description="Most top-level fields in one operation (0: no limit)."
    )
    max_document_bytes: int = Field(
        default=100_000, description="Largest query document, in bytes (0: no limit)."
    )
    rate_limit_key_points: int = Field(
        default=100_000, description="Points per hour per user with an API key (0: no limit)."
    )
    rate_limit_anon_points: int = Field(
        default=20_000, description="Points per hour per anonymous address (0: no limit)."
    )
    statement_timeout_seconds: float = Field(
        default=10.0, description="PostgreSQL statement_timeout of the API (0: none)."
    )
    request_timeout_seconds: float = Field(
        default=30.0, description="Longest HTTP GraphQL request (0: none)."
    )
    max_connections_per_request: int = Field(
        default=5, description="Database connections one request holds at once (0: no limit)."
    )
    max_subscriptions_per_connection: int = Field(
        default=50, description="Live subscriptions per websocket (0: no limit)."
    )
    max_subscriptions_per_key: int = Field(
        default=200, description="Live subscriptions per user across processes (0: no limit)."
    )

    @property
    def graphql_url(self) -> str:
        return self.api_url or self.public_url.rstrip("/") + "/graphql"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
