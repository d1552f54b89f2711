"""`cochlea aggregator search|similarity`: run one aggregator with its own GraphQL endpoint.

    cochlea aggregator search [--host H] [--port P]    serve it (port: COCHLEA_SEARCH_PORT)
    cochlea aggregator search failures [--first N]     list the inputs it skipped
    cochlea aggregator similarity refit                 refit its frozen statistics and map

Each aggregator package provides `service.run(settings, *, host, port) -> int`; it is imported
only when that aggregator runs, so `cochlea` starts fast and one aggregator's libraries are
not needed to run the other.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.settings import Settings, get_settings

__all__ = ["AGGREGATORS", "register"]

AGGREGATORS = {
    "search": "fuzzy text search over sounds, annotations, tags and user names",
    "similarity": "sounds that sound alike, and a map of every segment on a sphere",
}
console = Console(highlight=False)


def register(commands: Any) -> None:
    """Add `aggregator` to the `cochlea` command parser."""
    parser = commands.add_parser(
        "aggregator", help="run an aggregator (search, similarity) with its own GraphQL API"
    )
    names = parser.add_subparsers(dest="aggregator", required=True, metavar="NAME")
    for name, about in AGGREGATORS.items():
        one = names.add_parser(name, help=about, description=f"The {name} aggregator: {about}.")
        one.add_argument("--host", default="127.0.0.1", help="interface to listen on")
        one.add_argument(
            "--port", type=int, help=f"default: COCHLEA_{name.upper()}_PORT (see README)"
        )
        one.set_defaults(run=_run, aggregator=name)
        actions = one.add_subparsers(dest="action", metavar="ACTION")
        failures = actions.add_parser("failures", help="list the inputs it skipped, and why")
        failures.add_argument("--first", type=int, default=100, help="how many to show")
        failures.set_defaults(run=_failures)
        if name == "similarity":
            refit = actions.add_parser(
                "refit", help="fit its statistics and map again on everything indexed (stopped)"
            )
            refit.set_defaults(run=_refit)


def default_port(settings: Settings, name: str) -> int:
    port: int = getattr(settings, f"{name}_port")
    return port


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    service = importlib.import_module(f"workers.aggregators.{args.aggregator}.service")
    port = args.port if args.port is not None else default_port(settings, args.aggregator)
    code: int = service.run(settings, host=args.host, port=port)
    return code


def _refit(args: argparse.Namespace) -> int:
    from workers.aggregators.similarity.service import AlreadyRunning, refit

    try:
        console.print(refit(get_settings()), soft_wrap=True)
    except (AlreadyRunning, ValueError) as error:
        console.print(f"[red]similarity refit: {escape(str(error))}[/]", soft_wrap=True)
        return 1
    return 0


def _failures(args: argparse.Namespace) -> int:
    from workers.aggregators.runtime import state_dir
    from workers.aggregators.skipped import SkipLog

    path = state_dir(get_settings(), args.aggregator) / "skipped.sqlite"
    if not path.is_file():
        console.print(f"{args.aggregator} has not run here yet ({escape(str(path))} is missing)")
        return 0
    log = SkipLog(path)
    try:
        items, more = log.page(first=max(args.first, 0))
        total = log.count()
    finally:
        log.close()
    if not items:
        console.print(f"{args.aggregator} skipped nothing")
        return 0
    table = Table("when", "stream", "item", "code", "why")
    for item in items:
        table.add_row(item.at, item.stream, item.item, item.code, escape(item.message))
    console.print(table)
    if more:
        console.print(f"… {total - len(items)} more (--first)")
    return 0
