"""Files in the tools' own shapes (JAMS with several namespaces, Sonic Visualiser CSV with and
without value and duration, a gzipped .jamz) imported through the CLI land with the right
times and tags."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Account
from tests.interchange import shapes
from tests.interchange.conftest import annotations_of, empty_sound
from tests.server import GraphQLClient

JAMS_STORED = [
    (0.0, 30.0, ["rock", "guitar"], None),
    (0.0, 10.5, ["verse"], None),
    (10.5, 19.75, ["chorus"], None),
    (1.0, 1.001, ["onset"], {"point": True}),
    (2.5, 2.501, ["onset"], {"point": True}),
    (0.0, 2.0, ["C:maj"], None),
    (2.0, 4.0, ["G:7"], None),
    (0.5, 0.501, ["beat"], {"value": 1, "point": True}),
    (0.0, 30.0, ["blues"], {"confidence": 0.8}),
]
CSV_STORED = [
    (1.5, 1.75, ["snare"], {"value": 0.5}),
    (2.0, 3.0, ["kick, low"], {"value": 0.8}),
    (0.5, 0.501, ["onset"], {"point": True}),
    (1.0, 1.001, ["onset"], {"point": True}),
    (3.0, 3.001, ["A4"], {"value": 440.0, "point": True}),
    (0.25, 0.75, ["hat"], None),
    (1.0, 1.001, ["click"], {"point": True}),
]


@pytest.mark.parametrize(
    ("files", "stored"),
    [
        ({"t.jams": shapes.jams_file().encode()}, JAMS_STORED),
        ({"t.jamz": gzip.compress(shapes.jams_file().encode())}, JAMS_STORED),
        (
            {
                "regions.csv": shapes.SV_REGIONS.encode(),
                "instants.csv": shapes.SV_INSTANTS.encode(),
                "values.csv": shapes.SV_VALUES.encode(),
                "header": shapes.SV_HEADER.encode(),  # no extension: the content says CSV
            },
            CSV_STORED,
        ),
    ],
)
async def test_tool_files_import_with_the_right_times_and_tags(
    files: dict[str, bytes],
    stored: list[tuple[Any, ...]],
    gql: GraphQLClient,
    api_url: str,
    importer: Account,
    cochlea: Any,
    tmp_path: Path,
) -> None:
    target = await empty_sound(gql, importer, seconds=30)
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        done = await cochlea("import", "labels", str(path), "--sound", target,
                             "--key", importer.token, "--api", api_url + "/graphql")  # fmt: skip
        assert done.code == 0, done.err
    found = [
        (a["startSeconds"], round(a["endSeconds"], 6), a["tags"], a["metadata"])
        for a in await annotations_of(gql, target)
    ]
    assert found == stored
