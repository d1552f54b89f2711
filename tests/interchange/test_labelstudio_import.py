"""`cochlea import labelstudio`: a task list creates its sounds (duration from the task, from
Label Studio's `original_length`, or measured from the audio), an export's regions become
annotations, and Cochlea's own export comes back onto its sound without duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.factories import Account
from tests.interchange import shapes
from tests.interchange.conftest import annotated_sound, annotations_of
from tests.server import GraphQLClient
from tests.workers.audio_server import AudioServer, encode

MY_SOUNDS = """query { viewer { sounds(first: 50) { edges { node { id title audioUrl
  durationSeconds license annotations(first: 50) { edges { node { startSeconds endSeconds tags metadata } } } } } } } }"""


async def _my_sounds(gql: GraphQLClient, account: Account) -> dict[str, dict[str, Any]]:
    data = await gql(MY_SOUNDS, token=account.token)
    return {e["node"]["audioUrl"]: e["node"] for e in data["viewer"]["sounds"]["edges"]}


async def test_task_list_creates_sounds_and_regions(
    gql: GraphQLClient,
    api_url: str,
    importer: Account,
    cochlea: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COCHLEA_FETCH_ALLOW_NETWORKS", "127.0.0.0/8")
    tone = encode(np.zeros((int(2.5 * 8000), 1), dtype=np.float32), sr=8000, format="WAV")
    with AudioServer() as server:
        server.add("/clips/bird%20song.wav", body=tone)
        measured = server.url("/clips/bird%20song.wav")
        export = shapes.labelstudio_export("http://127.0.0.1:9/beats.mp3")
        tasks = [
            *export,  # duration from original_length, licence from --license
            {"data": {"audio": measured}},  # duration measured from the audio
            {"data": {"audio": "http://127.0.0.1:9/x.ogg", "title": "X", "duration": 4,
                      "license": "CC0"},
             "annotations": [{"result": [{"id": "r1", "type": "labels", "from_name": "label",
                                          "to_name": "audio",
                                          "value": {"start": 0.5, "end": 0.75,
                                                    "labels": ["chirp"]}}]}]},
        ]  # fmt: skip
        path = tmp_path / "tasks.json"
        path.write_text(json.dumps(tasks))
        argv = ("import", "labelstudio", str(path), "--license", "CC-BY-4.0",
                "--key", importer.token, "--api", api_url + "/graphql")  # fmt: skip
        done = await cochlea(*argv)
        assert done.code == 0, done.err
        assert "4 annotations on 3 sounds (3 created): 4 created, 0 already there" in done.out
        assert server.request_count == 1  # only the task without a duration was fetched

        sounds = await _my_sounds(gql, importer)
        beats = sounds["http://127.0.0.1:9/beats.mp3"]
        assert (beats["title"], beats["durationSeconds"], beats["license"]) == (
            "beats.mp3",
            98.72,
            "CC_BY",
        )
        regions = [(a["node"]["startSeconds"], a["node"]["endSeconds"], a["node"]["tags"],
                    a["node"]["metadata"]) for a in beats["annotations"]["edges"]]  # fmt: skip
        assert regions == [
            (12.78, 28.51, ["Beat"], {"text": "four on the floor"}),
            (30.0, 31.5, ["Speech", "Noise"], None),
            (0.0, 98.72, ["Jazz"], None),
        ]
        bird = sounds[measured]
        assert (bird["title"], bird["durationSeconds"]) == ("bird song.wav", 2.5)
        x = sounds["http://127.0.0.1:9/x.ogg"]
        assert (x["title"], x["durationSeconds"], x["license"]) == ("X", 4.0, "CC0")

        again = await cochlea(*argv)
        assert again.code == 0, again.err
        assert "4 annotations on 3 sounds (0 created): 0 created, 4 already there" in again.out
        assert len(await _my_sounds(gql, importer)) == 3


async def test_task_without_a_licence_or_reachable_audio_writes_nothing(
    gql: GraphQLClient, api_url: str, importer: Account, cochlea: Any, tmp_path: Path
) -> None:
    path = tmp_path / "tasks.json"
    api = ("--key", importer.token, "--api", api_url + "/graphql")
    path.write_text(json.dumps([{"data": {"audio": "http://127.0.0.1:9/a.wav", "duration": 3}}]))
    done = await cochlea("import", "labelstudio", str(path), *api)
    assert done.code == 1
    assert done.err.startswith(f"cochlea: {path}: task 0, data.license: no licence: add one")
    path.write_text(json.dumps([{"data": {"audio": "/data/upload/1/a.wav", "duration": 3}}]))
    done = await cochlea("import", "labelstudio", str(path), "--license", "CC0", *api)
    assert done.code == 1
    assert "task 0, data.audio: '/data/upload/1/a.wav' is not an absolute http(s) URL" in done.err
    # a region past the end of its sound: refused before any sound is created
    regions = [
        {
            "result": [
                {"id": "a", "type": "labels", "value": {"start": 1, "end": 9, "labels": ["x"]}}
            ]
        }
    ]
    path.write_text(json.dumps([{"data": {"audio": "http://127.0.0.1:9/b.wav", "duration": 3},
                                 "annotations": regions}]))  # fmt: skip
    done = await cochlea("import", "labelstudio", str(path), "--license", "CC0", *api)
    assert done.err == (
        f"cochlea: {path}: task 0.annotations[0].result[0], end: ends at 9 s, past the end of "
        "the sound (3 s)\n"
    )
    assert await _my_sounds(gql, importer) == {}


async def test_cochlea_export_edited_in_label_studio_comes_back_onto_its_sound(
    gql: GraphQLClient, api_url: str, owner: Account, cochlea: Any, tmp_path: Path
) -> None:
    api = ("--api", api_url + "/graphql")
    sound = await annotated_sound(gql, owner)
    path = tmp_path / "export.json"
    assert (
        await cochlea("export", sound, "--format", "labelstudio", "-o", str(path), *api)
    ).code == 0
    [task] = json.loads(path.read_text())
    assert task["data"]["sound"] == sound
    task["annotations"][0]["result"].append(
        {"id": "new1", "from_name": "label", "to_name": "audio", "type": "labels",
         "value": {"start": 8.0, "end": 9.5, "channel": 0, "labels": ["added in LS"]}}
    )  # fmt: skip
    path.write_text(json.dumps([task]))
    done = await cochlea("import", "labelstudio", str(path), "--key", owner.token, *api)
    assert done.code == 0, done.err
    assert f"7 annotations on {sound}: 1 created, 6 already there" in done.out
    stored = await annotations_of(gql, sound)
    assert len(stored) == 7 and stored[-1]["tags"] == ["added in LS"]
