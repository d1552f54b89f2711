"""`cochlea import labels|labelstudio` and `cochlea export`: label files in and out.

These commands are API clients (`workers.sdk.client.ApiClient` over HTTP), acting as the holder
of the key in `COCHLEA_API_KEY` (or `--key`) against `COCHLEA_API_URL` (or `--api`). Bad input
and refusals print one line naming the file and line or element, and exit non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.settings import Settings
from workers.interchange import remote
from workers.interchange.formats import FORMATS, guess
from workers.interchange.model import LabelFileError
from workers.sdk.client import ApiClient, ApiError, ApiUnavailable, GraphQLError

if TYPE_CHECKING:  # the importer (and the API's rules it shares) loads only when one runs
    from workers.interchange.importing import Imported

NO_KEY = (
    "no API key: set COCHLEA_API_KEY or pass --key. A person gets a key from the `login` "
    "mutation (name and password); a dataset or bot gets one when it signs up with `createUser`"
)


def register(formats: Any, commands: Any) -> None:
    """Add `labels` and `labelstudio` to `cochlea import`, and `export` to `cochlea`."""
    names = "|".join(FORMATS)
    labels = formats.add_parser(
        "labels", help=f"annotations from a label file ({names}) onto one sound"
    )
    labels.add_argument("file", type=Path, metavar="FILE")
    labels.add_argument("--sound", required=True, metavar="ID", help="the sound to annotate")
    labels.add_argument(
        "--format", choices=list(FORMATS), help="default: guessed from the extension and content"
    )
    _client_options(labels)
    labels.set_defaults(run=_run_import_labels)

    studio = formats.add_parser(
        "labelstudio", help="a Label Studio export or task list: its sounds and regions"
    )
    studio.add_argument("file", type=Path, metavar="FILE")
    studio.add_argument(
        "--license", help="licence of new sounds whose task names none (e.g. CC_BY, CC0)"
    )
    _client_options(studio)
    studio.set_defaults(run=_run_import_labelstudio)

    export = commands.add_parser("export", help=f"a sound's annotations as a label file ({names})")
    export.add_argument("sound", metavar="SOUND_ID")
    export.add_argument("--format", required=True, choices=list(FORMATS))
    export.add_argument("--created-by", metavar="NAME", help="only this user's annotations")
    export.add_argument(
        "--tag", action="append", default=[], metavar="T", help="only annotations tagged T"
    )
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    _client_options(export)
    export.set_defaults(run=_run_export)


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", help="API key (default: COCHLEA_API_KEY)")
    parser.add_argument("--api", metavar="URL", help="GraphQL URL (default: COCHLEA_API_URL)")


def _fail(message: str, code: int = 1) -> int:
    print(f"cochlea: {message}", file=sys.stderr)
    return code


def _client(args: argparse.Namespace, *, need_key: bool) -> ApiClient | None:
    key = args.key or os.environ.get("COCHLEA_API_KEY") or None
    if need_key and not key:
        return None
    return ApiClient(url=args.api or Settings().graphql_url, token=key)


def _api_problem(error: ApiError, url: str) -> str:
    if isinstance(error, ApiUnavailable):
        return f"cannot use the API at {url}: {error}"
    if isinstance(error, GraphQLError) and error.code == "UNAUTHENTICATED":
        return f"the API refused the key: {error.errors[0].get('message')}"
    return f"the API answered: {error}"


def _run_import_labels(args: argparse.Namespace) -> int:
    from workers.interchange.importing import ImportRefused, import_labels, read_file

    client = _client(args, need_key=True)
    if client is None:
        return _fail(NO_KEY, 2)

    async def run() -> Imported:
        async with client:
            data = read_file(args.file)
            try:
                fmt = FORMATS[args.format] if args.format else guess(str(args.file), data)
            except LabelFileError as error:
                raise ImportRefused(f"{args.file}: {error}") from None
            return await import_labels(client, args.file, data, fmt, args.sound)

    return _report(client.url, run)


def _run_import_labelstudio(args: argparse.Namespace) -> int:
    from workers.interchange.importing import import_labelstudio, read_file

    client = _client(args, need_key=True)
    if client is None:
        return _fail(NO_KEY, 2)
    settings = Settings()

    async def run() -> Imported:
        async with client:
            data = read_file(args.file)
            return await import_labelstudio(
                client, args.file, data, license=args.license, settings=settings
            )

    return _report(client.url, run)


def _report(url: str, run: Any) -> int:
    from workers.interchange.importing import ImportRefused

    try:
        done: Imported = asyncio.run(run())
    except ImportRefused as error:
        return _fail(str(error))
    except ApiError as error:
        return _fail(_api_problem(error, url))
    where = ", ".join(s.id for s in done.sounds) or "no sound"
    if len(done.sounds) > 1 or done.new_sounds:
        where = f"{len(done.sounds)} sounds ({done.new_sounds} created)"
    print(
        f"{done.labels} annotations on {where}: {done.created} created, "
        f"{done.labels - done.created} already there"
    )
    return 0


def _run_export(args: argparse.Namespace) -> int:
    client = _client(args, need_key=False)
    assert client is not None
    fmt = FORMATS[args.format]

    async def run() -> str:
        async with client:
            sound = await remote.get_sound(client, args.sound)
            creator = await remote.user_id(client, args.created_by) if args.created_by else None
            labels = await remote.labels_of(client, sound.id, created_by=creator, tags=args.tag)
            return fmt.write(sound, labels)

    try:
        text = asyncio.run(run())
    except remote.NotFound as error:
        return _fail(str(error))
    except ApiError as error:
        if isinstance(error, GraphQLError) and error.code == "UNAUTHENTICATED" and not client.token:
            return _fail(f"{_api_problem(error, client.url)}. {NO_KEY}")
        return _fail(_api_problem(error, client.url))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        _write_atomically(args.output, text)
    except OSError as error:
        return _fail(f"{args.output}: {error.strerror or error}")
    print(f"wrote {args.output} ({fmt.name})", file=sys.stderr)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Write a temporary file next to `path`, then rename it: no half-written file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
