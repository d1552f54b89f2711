"""What a user sees when an import cannot be done: one line naming the file and the line or
element (never a traceback), a non-zero exit, and nothing written."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Account, make_user
from tests.interchange import shapes
from tests.interchange.conftest import annotations_of, empty_sound
from tests.server import GraphQLClient
from workers.interchange.importing import MAX_FILE_BYTES

JAMS_UNKNOWN = json.dumps({"file_metadata": {"duration": 10}, "annotations": [
    {"namespace": "tag_open", "annotation_metadata": {}, "sandbox": {},
     "data": [{"time": 0, "duration": 1, "value": "ok", "confidence": None}]},
    {"namespace": "tag_whatever", "annotation_metadata": {}, "sandbox": {}, "data": []}]})  # fmt: skip

BAD_FILES = [
    ("spaces.txt", "1.0\t2.0\tok\n1.0 2.0 kick\n",
     "line 2: expected `start<TAB>end<TAB>label` (tab-separated), found spaces"),
    ("tabs.csv", "1.0,ok\n1.0\tkick\n",
     "line 2: expected comma-separated `time[,value][,duration],label` (this line uses '\\t' instead of commas)"),
    ("inverted.txt", "1.0\t2.0\tok\n5.0\t4.0\tkick\n", "line 2: start 5 s is after end 4 s"),
    ("negative.csv", "1.0,ok\n-0.5,kick\n", "line 2, time: -0.5 is negative"),
    ("words.txt", "one\ttwo\tkick\n", "line 1, start: 'one' is not a number"),
    ("late.txt", "1.0\t2.0\tok\n9.0\t25.0\tlate\n",
     "line 2, end: ends at 25 s, past the end of the sound (10 s)"),
    ("unknown.jams", JAMS_UNKNOWN, "annotations[1], namespace: unknown JAMS namespace 'tag_whatever'"),
    ("broken.json", '[{"data": {"audio": "http://127.0.0.1:9/a.wav"}, }]',
     "line 1 column 50: invalid JSON: Expecting property name enclosed in double quotes"),
    # checked by the API (the control character), reported against the file's line
    ("control.txt", "1.0\t2.0\tok\n3.0\t4.0\tbad\x01tag\n",
     "line 2, tags[0]: tags must not contain control characters [INVALID_TAG]; nothing was written"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES)
async def test_bad_file_is_one_line_and_writes_nothing(
    name: str,
    text: str,
    message: str,
    gql: GraphQLClient,
    api_url: str,
    importer: Account,
    cochlea: Any,
    tmp_path: Path,
) -> None:
    target = await empty_sound(gql, importer)
    path = tmp_path / name
    path.write_text(text)
    done = await cochlea(
        "import", "labels", str(path), "--sound", target, "--key", importer.token,
        "--api", api_url + "/graphql",
    )  # fmt: skip
    assert done.code == 1
    assert done.err == f"cochlea: {path}: {message}\n"
    assert "Traceback" not in done.err and done.out == ""
    assert await annotations_of(gql, target) == []


async def test_file_over_the_size_limit_is_refused_with_how_to_split(
    gql: GraphQLClient, api_url: str, importer: Account, cochlea: Any, tmp_path: Path
) -> None:
    target = await empty_sound(gql, importer)
    path = tmp_path / "huge.txt"
    path.write_bytes(b"1.0\t2.0\tkick\n" * (MAX_FILE_BYTES // 13 + 1))
    done = await cochlea(
        "import", "labels", str(path), "--sound", target, "--key", importer.token,
        "--api", api_url + "/graphql",
    )  # fmt: skip
    assert done.code == 1
    assert (
        f"is over the import limit of {MAX_FILE_BYTES:,}: split it into files of at most"
        in done.err
    )
    assert done.err.count("\n") == 1
    assert await annotations_of(gql, target) == []


async def test_file_over_the_batch_limit_is_refused_with_how_to_split(
    gql: GraphQLClient, api_url: str, importer: Account, cochlea: Any, tmp_path: Path
) -> None:
    target = await empty_sound(gql, importer)
    path = tmp_path / "many.csv"
    path.write_text("".join(f"{i / 1000:.3f},tick\n" for i in range(5001)))
    done = await cochlea(
        "import", "labels", str(path), "--sound", target, "--key", importer.token,
        "--api", api_url + "/graphql",
    )  # fmt: skip
    assert done.code == 1
    assert done.err == (
        f"cochlea: {path}: 5,001 labels, but one import is one atomic batch of at most 5,000: "
        "split the file (e.g. by time) into parts of at most 5,000 rows and import each\n"
    )
    assert await annotations_of(gql, target) == []


async def test_without_a_key_it_says_how_to_get_one(
    api_url: str, cochlea: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COCHLEA_API_KEY", raising=False)
    path = tmp_path / "a.txt"
    path.write_text(shapes.AUDACITY)
    done = await cochlea("import", "labels", str(path), "--sound", str(uuid.uuid4()))
    assert done.code == 2
    assert "no API key: set COCHLEA_API_KEY or pass --key" in done.err
    assert "`login`" in done.err and "`createUser`" in done.err
    done = await cochlea("import", "labelstudio", str(path))
    assert done.code == 2 and "no API key" in done.err


async def test_key_and_api_from_the_environment(
    gql: GraphQLClient,
    api_url: str,
    importer: Account,
    cochlea: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COCHLEA_API_KEY", importer.token)
    monkeypatch.setenv("COCHLEA_API_URL", api_url + "/graphql")
    target = await empty_sound(gql, importer, seconds=30)
    path = tmp_path / "labels"  # no extension: the content says Audacity
    path.write_text(shapes.AUDACITY)
    done = await cochlea("import", "labels", str(path), "--sound", target)
    assert done.code == 0, done.err
    stored = await annotations_of(gql, target)
    assert [(a["startSeconds"], a["endSeconds"], a["tags"]) for a in stored] == [
        (1.0, 2.5, ["kick"]),
        (3.4, 3.401, ["snare"]),
        (4.0, 4.25, ["kick", "hat"]),
        (5.0, 6.0, []),
    ]
    assert stored[1]["metadata"] == {"lowHz": 1484.669312, "highHz": 2969.338523, "point": True}


async def test_unknown_sound_bad_key_and_a_reader_key(
    gql: GraphQLClient, api_url: str, importer: Account, cochlea: Any, tmp_path: Path
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("1.0\t2.0\tkick\n")
    api = ("--api", api_url + "/graphql")
    missing = str(uuid.uuid4())
    done = await cochlea(
        "import", "labels", str(path), "--sound", missing, "--key", importer.token, *api
    )
    assert (done.code, done.err) == (1, f"cochlea: --sound: there is no sound {missing}\n")
    done = await cochlea(
        "import", "labels", str(path), "--sound", missing, "--key", "ck_nope_nope", *api
    )
    assert done.code == 1
    assert (
        done.err == "cochlea: the API refused the key: the API key is unknown, revoked or expired\n"
    )
    reader = await make_user(gql, "AGGREGATOR")
    target = await empty_sound(gql, importer)
    done = await cochlea(
        "import", "labels", str(path), "--sound", target, "--key", reader.token, *api
    )
    assert done.code == 1 and "FORBIDDEN" in done.err and "\n" == done.err[-1]
    assert await annotations_of(gql, target) == []
    done = await cochlea("export", missing, "--format", "csv", *api)
    assert (done.code, done.err) == (1, f"cochlea: there is no sound {missing}\n")
