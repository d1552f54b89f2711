"""`cochlea import nsynth|musicnet|folder|manifest`: the dataset importers' commands.

Each reads its source, checks every item whole, and publishes as a DATASET user through the
public API. Exit status: 0 when everything is in, 1 when anything was skipped or bad input
stopped the import (the message names the file, line or key, and field), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console
from rich.markup import escape

from api.settings import get_settings
from workers.datasets.items import BadInput
from workers.datasets.rows import UNITS, RowOptions

if TYPE_CHECKING:  # the importers (numpy, soundfile, redis) load only when a command runs
    from workers.datasets.run import Source

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="the DATASET user to publish as (signed up on first use)")
    parser.add_argument(
        "--api",
        help="GraphQL URL of the API (default: COCHLEA_API_URL or COCHLEA_PUBLIC_URL + /graphql)",
    )
    parser.add_argument(
        "--audio-base-url",
        metavar="URL",
        help="the audio is already served here, laid out as in the source; "
        "default: publish it into Cochlea's object store",
    )
    parser.add_argument(
        "--license",
        help="licence of items that name none (CC_BY, CC0, "
        "CC-BY-NC-4.0, a creativecommons.org URL...)",
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="T",
        help="add this tag to every sound (repeatable), e.g. the split",
    )
    parser.add_argument(
        "--limit", type=_positive, metavar="N", help="import the first N items only"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything, write nothing, print what would be created",
    )
    parser.add_argument(
        "--on-error",
        choices=("skip", "stop"),
        default="stop",
        help="at a bad item: skip it and go on, or stop before writing it (default: stop)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=1000,
        metavar="N",
        help="sounds per createSounds call (at most 1,000; default 1,000)",
    )


def _times(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-unit",
        choices=(*UNITS, "samples"),
        default="seconds",
        help="unit of the time columns (default: seconds)",
    )
    parser.add_argument(
        "--sample-rate",
        type=_positive,
        metavar="HZ",
        help="samples per second, with --time-unit samples",
    )


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number


def register(formats: Any) -> None:
    """Add the dataset formats to `cochlea import`'s sub-commands."""
    nsynth = formats.add_parser("nsynth", help="an NSynth split (examples.json, audio/*.wav)")
    nsynth.add_argument("directory", type=Path, metavar="DIR")
    musicnet = formats.add_parser(
        "musicnet", help="MusicNet (musicnet_metadata.csv, {train,test}_{data,labels}/)"
    )
    musicnet.add_argument("directory", type=Path, metavar="DIR")
    folder = formats.add_parser(
        "folder", help="a folder of audio, local or an HTTP listing (+ metadata.csv/jsonl)"
    )
    folder.add_argument("where", metavar="DIR_OR_URL")
    manifest = formats.add_parser("manifest", help="a CSV, TSV, JSON or JSONL list of sounds")
    manifest.add_argument("file", type=Path, metavar="FILE")
    manifest.add_argument(
        "--base-url",
        metavar="URL_OR_DIR",
        help="where `file_name`s are (default: the manifest's directory)",
    )
    kinds = {"nsynth": nsynth, "musicnet": musicnet, "folder": folder, "manifest": manifest}
    for kind, parser in kinds.items():
        _common(parser)
        if kind in ("folder", "manifest"):
            _times(parser)
        parser.set_defaults(run=_run, dataset_format=kind)


def _source(args: argparse.Namespace, http: httpx.Client) -> Source:
    from workers.datasets import folder, manifest, musicnet, nsynth

    if args.dataset_format == "nsynth":
        return nsynth.source(args.directory, license=args.license)
    if args.dataset_format == "musicnet":
        return musicnet.source(args.directory, license=args.license)
    if args.dataset_format == "folder":
        return folder.source(
            args.where,
            license=args.license,
            time_unit=args.time_unit,
            sample_rate=args.sample_rate,
            http=http,
        )
    base = args.base_url
    remote = bool(base) and base.startswith(("http://", "https://"))
    options = RowOptions(
        file=args.file,
        base_url=base if remote else None,
        base_dir=Path(base) if base and not remote else args.file.parent,
        time_unit=args.time_unit,
        sample_rate=args.sample_rate,
        license=args.license,
    )
    return manifest.source(args.file, options=options)


def _run(args: argparse.Namespace) -> int:
    from workers.datasets.run import Options, run_import

    console = Console(highlight=False, soft_wrap=True)
    if getattr(args, "time_unit", None) == "samples" and not args.sample_rate:
        console.print("[red]--time-unit samples needs --sample-rate[/]")
        return 2
    if args.batch_size > 1000:
        console.print("[red]--batch-size: the API takes at most 1,000 sounds per call[/]")
        return 2
    if args.user and not USER_NAME.match(args.user):
        console.print(
            f"[red]--user {escape(repr(args.user))}: 2-64 letters, digits, '_', '.' or '-'[/]"
        )
        return 2
    settings = get_settings()
    api = args.api or settings.graphql_url
    api = api if api.rstrip("/").endswith("/graphql") else api.rstrip("/") + "/graphql"
    try:
        with httpx.Client(timeout=30, trust_env=False, follow_redirects=True) as http:
            source = _source(args, http)
    except BadInput as exc:
        console.print(f"[red]{args.dataset_format}:[/] {escape(exc.describe())}", soft_wrap=True)
        return 1
    options = Options(
        api_url=api,
        user=args.user or _user_name(source.user),
        audio_base_url=args.audio_base_url,
        tags=args.tag,
        limit=args.limit,
        dry_run=args.dry_run,
        on_error=args.on_error,
        batch_size=args.batch_size,
    )
    try:
        return asyncio.run(run_import(source, options, console))[0]
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume (keys make it safe)")
        return 130


def _user_name(name: str) -> str:
    name = name[:64]
    return name if USER_NAME.match(name) else f"{name}-dataset"[:64]
