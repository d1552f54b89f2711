"""Accounts as a client sees them: sign-up, login, API keys, self-service changes, deletion."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import CREATE_USER, LOGIN, make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient

PASSWORD = "correct horse battery"
VIEWER = "{ viewer { id name type email apiKeys { prefix createdAt } } }"
CREATE_KEY = "mutation { createApiKey { apiKey } }"
REVOKE = "mutation($p: String!) { revokeApiKey(prefix: $p) { revoked } }"
UPDATE = """mutation($input: UpdateViewerInput!) {
  updateViewer(input: $input) { user { id aboutMe infoUrl email } userErrors { field code } }
}"""
DELETE = "mutation { deleteViewer { deleted } }"
USER_BY_ID = (
    "query($id: ID!) { node(id: $id) { ... on User { name email deleted apiKeys { prefix } } } }"
)
USERS_NAMED = """query($n: String!) {
  users(filter: {name: $n}) { edges { node { id email apiKeys { prefix } } } }
}"""


async def sign_up(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    """The createUser payload for `fields` (camelCase input)."""
    return (await gql(CREATE_USER, {"input": fields}))["createUser"]  # type: ignore[no-any-return]


async def login(gql: GraphQLClient, name: str, password: str) -> dict[str, Any]:
    return (await gql(LOGIN, {"n": name, "p": password}))["login"]  # type: ignore[no-any-return]


def prefix_of(key: str) -> str:
    return key.split("_")[1]


@pytest.mark.parametrize("type_", ["DATASET", "FEATUREBOT", "AGGREGATOR"])
async def test_bots_sign_up_with_about_me_and_get_a_working_key_once(
    gql: GraphQLClient, type_: str
) -> None:
    name = unique("bot")
    payload = await sign_up(gql, name=name, type=type_, aboutMe="What I publish")
    assert payload["userErrors"] == []
    assert payload["user"]["name"] == name and payload["user"]["type"] == type_
    key = payload["apiKey"]
    assert key.startswith("ck_")
    viewer = (await gql(VIEWER, token=key))["viewer"]
    assert viewer["id"] == payload["user"]["id"]
    assert [k["prefix"] for k in viewer["apiKeys"]] == [prefix_of(key)]

    refused = await sign_up(gql, name=unique("bot"), type=type_)
    assert refused["user"] is None and refused["apiKey"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("aboutMe", "REQUIRED")]


async def test_humans_sign_up_with_a_password_and_log_in_for_a_key(gql: GraphQLClient) -> None:
    name = unique("human")
    payload = await sign_up(gql, name=name, type="HUMAN", password=PASSWORD)
    assert payload["userErrors"] == [] and payload["user"]["type"] == "HUMAN"
    assert payload["apiKey"] is None
    key = (await login(gql, name.upper(), PASSWORD))["apiKey"]
    assert (await gql(VIEWER, token=key))["viewer"]["name"] == name

    several = await sign_up(gql, name="x", type="HUMAN", password="short", email="nope")
    assert {(e["field"], e["code"]) for e in several["userErrors"]} == {
        ("name", "INVALID_NAME"),
        ("password", "WEAK_PASSWORD"),
        ("email", "INVALID_EMAIL"),
    }
    for password, code in [(None, "REQUIRED"), ("short12", "WEAK_PASSWORD")]:
        bad = await sign_up(gql, name=unique("human"), type="HUMAN", password=password)
        assert bad["user"] is None
        assert [(e["field"], e["code"]) for e in bad["userErrors"]] == [("password", code)]
    ok = await sign_up(gql, name=unique("human"), type="HUMAN", password="eight888")
    assert ok["userErrors"] == []


async def test_names_are_unique_case_insensitively(gql: GraphQLClient) -> None:
    name = unique("Taken")
    assert (await sign_up(gql, name=name, type="DATASET", aboutMe="x"))["userErrors"] == []
    for again in (name, name.upper(), name.lower()):
        payload = await sign_up(gql, name=again, type="HUMAN", password=PASSWORD)
        assert payload["user"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [("name", "TAKEN")]


@pytest.mark.parametrize(
    "name", ["", "a", "-leading-dash", "has space", "x" * 65, "émile", "tab\tname", "slash/name"]
)
async def test_invalid_names_are_refused(gql: GraphQLClient, name: str) -> None:
    payload = await sign_up(gql, name=name, type="DATASET", aboutMe="x")
    assert payload["user"] is None and payload["apiKey"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [("name", "INVALID_NAME")]


async def test_login_refusals_are_indistinguishable(gql: GraphQLClient) -> None:
    human = await make_user(gql, "HUMAN")
    bot = await make_user(gql, "DATASET")
    wrong = await login(gql, human.name, PASSWORD + "!")
    unknown = await login(gql, unique("nobody"), PASSWORD)
    passwordless = await login(gql, bot.name, PASSWORD)
    for payload in (wrong, unknown, passwordless):
        assert payload == {"apiKey": None, "userErrors": [{"code": "INVALID_CREDENTIALS"}]}
    assert (await login(gql, human.name, PASSWORD))["apiKey"]


async def test_create_list_and_revoke_api_keys(gql: GraphQLClient) -> None:
    bot = await make_user(gql, "FEATUREBOT")
    second = (await gql(CREATE_KEY, token=bot.token))["createApiKey"]["apiKey"]
    assert second != bot.token
    keys = (await gql(VIEWER, token=second))["viewer"]["apiKeys"]
    assert [k["prefix"] for k in keys] == [prefix_of(bot.token), prefix_of(second)]
    assert all(k["createdAt"] for k in keys)

    other = await make_user(gql, "DATASET")
    stranger = await gql(REVOKE, {"p": prefix_of(other.token)}, token=bot.token)
    assert stranger["revokeApiKey"]["revoked"] is False
    assert (await gql(VIEWER, token=other.token))["viewer"]["id"] == other.id

    assert (await gql(REVOKE, {"p": prefix_of(bot.token)}, token=second))["revokeApiKey"] == {
        "revoked": True
    }
    assert (await gql.error(VIEWER, token=bot.token))[0] == "UNAUTHENTICATED"
    again = await gql(REVOKE, {"p": prefix_of(bot.token)}, token=second)
    assert again["revokeApiKey"]["revoked"] is False
    keys = (await gql(VIEWER, token=second))["viewer"]["apiKeys"]
    assert [k["prefix"] for k in keys] == [prefix_of(second)]
    assert (await gql.error(CREATE_KEY))[0] == "UNAUTHENTICATED"


async def test_api_keys_and_email_are_private_to_their_owner(gql: GraphQLClient) -> None:
    owner = await make_user(gql, "HUMAN")
    reader = await make_user(gql, "AGGREGATOR")
    await gql(UPDATE, {"input": {"email": "owner@example.org"}}, token=owner.token)
    mine = (await gql(USER_BY_ID, {"id": owner.id}, token=owner.token))["node"]
    assert mine["email"] == "owner@example.org" and len(mine["apiKeys"]) == 1
    for token in (reader.token, None):
        seen = (await gql(USER_BY_ID, {"id": owner.id}, token=token))["node"]
        assert seen["email"] is None and seen["apiKeys"] is None
        [edge] = (await gql(USERS_NAMED, {"n": owner.name}, token=token))["users"]["edges"]
        assert edge["node"] == {"id": owner.id, "email": None, "apiKeys": None}
    assert (await gql(VIEWER))["viewer"] is None


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-key",
        "Bearer ck_onlyprefix",
        "Bearer ck__secret",
        "Bearer xx_abc_def",
        "ck_abc_def",
        "Bearer ck_000000000000_unknownsecret",
    ],
)
async def test_malformed_or_unknown_authorization_is_unauthenticated(
    http: httpx.AsyncClient, api_url: str, header: str
) -> None:
    response = await http.post(
        api_url + "/graphql", json={"query": VIEWER}, headers={"authorization": header}
    )
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", errors


async def test_a_wrong_secret_for_a_real_prefix_is_unauthenticated(gql: GraphQLClient) -> None:
    bot = await make_user(gql, "DATASET")
    forged = f"ck_{prefix_of(bot.token)}_{'A' * 32}"
    assert (await gql.error(VIEWER, token=forged))[0] == "UNAUTHENTICATED"


async def test_update_viewer_changes_profile_email_and_password(gql: GraphQLClient) -> None:
    human = await make_user(gql, "HUMAN")
    change = {"aboutMe": "I tag birds", "infoUrl": "https://example.org/me", "email": "a@b.org"}
    payload = (await gql(UPDATE, {"input": change}, token=human.token))["updateViewer"]
    assert payload["userErrors"] == []
    assert payload["user"] == {"id": human.id, **change}
    assert (await gql(VIEWER, token=human.token))["viewer"]["email"] == "a@b.org"

    new_password = "a much better passphrase"
    done = await gql(UPDATE, {"input": {"password": new_password}}, token=human.token)
    assert done["updateViewer"]["userErrors"] == []
    assert (await login(gql, human.name, PASSWORD))["userErrors"] == [
        {"code": "INVALID_CREDENTIALS"}
    ]
    assert (await login(gql, human.name, new_password))["apiKey"]
    assert (await gql(VIEWER, token=human.token))["viewer"]["id"] == human.id  # keys survive


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"email": "not-an-email"}, "email", "INVALID_EMAIL"),
        ({"password": "short"}, "password", "WEAK_PASSWORD"),
        ({"infoUrl": "ftp://example.org/"}, "infoUrl", "INVALID_URL"),
        ({"aboutMe": "   "}, "aboutMe", "REQUIRED"),
    ],
)
async def test_update_viewer_refuses_bad_values_and_keeps_the_old_ones(
    gql: GraphQLClient, change: dict[str, str], field: str, code: str
) -> None:
    bot = await make_user(gql, "FEATUREBOT")
    payload = (await gql(UPDATE, {"input": change}, token=bot.token))["updateViewer"]
    assert payload["user"] is None
    assert payload["userErrors"] == [{"field": field, "code": code}]
    me = await gql("{ viewer { aboutMe infoUrl email } }", token=bot.token)
    assert me["viewer"] == {"aboutMe": "test FEATUREBOT", "infoUrl": None, "email": None}


async def test_delete_viewer_soft_deletes(gql: GraphQLClient) -> None:
    human = await make_user(gql, "HUMAN")
    extra = (await gql(CREATE_KEY, token=human.token))["createApiKey"]["apiKey"]
    [sound] = await make_sounds(gql, human, [sound_input()])
    assert (await gql(DELETE, token=human.token))["deleteViewer"] == {"deleted": True}

    for key in (human.token, extra):
        assert (await gql.error(VIEWER, token=key))[0] == "UNAUTHENTICATED"
    assert (await login(gql, human.name, PASSWORD))["apiKey"] is None
    read = await gql(
        "query($id: ID!) { node(id: $id) { ... on Sound { id createdBy { id name deleted } } } }",
        {"id": sound["id"]},
    )
    assert read["node"]["createdBy"] == {"id": human.id, "name": human.name, "deleted": True}
    assert (await gql(USER_BY_ID, {"id": human.id}))["node"]["deleted"] is True
    assert (await gql(USERS_NAMED, {"n": human.name}))["users"]["edges"] == []
    listed = await gql("{ users(last: 50) { edges { node { id } } } }")
    assert human.id not in {e["node"]["id"] for e in listed["users"]["edges"]}
    taken = await sign_up(gql, name=human.name.upper(), type="DATASET", aboutMe="x")
    assert [(e["field"], e["code"]) for e in taken["userErrors"]] == [("name", "TAKEN")]
    assert (await gql.error(DELETE))[0] == "UNAUTHENTICATED"


NUL_EMAIL = "a\x00@b.org"
SIGN_UP = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id } apiKey userErrors { field code } } }"""


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        (
            SIGN_UP,
            {"input": {"name": "nul-mail", "type": "DATASET", "aboutMe": "x", "email": NUL_EMAIL}},
            {
                "createUser": {
                    "user": None,
                    "apiKey": None,
                    "userErrors": [{"field": "email", "code": "INVALID_EMAIL"}],
                }
            },
        ),
        (
            UPDATE,
            {"input": {"email": NUL_EMAIL}},
            {
                "updateViewer": {
                    "user": None,
                    "userErrors": [{"field": "email", "code": "INVALID_EMAIL"}],
                }
            },
        ),
        (
            LOGIN,
            {"n": "nul\x00name", "p": PASSWORD},
            {"login": {"apiKey": None, "userErrors": [{"code": "INVALID_CREDENTIALS"}]}},
        ),
        (REVOKE, {"p": "\x00"}, {"revokeApiKey": {"revoked": False}}),
    ],
    ids=["createUser", "updateViewer", "login", "revokeApiKey"],
)
async def test_a_nul_character_is_refused_like_any_other_bad_value(
    gql: GraphQLClient, query: str, variables: dict[str, Any], expected: dict[str, Any]
) -> None:
    """PostgreSQL cannot store U+0000; it must be a userError (or a plain no), never a 500."""
    bot = await make_user(gql, "DATASET")
    assert await gql(query, variables, token=bot.token) == expected
