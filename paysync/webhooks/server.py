"""Serve the receiver with waitress (threaded, pure Python; what the sandbox uses too)."""

from __future__ import annotations

from paysync.webhooks.settings import receiver_settings


def serve(host: str = "127.0.0.1", port: int = 8780, threads: int | None = None) -> None:
    from waitress import serve as waitress_serve

    from paysync.webhooks.app import create_app

    cfg = receiver_settings()
    # channel_timeout bounds a slow sender; the body limit is enforced again by the app.
    waitress_serve(create_app(cfg), host=host, port=port, threads=threads or cfg.threads,
                   ident="paysync-webhooks", connection_limit=1000, channel_timeout=30,
                   max_request_body_size=cfg.max_body + 1, clear_untrusted_proxy_headers=True)
