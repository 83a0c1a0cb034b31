"""The broker stack is pinned where paysync is installed, and every process is restarted when it dies."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, pinned = line.split("==")
            out[name] = pinned
    return out


def test_the_installed_broker_stack_is_the_pinned_one():
    assert {"celery", "kombu", "redis", "celery-redbeat"} <= set(pins())
    assert {name: version(name) for name in pins()} == pins()


def test_make_setup_and_the_image_install_with_the_constraints():
    assert "pip install -q -c constraints.txt" in (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "constraints.txt" in dockerfile and "pip install -c constraints.txt" in dockerfile


def test_compose_restarts_every_long_running_paysync_process():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        if name == "migrate":
            continue
        assert service.get("restart") in ("unless-stopped", "always"), name
