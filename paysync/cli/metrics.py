"""``paysync metrics serve`` (Prometheus ``/metrics``) and ``paysync health`` (one check per process kind)."""

from __future__ import annotations

import logging

import click


@click.group("metrics")
def metrics_group() -> None:
    """Prometheus metrics (docs/operations.md)."""


@metrics_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9464, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve /metrics (read from Redis and PostgreSQL on each scrape) and /healthz on HOST:PORT."""
    from paysync.logs import configure
    from paysync.metrics.server import create_server

    configure("metrics")
    try:
        server = create_server(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    logging.getLogger("paysync.metrics").info("metrics on http://%s:%s/metrics", host, port)
    server.run()


@click.group("health")
def health_group() -> None:
    """Is this process healthy? One line, exit 0 when it is and 1 when it is not (for healthchecks)."""


def _report(result: tuple[bool, str]) -> None:
    ok, message = result
    if not ok:
        raise click.ClickException(message)
    click.echo(message)


@health_group.command("worker")
@click.option("--name", default=None, help="The worker's node name (user@host); default every heartbeat found.")
@click.option("--max-age", default=None, type=float, help="Seconds [3 x PAYSYNC_HEALTH_INTERVAL].")
def worker(name: str | None, max_age: float | None) -> None:
    """A worker's heartbeat file is fresh (its event loop runs, connected to the broker)."""
    from paysync import health

    _report(health.worker(name, max_age))


@health_group.command("beat")
def beat() -> None:
    """A beat holds the schedule lock."""
    from paysync import health

    _report(health.beat())


@health_group.command("http")
@click.argument("url")
def http(url: str) -> None:
    """URL answers 200 (the webhook receiver's or the metrics server's /healthz)."""
    from paysync import health

    _report(health.http(url))


commands = [metrics_group, health_group]
