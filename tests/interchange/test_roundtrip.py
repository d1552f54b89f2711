"""Export -> import into another sound -> export again gives the same file (segments, tags and
data, times to the microsecond), through the `cochlea` CLI against a real API; importing the
same file twice creates nothing the second time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Account
from tests.interchange.conftest import annotated_sound, annotations_of, empty_sound
from tests.server import GraphQLClient
from workers.interchange.formats import FORMATS


def _comparable(fmt: str, text: str) -> Any:
    """The file without what names the sound itself (its id and audio URL) or the creator."""
    if fmt == "jams":
        document = json.loads(text)
        document["file_metadata"].pop("identifiers")
        document["sandbox"]["cochlea"].pop("sound")
        for annotation in document["annotations"]:
            annotation["annotation_metadata"].pop("annotator")
        return document
    if fmt == "labelstudio":
        [task] = json.loads(text)
        assert set(task["data"]) == {"audio", "title", "sound"}
        return task["annotations"]
    return text


def _stored(annotations: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            round(a["startSeconds"], 6),
            round(a["endSeconds"], 6),
            tuple(a["tags"]),
            a["dataUrl"],
            json.dumps(a["metadata"], sort_keys=True),
        )
        for a in annotations
    )


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_export_import_export_gives_the_same_file(
    fmt: str,
    gql: GraphQLClient,
    api_url: str,
    owner: Account,
    importer: Account,
    cochlea: Any,
    tmp_path: Path,
) -> None:
    api = api_url + "/graphql"
    source = await annotated_sound(gql, owner)
    target = await empty_sound(gql, importer)
    ext = FORMATS[fmt].extension
    first, second = tmp_path / f"first.{ext}", tmp_path / f"second.{ext}"

    done = await cochlea("export", source, "--format", fmt, "-o", str(first), "--api", api)
    assert done.code == 0, done.err
    done = await cochlea(
        "import", "labels", str(first), "--sound", target, "--key", importer.token, "--api", api
    )
    assert done.code == 0, done.err
    expected = 5 if fmt == "audacity" else 6  # Audacity has no line for a tag-less feature
    assert f"{expected} annotations on {target}: {expected} created, 0 already there" in done.out
    done = await cochlea("export", target, "--format", fmt, "-o", str(second), "--api", api)
    assert done.code == 0, done.err
    assert _comparable(fmt, second.read_text()) == _comparable(fmt, first.read_text())

    imported = await annotations_of(gql, target)
    assert {a["createdBy"]["name"] for a in imported} == {importer.name}
    if fmt in ("jams", "labelstudio"):  # lossless: the same annotations as the source's
        assert _stored(imported) == _stored(await annotations_of(gql, source))
    point = next(a for a in imported if a["tags"] == ["onset"])
    assert point["startSeconds"] == 3.4 and point["metadata"] == {"point": True}

    again = await cochlea(
        "import", "labels", str(first), "--sound", target, "--key", importer.token, "--api", api
    )
    assert again.code == 0, again.err
    assert f"{expected} annotations on {target}: 0 created, {expected} already there" in again.out
    assert len(await annotations_of(gql, target)) == expected


async def test_reimport_of_the_same_file_by_key_creates_nothing(
    gql: GraphQLClient, api_url: str, importer: Account, cochlea: Any, tmp_path: Path
) -> None:
    """Two identical rows are two annotations; a second import sends the same keys."""
    target = await empty_sound(gql, importer)
    path = tmp_path / "twice.txt"
    path.write_text("1.0\t2.0\tkick\n1.0\t2.0\tkick\n3.0\t3.0\tclick\n")
    argv = ("import", "labels", str(path), "--sound", target, "--key", importer.token,
            "--api", api_url + "/graphql")  # fmt: skip
    assert (await cochlea(*argv)).code == 0
    assert len(await annotations_of(gql, target)) == 3
    done = await cochlea(*argv)
    assert done.code == 0 and "0 created, 3 already there" in done.out
    assert len(await annotations_of(gql, target)) == 3
    # an edited file adds only its new row
    path.write_text("1.0\t2.0\tkick\n1.0\t2.0\tkick\n3.0\t3.0\tclick\n4.0\t5.0\tsnare\n")
    done = await cochlea(*argv)
    assert done.code == 0 and "1 created, 3 already there" in done.out
