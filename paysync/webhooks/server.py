"""Serve the receiver with waitress (threaded, pure Python; what the sandbox uses too)."""

from __future__ import annotations

from typing import Any

from paysync.webhooks.settings import receiver_settings


def create_server(host: str = "127.0.0.1", port: int = 8780, threads: int | None = None) -> Any:
    """The receiver's server, bound to HOST:PORT (an ``OSError`` when the address cannot be taken)."""
    from waitress.server import create_server as waitress_server

    from paysync.webhooks.app import create_app

    cfg = receiver_settings()
    # channel_timeout bounds a slow sender; the body limit is enforced again by the app.
    return waitress_server(create_app(cfg), host=host, port=port, threads=threads or cfg.threads,
                           ident="paysync-webhooks", connection_limit=1000, channel_timeout=30,
                           max_request_body_size=cfg.max_body + 1, clear_untrusted_proxy_headers=True)


def serve(host: str = "127.0.0.1", port: int = 8780, threads: int | None = None) -> None:
    create_server(host, port, threads).run()
