"""A featurebot's identity: its user on the API and the API key it acts with.

On first start a bot signs up (`createUser(type: FEATUREBOT, aboutMe: ...)`) and keeps the key,
which the API shows only once, in Redis under `cochlea:bot:<name>:key`. Every later start, on
any machine sharing that Redis, reuses it (and refreshes `aboutMe` when a new version describes
its output differently). A Redis lock makes concurrent first starts register only once. The key
lives outside any per-deployment namespace: the user name is global on the API, so is its key.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from workers.sdk.client import ApiClient, GraphQLError, UserErrors

__all__ = ["BotIdentity", "IdentityLost", "bot_key", "ensure_bot", "find_user_id"]

CREATE_USER = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id name } apiKey userErrors { field code message } } }"""
VIEWER = "{ viewer { id name aboutMe infoUrl } }"
UPDATE_ABOUT = """mutation($input: UpdateViewerInput!) {
  updateViewer(input: $input) { user { id } userErrors { field code message } } }"""
FIND_USER = """query($name: String!) {
  users(filter: {name: $name}, first: 1) { edges { node { id name type } } } }"""


@dataclass(frozen=True)
class BotIdentity:
    """Who a bot is on the API: its user name and id, and the key it authenticates with."""

    name: str
    user_id: str
    token: str


class IdentityLost(RuntimeError):
    """The bot's user exists but its key is missing or no longer accepted: an operator must act."""


def bot_key(name: str) -> str:
    """The Redis key holding bot `name`'s API key."""
    return f"cochlea:bot:{name}:key"


async def find_user_id(*, client: ApiClient, name: str) -> str | None:
    """The id of the user called `name` (case-insensitive), or None."""
    data = await client.execute(FIND_USER, {"name": name})
    edges = data["users"]["edges"]
    return str(edges[0]["node"]["id"]) if edges else None


async def ensure_bot(
    *,
    redis: aioredis.Redis,
    client: ApiClient,
    name: str,
    about: str,
    user_type: str = "FEATUREBOT",
    info_url: str | None = None,
) -> BotIdentity:
    """The identity of bot `name` (a `user_type` user: FEATUREBOT, or AGGREGATOR for an index
    whose `info_url` is its own endpoint), registering it on first start.

    Raises `IdentityLost` when the user exists but its key is not in Redis (or was revoked);
    `ApiUnavailable` when the API cannot be reached (worth retrying).
    """
    key_name = bot_key(name)
    async with redis.lock(f"{key_name}:lock", timeout=60, blocking_timeout=120):
        stored = await redis.get(key_name)
        if stored:
            token = stored.decode() if isinstance(stored, bytes) else str(stored)
            reused = client.with_token(token)
            return await _reuse(client=reused, name=name, about=about, info_url=info_url)
        variables = {
            "input": {"name": name, "type": user_type, "aboutMe": about, "infoUrl": info_url}
        }
        try:
            payload = await client.mutate(CREATE_USER, variables, field="createUser")
        except UserErrors as exc:
            if "TAKEN" in exc.codes:
                raise IdentityLost(_lost_message(name, "its API key is not in Redis")) from None
            raise
        token = str(payload["apiKey"])
        await redis.set(key_name, token)
        return BotIdentity(name=name, user_id=str(payload["user"]["id"]), token=token)


async def _reuse(*, client: ApiClient, name: str, about: str, info_url: str | None) -> BotIdentity:
    try:
        async with client:
            viewer = (await client.execute(VIEWER))["viewer"]
            changes: dict[str, str] = {}
            if viewer is not None and viewer["aboutMe"] != about:
                changes["aboutMe"] = about
            if viewer is not None and info_url is not None and viewer["infoUrl"] != info_url:
                changes["infoUrl"] = info_url
            if changes:
                await client.mutate(UPDATE_ABOUT, {"input": changes}, field="updateViewer")
    except GraphQLError as exc:
        if "UNAUTHENTICATED" in exc.codes:
            raise IdentityLost(_lost_message(name, "the API refuses its stored key")) from None
        raise
    if viewer is None or str(viewer["name"]).lower() != name.lower():
        shown = "no user" if viewer is None else f"the user {viewer['name']!r}"
        raise IdentityLost(f"the key stored under {bot_key(name)} belongs to {shown}, not {name!r}")
    assert client.token is not None
    return BotIdentity(name=name, user_id=str(viewer["id"]), token=client.token)


def _lost_message(name: str, what: str) -> str:
    return (
        f"the bot user {name!r} exists on the API, but {what}. API keys are shown "
        f"only once, so the bot cannot act as {name!r} until its key is back: point "
        f"COCHLEA_REDIS_URL at the Redis that holds {bot_key(name)}, or store the key there "
        f"yourself (redis-cli SET {bot_key(name)} ck_...). If the key is gone for good, an "
        f"administrator must free the name (rename or delete the user {name!r} in the database) "
        "so that the bot can register again."
    )
