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
LONG_RUNNING = ["postgres", "redis", "minio", "api", "worker"]
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
