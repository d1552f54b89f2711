"""The `cochlea` command.

`cochlea up` is the quickstart (`make run`): embedded PostgreSQL and Redis unless their URLs are
set, migrations, the demo, then the API and the worker as child processes, until Ctrl-C or
SIGTERM stops everything in reverse order. `serve`, `worker` and `migrate` are the single pieces
that deployments (see compose.yaml) run against services of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import httpx
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from api.settings import Settings, get_settings

if TYPE_CHECKING:
    from api.demo import DemoResult

console = Console(highlight=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cochlea", description="Cochlea: annotate audio that lives anywhere on the internet."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run everything locally, with a demo (make run)")
    up.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--data-dir", type=Path, help="where data lives (default: .cochlea)")
    up.add_argument("--no-demo", action="store_true", help="do not seed the demo")
    up.add_argument("--no-worker", action="store_true", help="run the API without the worker")
    up.add_argument(
        "--no-aggregators",
        action="store_true",
        help="do not start the search/similarity aggregators",
    )
    up.set_defaults(run=_up)

    serve = commands.add_parser("serve", help="run the API against the configured services")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes; connections are dealt to them in turn (see api/serving.py)",
    )
    serve.set_defaults(run=_serve)

    from workers.aggregators.cli import register as register_aggregator_commands
    from workers.cli import register as register_worker_commands
    from workers.datasets.cli import register as register_dataset_imports
    from workers.interchange.cli import register as register_interchange_commands

    register_worker_commands(commands)
    register_aggregator_commands(commands)
    imports = commands.add_parser(
        "import", help="bring a collection or a label file in, through the API as a client"
    )
    formats = imports.add_subparsers(dest="import_format", required=True, metavar="FORMAT")
    register_dataset_imports(formats)  # nsynth, musicnet, folder, manifest
    register_interchange_commands(formats, commands)  # labels, labelstudio; and `export`

    migrate = commands.add_parser("migrate", help="apply migrations to COCHLEA_DATABASE_URL")
    migrate.set_defaults(run=_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.wsprotocol import websocket_options

    if args.workers < 1:
        console.print("[red]--workers must be at least 1[/]")
        return 2
    if args.workers > 1:
        from api import serving

        if not get_settings().database_url:
            console.print("[red]COCHLEA_DATABASE_URL is not set[/] (`cochlea up` starts one)")
            return 2
        options = {"app": "api.app:create_app", "factory": True, "lifespan": "on"}
        options |= {"host": args.host, "port": args.port, "log_level": args.log_level}
        options |= websocket_options(get_settings().ws_compression)
        try:
            return serving.run(options, workers=args.workers)
        except OSError as error:  # the port is taken, say
            console.print(f"[red]cannot listen on {args.host}:{args.port}[/]: {error}")
            return 1
    settings = get_settings()
    app = create_app(settings)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: make SIGTERM (how
    # `up`, compose and systemd stop us) end with status 0, like Ctrl-C already does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        **websocket_options(settings.ws_compression),
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from api.db.migrate import upgrade_sync

    url = get_settings().database_url
    if not url:
        console.print("[red]COCHLEA_DATABASE_URL is not set[/] (`cochlea up` starts a database)")
        return 2
    upgrade_sync(url)
    console.print("migrations applied")
    return 0


class _Stop:
    """SIGINT/SIGTERM ask for a clean stop. A second signal while starting aborts the step at
    hand; once stopping, signals are ignored so that every service gets stopped."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.stopping = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested.is_set() and not self.stopping:
            raise KeyboardInterrupt
        self.requested.set()


