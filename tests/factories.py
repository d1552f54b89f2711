"""Making users, sounds and annotations through the public API, as clients do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.server import GraphQLClient

CREATE_USER = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id name type } apiKey userErrors { field code message } }
}"""
LOGIN = "mutation($n: String!, $p: String!) { login(name: $n, password: $p) { apiKey userErrors { code } } }"
CREATE_SOUNDS = """
mutation($input: [SoundInput!]!) {
  createSounds(input: $input) {
    sounds { id title audioUrl durationSeconds tags license }
    userErrors { index field code message }
  }
}"""
CREATE_ANNOTATIONS = """
mutation($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) {
    annotations { id startSeconds durationSeconds endSeconds tags dataUrl metadata }
    userErrors { index field code message }
  }
}"""


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    type: str
    token: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def make_user(
    gql: GraphQLClient, type_: str = "DATASET", *, name: str | None = None
) -> Account:
    name = name or unique(type_.lower())
    password = "correct horse battery" if type_ == "HUMAN" else None
    data = await gql(
        CREATE_USER,
        {"input": {"name": name, "type": type_, "password": password, "aboutMe": f"test {type_}"}},
    )
    payload = data["createUser"]
    assert payload["userErrors"] == [], payload
    token = payload["apiKey"]
    if type_ == "HUMAN":
        token = (await gql(LOGIN, {"n": name, "p": password}))["login"]["apiKey"]
    return Account(id=payload["user"]["id"], name=name, type=type_, token=token)


def sound_input(**overrides: Any) -> dict[str, Any]:
    base = {
        "title": "A test tone",
        "audioUrl": f"http://127.0.0.1:9/{uuid.uuid4().hex}.wav",
        "license": "CC_BY",
        "durationSeconds": 60.0,
        "tags": ["tone"],
    }
    return base | overrides


async def make_sounds(
    gql: GraphQLClient, account: Account, inputs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    payload = (await gql(CREATE_SOUNDS, {"input": inputs}, token=account.token))["createSounds"]
    assert payload["userErrors"] == [], payload["userErrors"][:3]
    return payload["sounds"]  # type: ignore[no-any-return]


async def make_annotations(
    gql: GraphQLClient, account: Account, inputs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    payload = (await gql(CREATE_ANNOTATIONS, {"input": inputs}, token=account.token))[
        "createAnnotations"
    ]
    assert payload["userErrors"] == [], payload["userErrors"][:3]
    return payload["annotations"]  # type: ignore[no-any-return]
