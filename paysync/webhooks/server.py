"""Serve the receiver with waitress (threaded, pure Python; what the sandbox uses too).

Slow uploads: waitress buffers a request whole before an app thread sees it, so a slow
sender holds a connection, never a thread. A connection idle for ``channel_timeout``
seconds is closed; one whose request is still arriving ``request_timeout`` seconds after it
began is closed too (:func:`limit_uploads`: a sender that trickles bytes is not idle); at
most ``connections`` are open; the body limit is enforced here and again by the app.
"""

from __future__ import annotations

from typing import Any

from paysync.webhooks.settings import receiver_settings


def limit_uploads(server: Any, request_timeout: float) -> None:
    """Close the connections of ``server`` (waitress) whose request has been arriving for longer
    than ``request_timeout`` seconds, at each of its maintenance rounds."""
    started: dict[int, tuple[Any, float]] = {}
    idle_only = server.maintenance

    def maintenance(now: float) -> None:
        idle_only(now)
        seen: dict[int, tuple[Any, float]] = {}
        for fd, channel in list(server.active_channels.items()):
            partial = getattr(channel, "request", None)
            if partial is None or channel.requests:
                continue
            before = started.get(fd)
            since = before[1] if before is not None and before[0] is partial else now
            seen[fd] = (partial, since)
            if now - since >= request_timeout:
                channel.will_close = True
        started.clear()
        started.update(seen)

    server.maintenance = maintenance


def create_server(host: str = "127.0.0.1", port: int = 8780, threads: int | None = None) -> Any:
    """The receiver's server, bound to HOST:PORT (an ``OSError`` when the address cannot be taken)."""
    from waitress.server import create_server as waitress_server

    from paysync.webhooks.app import create_app

    cfg = receiver_settings()
    proxy: dict[str, Any] = ({"trusted_proxy": cfg.trusted_proxy, "trusted_proxy_headers": {"x-forwarded-for"}}
                             if cfg.trusted_proxy else {})
    server = waitress_server(create_app(cfg), host=host, port=port, threads=threads or cfg.threads,
                             ident="paysync-webhooks", connection_limit=cfg.connections,
                             channel_timeout=cfg.channel_timeout,
                             cleanup_interval=max(1, int(min(cfg.channel_timeout, cfg.request_timeout) // 3)),
                             max_request_body_size=cfg.max_body + 1, clear_untrusted_proxy_headers=True, **proxy)
    limit_uploads(server, cfg.request_timeout)
    return server


def serve(host: str = "127.0.0.1", port: int = 8780, threads: int | None = None) -> None:
    create_server(host, port, threads).run()
