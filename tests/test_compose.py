"""compose.yaml and the Dockerfile agree with the code: there is no Docker engine here, so these
checks read the files, and the commands they run are parsed by the real `cochlea` parser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli import build_parser
from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
LONG_RUNNING = ["postgres", "redis", "minio", "api", "proxy", "worker"]
FIELDS = {f"COCHLEA_{name.upper()}" for name in Settings.model_fields}
REQUIRED = {
    "COCHLEA_DATABASE_URL",
    "COCHLEA_REDIS_URL",
    "COCHLEA_S3_ENDPOINT",
    "COCHLEA_S3_ACCESS_KEY",
    "COCHLEA_S3_SECRET_KEY",
    "COCHLEA_PUBLIC_URL",
}


def _env(service: str) -> dict[str, str]:
    environment = SERVICES[service].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {k: str(v) for k, v in environment.items()}


def test_every_service_is_there() -> None:
    assert set(LONG_RUNNING) | {"minio-init"} <= set(SERVICES)


@pytest.mark.parametrize("service", [*LONG_RUNNING, "minio-init"])
def test_images_are_pinned(service: str) -> None:
    image = SERVICES[service]["image"]
    name, _, tag = image.rpartition(":")
    assert name and tag and tag != "latest" and "/" not in tag, image
    if "build" not in SERVICES[service]:
        assert re.search(r"\d", tag), f"{service} pulls {image}: pin a version"


@pytest.mark.parametrize("service", ["api", "worker"])
def test_settings_are_real_and_complete(service: str) -> None:
    env = _env(service)
    cochlea = {k for k in env if k.startswith("COCHLEA_")}
    assert cochlea - FIELDS == set(), "not fields of api.settings.Settings"
    assert REQUIRED - cochlea == set()
    assert all(env[k] for k in REQUIRED)
    # Each value parses as that setting, with nothing unexpected in the way.
    values: dict[str, Any] = {k.removeprefix("COCHLEA_").lower(): v for k, v in env.items()}
    Settings(**{k: v for k, v in values.items() if k in Settings.model_fields})
    assert env["COCHLEA_PUBLIC_READ"] == "false"


def test_no_other_service_uses_unknown_settings() -> None:
    for service in SERVICES:
        unknown = {k for k in _env(service) if k.startswith("COCHLEA_")} - FIELDS
        assert unknown == set(), service


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_health_checks(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["test"] and check["test"][0] in ("CMD", "CMD-SHELL")


def test_dependencies_wait_for_health() -> None:
    expected = {
        "minio-init": {"minio": "service_healthy"},
        "api": {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "minio": "service_healthy",
            "minio-init": "service_completed_successfully",
        },
        "worker": {"api": "service_healthy", "redis": "service_healthy"},
        "proxy": {"api": "service_healthy"},
    }
    for service, wanted in expected.items():
        depends = SERVICES[service]["depends_on"]
        for other, condition in wanted.items():
            assert depends[other]["condition"] == condition, (service, other)
    for service, spec in SERVICES.items():
        for other, how in spec.get("depends_on", {}).items():
            assert other in SERVICES and "condition" in how, (service, other)


def test_api_migrates_then_serves_and_worker_works() -> None:
    api = SERVICES["api"]["command"]
    assert api[:2] == ["sh", "-c"]
    migrate, serve = api[2].split(" && ")
    for line in (migrate, serve.removeprefix("exec "), " ".join(SERVICES["worker"]["command"])):
        program, *argv = line.split()
        assert program == "cochlea"
        build_parser().parse_args(argv)  # a real subcommand with real options
    assert migrate == "cochlea migrate"
    assert "--host 0.0.0.0 --port 8000" in serve
    assert SERVICES["api"]["build"] == SERVICES["worker"]["build"] == "."


def test_dockerfile_installs_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    steps = [line.strip() for line in dockerfile.splitlines() if line.strip()]
    assert "FROM python:3.11-slim" in steps
    lock = next(i for i, s in enumerate(steps) if "pip install -r requirements.lock" in s)
    project = next(i for i, s in enumerate(steps) if "pip install --no-deps ." in s)
    assert lock < project
    assert (ROOT / "requirements.lock").is_file()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".cochlea" in ignored
    assert not {"api", "workers", "requirements.lock", "pyproject.toml"} & set(ignored)


def test_two_api_and_two_worker_replicas_behind_the_proxy() -> None:
    for service in ("api", "worker"):
        assert SERVICES[service]["deploy"]["replicas"] == 2, service
    # Replicas cannot share a host port: only the proxy publishes 8000, where clients go.
    assert "ports" not in SERVICES["api"]
    assert SERVICES["proxy"]["ports"] == ["8000:8000"]
    assert _env("worker")["COCHLEA_API_URL"] == "http://proxy:8000/graphql"
    assert _env("api")["COCHLEA_PUBLIC_URL"] == "http://localhost:8000"
    assert _env("api")["FORWARDED_ALLOW_IPS"] == "*"  # the client address comes from the proxy
    source, target, mode = SERVICES["proxy"]["volumes"][0].split(":")
    assert (ROOT / source).is_file() and target == "/etc/nginx/nginx.conf" and mode == "ro"


def _nginx_blocks(text: str) -> dict[str, str]:
    """`location <path> { ... }` bodies of the proxy config, by path (no nested blocks)."""
    return dict(re.findall(r"location\s+(\S+)\s*\{([^}]*)\}", text))


def test_proxy_config_spreads_http_and_websockets_over_the_replicas() -> None:
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", text)
    assert upstream is not None
    name, body = upstream.groups()
    assert re.search(r"server\s+api:8000\s+resolve;", body)  # every replica, re-resolved
    assert re.search(r"listen\s+8000;", text)
    assert re.search(r"X-Forwarded-For\s+\$remote_addr;", text)  # not spoofable
    max_body = int(re.search(r"client_max_body_size\s+(\d+)m;", text).group(1))  # type: ignore[union-attr]
    assert max_body * 1024 * 1024 == Settings().max_body_bytes
    locations = _nginx_blocks(text)
    graphql = locations["/graphql"]
    assert f"proxy_pass http://{name};" in graphql
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", graphql)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade;", graphql)
    assert re.search(r"proxy_http_version\s+1\.1;", text)  # websockets need HTTP/1.1
    assert f"proxy_pass http://{name};" in locations["/"]
