"""`cochlea worker …`: run the bots, list what failed, and queue a failure again."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from api.settings import get_settings

console = Console()


def register(commands: Any) -> None:
    """Add `worker` (with `failures` and `retry ID`) to the `cochlea` command parser."""
    worker = commands.add_parser("worker", help="run the bots against the configured services")
    worker.add_argument(
        "--bot", action="append", metavar="NAME", help="run only this bot (repeatable)"
    )
    worker.set_defaults(run=_run)
    actions = worker.add_subparsers(dest="worker_action", metavar="ACTION")
    failures = actions.add_parser("failures", help="list jobs that failed for good, with why")
    failures.set_defaults(run=_failures)
    retry = actions.add_parser("retry", help="queue a failed job again")
    retry.add_argument("failure_id", metavar="ID", help="as `cochlea worker failures` shows it")
    retry.set_defaults(run=_retry)


def _run(args: argparse.Namespace) -> int:
    from workers.main import run_worker
    from workers.sdk.registry import IdentityLost

    try:
        run_worker(settings=get_settings(), bots=args.bot or None)
    except (ValueError, IdentityLost) as error:
        console.print(f"[red]{error}[/]")
        return 2
    return 0


def _failures(args: argparse.Namespace) -> int:
    from workers.main import list_failures

    found = list_failures(settings=get_settings())
    if not found:
        console.print("no failed jobs")
        return 0
    rows = [(f.id, f.code, str(f.tries), f.failed_at, f.reason, f.url or "") for f in found]
    if not console.is_terminal:  # piped: one tab-separated line per failure, for scripts
        for row in rows:
            print("\t".join(row))
        return 0
    table = Table("id", "code", "tries", "failed at", "reason", "url")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return 0


def _retry(args: argparse.Namespace) -> int:
    from workers.main import retry_failure

    try:
        failure = retry_failure(settings=get_settings(), failure_id=args.failure_id)
    except KeyError:
        console.print(f"[red]no failed job {args.failure_id!r}[/] (see `cochlea worker failures`)")
        return 1
    console.print(f"queued {failure.id} again")
    return 0
