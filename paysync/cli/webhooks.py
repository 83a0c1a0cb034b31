"""``paysync webhooks``: run the receiver, list stored deliveries, subscribe by hand."""

from __future__ import annotations

import logging

import click

from paysync.cli.output import emit, emit_one, json_option
from paysync.cli.resolve import CONNECTOR


@click.group("webhooks")
def command() -> None:
    """Wise webhooks: the receiver and the stored deliveries."""


@command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8780, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=None, type=click.IntRange(1, 1000),
              help="Worker threads [PAYSYNC_WEBHOOKS_THREADS or 16].")
def serve(host: str, port: int, threads: int | None) -> None:
    """Serve POST /webhooks/wise/{connector_id} and GET /healthz on HOST:PORT."""
    from paysync.logs import configure
    from paysync.webhooks.server import create_server

    configure("webhooks")
    try:
        server = create_server(host=host, port=port, threads=threads)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    logging.getLogger("paysync.webhooks").info("webhook receiver on http://%s:%s/webhooks/wise/{connector_id}",
                                                  host, port)
    server.run()


@command.command("list")
@click.option("--connector", "connector_id", default=None, type=CONNECTOR, help="Only this connector's deliveries.")
@click.option("--limit", default=50, show_default=True, type=int)
@json_option
def list_(connector_id: int | None, limit: int, as_json: bool) -> None:
    """The latest stored deliveries and what translation made of them."""
    from storage import webhooks

    columns = ("id", "connector_id", "delivery_id", "event_type", "occurred_at", "status", "attempts", "error",
               "received_at", "translated_at")
    emit(webhooks.list_recent(connector_id, limit), columns, as_json, empty="no webhook deliveries stored yet")


@command.command("subscribe")
@click.argument("connector_id", type=CONNECTOR)
@json_option
def subscribe(connector_id: int, as_json: bool) -> None:
    """Create CONNECTOR_ID's subscriptions now (one per profile and event type; needs publicUrl)."""
    from paysync.connectors.wise.webhooks import subscribe as do_subscribe

    emit_one(do_subscribe(connector_id), as_json)


@command.command("unsubscribe")
@click.argument("connector_id", type=CONNECTOR)
@json_option
def unsubscribe(connector_id: int, as_json: bool) -> None:
    """Delete the subscriptions pointing at CONNECTOR_ID's callback URL."""
    from paysync.connectors.wise.webhooks import unsubscribe as do_unsubscribe

    emit_one(do_unsubscribe(connector_id), as_json)
