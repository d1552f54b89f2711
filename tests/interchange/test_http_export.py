"""`GET /export/sounds/<id>.<jams|txt|json|csv>`: a download (file name header) with the
`createdBy` and `tag` filters, readable by a browser page (CORS), anonymous only when public
reads are on, and coded JSON errors otherwise."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import jams
import pytest

from api.settings import Settings
from tests.factories import Account, make_annotations
from tests.interchange.conftest import annotated_sound
from tests.server import GraphQLClient, running_api
from workers.interchange import audacity, sonic_visualiser


@pytest.mark.filterwarnings("ignore:Passing a schema to Validator:DeprecationWarning")
async def test_each_extension_downloads_its_format(
    gql: GraphQLClient, api_url: str, owner: Account, http: httpx.AsyncClient
) -> None:
    sound = await annotated_sound(gql, owner, title="Twinkle, Twinkle")
    types = {"jams": "application/json", "txt": "text/plain; charset=utf-8",
             "json": "application/json", "csv": "text/csv; charset=utf-8"}  # fmt: skip
    for extension, media_type in types.items():
        answer = await http.get(f"{api_url}/export/sounds/{sound}.{extension}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == media_type
        assert answer.headers["content-disposition"] == (
            f'attachment; filename="twinkle-twinkle.{extension}"'
        )
    jam = jams.load(io.StringIO((await http.get(f"{api_url}/export/sounds/{sound}.jams")).text))
    assert jam.file_metadata.identifiers["cochlea_sound"] == sound
    assert sum(len(a.data) for a in jam.annotations) == 8  # one observation per tag


async def test_same_file_as_the_cli(
    gql: GraphQLClient, api_url: str, owner: Account, http: httpx.AsyncClient, cochlea: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    sound = await annotated_sound(gql, owner)
    for fmt, extension in (("csv", "csv"), ("labelstudio", "json"), ("jams", "jams")):
        out = tmp_path / f"cli.{extension}"
        done = await cochlea("export", sound, "--format", fmt, "-o", str(out),
                             "--api", api_url + "/graphql")  # fmt: skip
        assert done.code == 0, done.err
        answer = await http.get(f"{api_url}/export/sounds/{sound}.{extension}")
        assert answer.text == out.read_text()


async def test_filters_by_creator_and_tag(
    gql: GraphQLClient, api_url: str, owner: Account, importer: Account, http: httpx.AsyncClient,
    cochlea: Any,
) -> None:  # fmt: skip
    sound = await annotated_sound(gql, owner)
    await make_annotations(gql, importer, [
        {"sound": sound, "startSeconds": 2, "durationSeconds": 1, "tags": ["snare", "mine"]}
    ])  # fmt: skip
    url = f"{api_url}/export/sounds/{sound}.txt"

    def spans(text: str) -> list[tuple[float, float, tuple[str, ...]]]:
        return [(x.start, x.end, x.tags) for x in audacity.read(text.encode())]

    everything = spans((await http.get(url)).text)
    assert len(everything) == 6
    assert spans((await http.get(url, params={"createdBy": importer.name})).text) == [
        (2.0, 3.0, ("snare", "mine"))
    ]
    assert spans((await http.get(url, params={"createdBy": importer.id})).text) == [
        (2.0, 3.0, ("snare", "mine"))
    ]
    assert spans((await http.get(url, params={"tag": "snare"})).text) == [
        (1.25, 2.5, ("snare",)),
        (2.0, 3.0, ("snare", "mine")),
    ]
    assert spans((await http.get(url, params=[("tag", "SNARE"), ("tag", "mine")])).text) == [
        (2.0, 3.0, ("snare", "mine"))
    ]
    csv = (await http.get(f"{api_url}/export/sounds/{sound}.csv", params={"createdBy": owner.name,
                                                                          "tag": "onset"})).text  # fmt: skip
    assert [(x.start, x.point) for x in sonic_visualiser.read(csv.encode())] == [(3.4, True)]
    # the CLI's filters are the same
    done = await cochlea("export", sound, "--format", "audacity", "--created-by", importer.name,
                         "--tag", "snare", "--api", api_url + "/graphql")  # fmt: skip
    assert done.code == 0 and spans(done.out) == [(2.0, 3.0, ("snare", "mine"))]
    answer = await http.get(url, params={"createdBy": "nobody-by-this-name"})
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_bad_requests_are_coded_json(
    gql: GraphQLClient, api_url: str, owner: Account, http: httpx.AsyncClient
) -> None:
    sound = await annotated_sound(gql, owner)
    cases = [
        (f"/export/sounds/{sound}.mp3", 400, "BAD_USER_INPUT"),
        ("/export/sounds/not-an-id.jams", 400, "BAD_USER_INPUT"),
        (f"/export/sounds/{sound}", 400, "BAD_USER_INPUT"),
        (f"/export/sounds/{uuid.uuid4()}.csv", 404, "NOT_FOUND"),
    ]
    for path, status, code in cases:
        answer = await http.get(api_url + path)
        assert answer.status_code == status, path
        assert answer.json()["errors"][0]["extensions"]["code"] == code
    bad_key = await http.get(f"{api_url}/export/sounds/{sound}.csv",
                             headers={"authorization": "Bearer ck_nope_nope"})  # fmt: skip
    assert bad_key.status_code == 401
    assert bad_key.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_browser_page_may_read_it(
    gql: GraphQLClient, api_url: str, owner: Account, http: httpx.AsyncClient
) -> None:
    sound = await annotated_sound(gql, owner)
    origin = {"origin": "http://example.test"}
    url = f"{api_url}/export/sounds/{sound}.json"
    answer = await http.get(url, headers=origin)
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "content-disposition" in answer.headers["access-control-expose-headers"].lower()
    preflight = await http.options(url, headers=origin | {
        "access-control-request-method": "GET", "access-control-request-headers": "authorization"
    })  # fmt: skip
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


async def test_private_server_needs_the_bearer_key(
    settings: Settings, gql: GraphQLClient, owner: Account, http: httpx.AsyncClient,
    cochlea: Any, tmp_path: Path,
) -> None:  # fmt: skip
    sound = await annotated_sound(gql, owner)
    private = Settings(database_url=settings.database_url, redis_url=settings.redis_url,
                       data_dir=tmp_path, public_read=False)  # fmt: skip
    with running_api(private) as base:
        url = f"{base}/export/sounds/{sound}.jams"
        anonymous = await http.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        error = anonymous.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "public read is off" in error["message"]
        keyed = await http.get(url, headers={"authorization": f"Bearer {owner.token}"})
        assert keyed.status_code == 200
        assert json.loads(keyed.text)["file_metadata"]["identifiers"]["cochlea_sound"] == sound
        # the CLI says what is missing
        done = await cochlea("export", sound, "--format", "jams", "--api", base + "/graphql")
        assert done.code == 1 and "no API key: set COCHLEA_API_KEY" in done.err
        done = await cochlea("export", sound, "--format", "jams", "--key", owner.token,
                             "--api", base + "/graphql")  # fmt: skip
        assert done.code == 0 and json.loads(done.out)["annotations"]


async def test_too_many_matches_ask_for_a_filter(
    gql: GraphQLClient,
    api_url: str,
    owner: Account,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sound = await annotated_sound(gql, owner)
    monkeypatch.setattr("api.export.MAX_ANNOTATIONS", 3)  # the server runs in this process
    answer = await http.get(f"{api_url}/export/sounds/{sound}.csv")
    assert answer.status_code == 413
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "narrow the export with `createdBy` or `tag`" in error["message"]
    assert (await http.get(f"{api_url}/export/sounds/{sound}.csv?tag=snare")).status_code == 200