def _up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir or Path(os.environ.get("COCHLEA_DATA_DIR", ".cochlea"))
    data_dir = data_dir.resolve()
    local = _url_host(args.host)
    if not _port_free(args.host, args.port):
        console.print(f"[red]port {args.port} is taken on {args.host}[/]: try --port")
        return 1
    # Children (API, worker) inherit this environment, so they all see the same services.
    os.environ["COCHLEA_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("COCHLEA_PUBLIC_URL", f"http://{local}:{args.port}")
    # The demo audio is served by this API on loopback, which the fetchers refuse by default.
    os.environ.setdefault("COCHLEA_FETCH_ALLOW_NETWORKS", "127.0.0.0/8")
    # The demo is seeded before the bots first start: let them process it too.
    os.environ.setdefault("COCHLEA_BOTS_BACKFILL", "true")
    stop = _Stop()
    code = 0
    with ExitStack() as stack:
        try:
            code = _start_and_wait(args, data_dir, stack, stop)
        except KeyboardInterrupt:
            code = 130
        except Exception:
            console.print_exception(max_frames=4)
            code = 1
        finally:
            stop.stopping = True
            console.print("stopping…")
    console.print("[green]stopped[/]")
    return code


def _start_and_wait(args: argparse.Namespace, data_dir: Path, stack: ExitStack, stop: _Stop) -> int:
    from api import demo, embedded
    from api.db.migrate import upgrade_sync

    console.print(f"[bold]Cochlea[/] · data in {escape(_shown(data_dir))}")
    for name, var, start in (
        ("PostgreSQL", "COCHLEA_DATABASE_URL", lambda: embedded.postgres(data_dir / "postgres")),
        ("Redis", "COCHLEA_REDIS_URL", lambda: embedded.redis(data_dir / "redis")),
    ):
        if os.environ.get(var):
            console.print(f"  {name:<11} from {var}")
            continue
        with console.status(f"starting {name}…"):
            os.environ[var] = stack.enter_context(start())
        stack.callback(console.print, f"  stopping {name}…")
        console.print(f"  {name:<11} embedded, started")
        if stop.requested.is_set():
            return 0
    with console.status("migrating…"):
        upgrade_sync(os.environ["COCHLEA_DATABASE_URL"])
    console.print("  migrations  applied")
    settings = Settings()
    seeded = None
    if not args.no_demo:
        with console.status("seeding the demo…"):
            seeded = asyncio.run(demo.seed(settings))
        what = f"{seeded.sounds} sounds, {seeded.annotations} annotations"
        fresh = f"created {seeded.created} resources" if seeded.created else "already there"
        console.print(f"  demo        {what} ({fresh})")
    if stop.requested.is_set():
        return 0

    children: dict[str, subprocess.Popen[bytes]] = {}
    serve = ["serve", "--host", args.host, "--port", str(args.port), "--log-level", "warning"]
    children["API"] = _spawn(stack, "API", serve)
    health = f"http://{_url_host(args.host)}:{args.port}/healthz"
    if not _wait_healthy(health, children["API"], stop):
        return 0 if stop.requested.is_set() else 1
    if not args.no_demo:
        from workers.datasets.demo import seed_line

        with console.status("importing the demo collection…"):
            line = seed_line(data_dir=data_dir, api_url=health.removesuffix("healthz") + "graphql")
        console.print(f"  datasets    {line}")
    if args.no_worker:
        console.print("  worker      not started (--no-worker)")
    else:
        children["worker"] = _spawn(stack, "worker", ["worker"])
    aggregators = _start_aggregators(args, settings, stack)
    _banner(settings, seeded, {name: url for name, (_, url) in aggregators.items()})

    while not stop.requested.wait(0.25):
        for name, (child, _) in list(aggregators.items()):
            if child.poll() is not None:  # the API stays useful without it: say so, go on
                console.print(f"[red]the {name} aggregator exited with code {child.returncode}[/]")
                del aggregators[name]
        for name, child in children.items():
            if child.poll() is not None:
                console.print(f"[red]the {name} exited with code {child.returncode}[/]")
                if name == "worker":
                    console.print("(`cochlea up --no-worker` runs the API without it)")
                return 1
    return 0


def _spawn(stack: ExitStack, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start `cochlea <argv>` in its own session (so a terminal's Ctrl-C reaches only us and we
    stop the children in order), and register its termination."""
    child = subprocess.Popen([sys.executable, "-m", "api.cli", *argv], start_new_session=True)
    stack.callback(_terminate, child, name)
    return child


def _start_aggregators(
    args: argparse.Namespace, settings: Settings, stack: ExitStack
) -> dict[str, tuple[subprocess.Popen[bytes], str]]:
    """Start `cochlea aggregator search` and `... similarity` on their configured ports."""
    from workers.aggregators.cli import AGGREGATORS, default_port
    from workers.aggregators.runtime import endpoint_url

    started: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    if args.no_aggregators:
        console.print("  aggregators not started (--no-aggregators)")
        return started
    for name in AGGREGATORS:
        port = default_port(settings, name)
        if not _port_free(args.host, port):
            console.print(
                f"  [yellow]{name}: port {port} is taken[/] (COCHLEA_{name.upper()}_PORT)"
            )
            continue
        argv = ["aggregator", name, "--host", args.host, "--port", str(port)]
        started[name] = (_spawn(stack, f"{name} aggregator", argv), endpoint_url(args.host, port))
    return started


def _terminate(child: subprocess.Popen[bytes], name: str, timeout: float = 15) -> None:
    """SIGTERM the child's process group, wait, then SIGKILL whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, sig)
        try:
            child.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            console.print(f"  [yellow]{name} did not stop in {timeout:g} s; killing it[/]")
    console.print(f"  {name} stopped")


def _wait_healthy(url: str, child: subprocess.Popen[bytes], stop: _Stop) -> bool:
    deadline = time.monotonic() + 60
    with console.status("starting the API…"):
        while not stop.requested.is_set() and child.poll() is None:
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                console.print(f"[red]the API did not answer at {url} within 60 s[/]")
                return False
            stop.requested.wait(0.1)
    if child.poll() is not None:
        console.print(f"[red]the API exited with code {child.returncode}[/]")
    return False


def _banner(
    settings: Settings, seeded: DemoResult | None, aggregators: dict[str, str] | None = None
) -> None:
    from api.demo import DEMO_HUMAN, DEMO_PASSWORD

    grid = Table.grid(padding=(0, 2))
    url = escape(settings.public_url.rstrip("/") + "/graphql")
    grid.add_row("Explorer", f"[bold cyan]{escape(settings.public_url.rstrip('/') + '/')}[/]")
    grid.add_row("GraphiQL", f"[bold cyan]{url}[/]")
    for name, endpoint in (aggregators or {}).items():
        grid.add_row(name.capitalize(), f"[cyan]{escape(endpoint)}[/]")
    if seeded is not None:
        grid.add_row("Demo login", f"{DEMO_HUMAN} / {DEMO_PASSWORD} (HUMAN)")
        if not seeded.audio_base.startswith(settings.public_url.rstrip("/") + "/"):
            grid.add_row("Note", f"[yellow]the demo sounds point at {escape(seeded.audio_base)}[/]")
    grid.add_row("Stop", "Ctrl-C")
    console.print(Panel(grid, title="Cochlea is running", expand=False))
    if seeded is not None and seeded.token:
        # Unwrapped, so that the token can be copied whole from any terminal width.
        console.print(f"API token (a fresh key of {DEMO_HUMAN}): {seeded.token}", soft_wrap=True)
        header = f'{{"Authorization": "Bearer {seeded.token}"}}'
        console.print(f"GraphiQL > Headers: {header}", soft_wrap=True)


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _url_host(host: str) -> str:
    """How to reach a server listening on `host` from this machine, as a URL host."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
