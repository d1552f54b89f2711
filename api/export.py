"""`GET /export/sounds/<id>.<jams|txt|json|csv>`: a sound's annotations as a label file
(JAMS, Audacity labels, a Label Studio task, Sonic Visualiser CSV), for download buttons.

Query parameters filter like the API: `createdBy` (a user's name or id) and `tag` (repeatable;
all must match). Reads follow the GraphQL rules: anonymous when public reads are on, else with
`Authorization: Bearer <key>`. Errors are JSON with a code, as GraphQL's: 400 for a bad id,
extension or filter, 401 without a usable key, 404 for an unknown sound or user, 413 when over
`MAX_ANNOTATIONS` annotations match (the file is built in memory).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.errors import BadUserInput, CochleaError, RequestTooLarge, Unauthenticated
from api.services import auth, ids
from api.services.filters import AnnotationFilter, UserFilter
from api.services.pagination import PageRequest
from api.services.reading import ANNOTATIONS, SOUNDS, USERS, list_page, load_by_ids
from api.services.records import AnnotationRecord
from api.settings import Settings
from workers.interchange.formats import BY_EXTENSION, Format
from workers.interchange.model import Label, SoundInfo, from_annotation

EXTENSIONS = ("jams", "txt", "json", "csv")
PAGE = 5000
MAX_ANNOTATIONS = 100_000  # one response is built in memory: beyond this, filter


class _NotFound(CochleaError):
    code = "NOT_FOUND"


def _error(error: CochleaError, status: int) -> JSONResponse:
    body = {"errors": [{"message": error.message, "extensions": error.extensions}]}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def export_sound(request: Request) -> Response:
    """The route handler; see the module docstring."""
    state: Any = request.app.state
    try:
        return await _export(request, state.engine, state.settings)
    except Unauthenticated as error:
        return _error(error, 401)
    except _NotFound as error:
        return _error(error, 404)
    except RequestTooLarge as error:
        return _error(error, 413)
    except BadUserInput as error:
        return _error(error, 400)


async def _export(request: Request, engine: AsyncEngine, settings: Settings) -> Response:
    stem, _, extension = request.path_params["name"].rpartition(".")
    if extension not in EXTENSIONS:
        raise BadUserInput(
            f"the file name must end in .{', .'.join(EXTENSIONS)}", argument="extension"
        )
    fmt: Format = BY_EXTENSION[extension]
    sound_id = ids.parse(stem)
    if sound_id is None:
        raise BadUserInput(f"{stem!r} is not a sound id", argument="id")
    viewer = await auth.authenticate(
        engine=engine, authorization=request.headers.get("authorization")
    )
    if viewer is None and not settings.public_read:
        raise Unauthenticated("reading needs an API key on this server (public read is off)")
    [sound] = await load_by_ids(engine=engine, kind=SOUNDS, ids=[sound_id])
    if sound is None:
        raise _NotFound(f"there is no sound {sound_id}")
    created_by = await _creator(engine, request.query_params.get("createdBy"))
    wanted = AnnotationFilter(
        sound=sound_id, created_by=created_by, tags=tuple(request.query_params.getlist("tag"))
    )
    records: list[AnnotationRecord] = []
    after: str | None = None
    while True:
        page = await list_page(
            engine=engine,
            kind=ANNOTATIONS,
            filter=wanted,
            request=PageRequest(first=PAGE, after=after),
            max_size=PAGE,
        )
        records.extend(page.items)
        if len(records) > MAX_ANNOTATIONS:
            raise RequestTooLarge(
                f"over {MAX_ANNOTATIONS:,} annotations match: narrow the export with "
                "`createdBy` or `tag`"
            )
        if not page.items or not page.has_next_page:
            break
        after = page.cursor(len(page.items) - 1)
    users = await load_by_ids(engine=engine, kind=USERS, ids=list({r.created_by for r in records}))
    names = {u.id: u.name for u in users if u is not None}
    labels = [_label(r, names.get(r.created_by)) for r in records]
    info = SoundInfo(
        id=str(sound.id),
        title=sound.title,
        audio_url=sound.audio_url,
        duration_seconds=sound.duration_seconds,
        license=sound.license,
        info_url=sound.info_url,
        tags=tuple(sound.tags),
    )
    text = await asyncio.to_thread(fmt.write, info, labels)  # JAMS validation is CPU work
    filename = f"{_slug(sound.title) or sound.id}.{extension}"
    return Response(
        text,
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _creator(engine: AsyncEngine, value: str | None) -> uuid.UUID | None:
    """The id `createdBy` names: an id as it is, else a user name."""
    if value is None or not value.strip():
        return None
    parsed = ids.parse(value)
    if parsed is not None:
        return parsed
    page = await list_page(
        engine=engine,
        kind=USERS,
        filter=UserFilter(name=value.strip()),
        request=PageRequest(first=1),
        max_size=1,
    )
    if not page.items:
        raise _NotFound(f"there is no user named {value.strip()!r}", argument="createdBy")
    return page.items[0].id


def _label(record: AnnotationRecord, creator: str | None) -> Label:
    return from_annotation(
        start=record.start_seconds,
        duration=record.duration_seconds,
        tags=record.tags,
        data_url=record.data_url,
        metadata=record.metadata,
        created_by=creator,
    )


def _slug(title: str) -> str:
    """An ASCII file name from a title: `Twinkle, Twinkle` -> `twinkle-twinkle`."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80]
