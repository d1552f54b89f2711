"""Helpers for the interchange tests: sounds with annotations made through the API, and the
`cochlea` CLI run as a user runs it (`api.cli.main`, in a thread: it runs its own loop)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from api.cli import main
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient

ANNOTATIONS = [
    {"startSeconds": 0, "durationSeconds": 10, "tags": ["dark", "bright"]},
    {"startSeconds": 1.25, "durationSeconds": 1.25, "tags": ["snare"],
     "metadata": {"lowHz": 100.5, "highHz": None}},
    {"startSeconds": 3.4, "durationSeconds": 0.001, "tags": ["onset"], "metadata": {"point": True}},
    {"startSeconds": 4, "durationSeconds": 1.123456789, "tags": ["speech"],
     "metadata": {"text": "hello there", "value": 0.5}},
    {"startSeconds": 0, "durationSeconds": 10, "dataUrl": "http://127.0.0.1:9/f.npy",
     "metadata": {"dtype": "float32", "shape": [10, 2]}},
    {"startSeconds": 6.000001, "durationSeconds": 1.999998, "tags": ["note:C4", "piano"]},
]  # fmt: skip

SOUND_ANNOTATIONS = """
query($id: ID!) { node(id: $id) { ... on Sound { annotations(first: 500) { totalCount
  edges { node { startSeconds endSeconds tags dataUrl metadata createdBy { name } } } } } } }"""


@dataclass
class Cli:
    code: int
    out: str
    err: str


@pytest.fixture
def cochlea(capsys: pytest.CaptureFixture[str]) -> Any:
    """`await cochlea("export", ...)` runs the CLI and returns its exit code and output."""

    async def run(*argv: str) -> Cli:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        captured = capsys.readouterr()
        return Cli(code, captured.out, captured.err)

    return run


async def annotated_sound(
    gql: GraphQLClient, account: Account, *, title: str = "A test tone", seconds: float = 10.0
) -> str:
    [sound] = await make_sounds(gql, account, [sound_input(title=title, durationSeconds=seconds)])
    inputs = [a | {"sound": sound["id"]} for a in ANNOTATIONS]
    await make_annotations(gql, account, inputs)
    return str(sound["id"])


async def empty_sound(gql: GraphQLClient, account: Account, *, seconds: float = 10.0) -> str:
    [sound] = await make_sounds(gql, account, [sound_input(durationSeconds=seconds)])
    return str(sound["id"])


async def annotations_of(gql: GraphQLClient, sound: str) -> list[dict[str, Any]]:
    data = await gql(SOUND_ANNOTATIONS, {"id": sound})
    return [e["node"] for e in data["node"]["annotations"]["edges"]]


@pytest.fixture
async def owner(gql: GraphQLClient) -> Account:
    return await make_user(gql, "DATASET")


@pytest.fixture
async def importer(gql: GraphQLClient) -> Account:
    return await make_user(gql, "HUMAN")
