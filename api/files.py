"""The `/files` mount: audio and arrays kept under the data directory, as Starlette's
StaticFiles serves them (ETag, Last-Modified, 304s, Range requests, HEAD), with fewer thread
hops per file.

Starlette's FileResponse reads in 64 KiB chunks, each through a worker thread, beside a task
that waits for the client to disconnect. For a featurebot's fetch of a 300 s WAV (53 MB) that
was 800 hops; chunks are 1 MiB here. A short sound was still five hops (the lookup's `stat`,
open, two reads, close) and the task: each hop wakes a thread and waits for it, which on two
cores showed as 10 % of the API's samples (py-spy, `bench.featurebots` on 10 s sounds). A
whole GET of a file up to `WHOLE_FILE_BYTES` is now read in one hop and sent as one body.
"""

from __future__ import annotations

import os
from typing import Any

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

WHOLE_FILE_BYTES = 8 << 20
"""Files up to this size are read whole (8 MiB: 47 s of 44.1 kHz stereo 16-bit WAV)."""
CHUNK_BYTES = 1 << 20


class WholeFileResponse(Response):
    """A file read in one thread hop and sent as one body, with the headers a
    FileResponse of it would send (`file`). A file that shrank meanwhile ends the body
    early, as FileResponse's would; one that grew is sent as its headers announced."""

    def __init__(self, file: FileResponse) -> None:
        self.file = file
        self.status_code = file.status_code
        self.background = file.background
        self.raw_headers = file.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = int(Headers(raw=self.raw_headers)["content-length"])
        body = await anyio.to_thread.run_sync(_read, self.file.path, length)
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
        if self.background is not None:
            await self.background()


def _read(path: str | os.PathLike[str], length: int) -> bytes:
    with open(path, "rb") as file:
        return file.read(length)


class DataFiles(StaticFiles):
    """StaticFiles with 1 MiB chunks, and small files' whole GETs in one read."""

    def file_response(
        self,
        full_path: Any,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if not isinstance(response, FileResponse):
            return response  # 304 Not Modified
        response.chunk_size = CHUNK_BYTES
        whole = (
            scope["method"] == "GET"
            and stat_result.st_size <= WHOLE_FILE_BYTES
            and "range" not in Headers(scope=scope)
        )
        return WholeFileResponse(response) if whole else response
